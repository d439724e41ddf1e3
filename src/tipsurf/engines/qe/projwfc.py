"""Löwdin charges and moments with projwfc.x after a pw.x run."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tipsurf.atomic import write_text_atomic
from tipsurf.config import Config, load_config
from tipsurf.engines.qe.inputs import OUTDIR, PREFIX
from tipsurf.engines.qe.job import check_command
from tipsurf.engines.qe.outputs import parse_projwfc_output
from tipsurf.errors import CalculationFailedError

PROJWFC_INPUT = "projwfc.in"
PROJWFC_OUTPUT = "projwfc.out"


def run_projwfc(directory: str | Path, *, config: Config | None = None, timeout_s: float | None = None) -> dict[str, Any]:
    """Run projwfc.x on the pw.x data in ``directory`` and return its parsed Löwdin analysis.

    Writes ``projwfc.in``/``projwfc.out`` (and the PDOS files under ``pdos/``) in ``directory``.

    Raises
    ------
    ProgramNotFoundError
        projwfc.x is not installed.
    CalculationFailedError
        projwfc.x exits with an error.
    """
    config = config or load_config()
    command = config.command("projwfc")
    check_command(command, "projwfc.x")
    folder = Path(directory)
    (folder / "pdos").mkdir(exist_ok=True)
    write_text_atomic(
        folder / PROJWFC_INPUT,
        f"&PROJWFC\n  prefix = '{PREFIX}'\n  outdir = './{OUTDIR}'\n  filpdos = 'pdos/{PREFIX}'\n/\n",
    )
    with open(folder / PROJWFC_OUTPUT, "w") as out:
        proc = subprocess.run(
            [*command, "-in", PROJWFC_INPUT], cwd=folder, stdout=out, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL, timeout=timeout_s, check=False,
        )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [""])[-1]
        raise CalculationFailedError(f"projwfc.x failed in {folder} (exit {proc.returncode}) {tail}".strip())
    return parse_projwfc_output(folder / PROJWFC_OUTPUT)
