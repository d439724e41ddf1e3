"""What every engine (one per code) provides to the workflows, and where each engine is.

An engine turns an Atoms object (built by :mod:`tipsurf.structures`, carrying initial magnetic
moments, constraints and ``atoms.info`` metadata) plus a preset into input files, runs the
code under custodian, and parses the outputs into a :class:`~tipsurf.engines.record.CalcResult`.

The engines are found through :data:`ENGINES` (code name → ``"module:Class"``), imported only
when :func:`get_engine` asks for one: this module imports no engine and no engine imports this
module (they take :class:`~tipsurf.engines.record.PreparedCalc` from the records), so the
registry adds no import cycle.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

from ase import Atoms

from tipsurf.config import Config
from tipsurf.engines.record import CalcResult, PreparedCalc
from tipsurf.errors import InputError

#: Engine of each code, as ``"module:Class"`` (imported on demand by :func:`get_engine`).
ENGINES: dict[str, str] = {
    "qe": "tipsurf.engines.qe.engine:QEEngine",
    "vasp": "tipsurf.engines.vasp:VaspEngine",
}


class Engine(Protocol):
    """Interface of ``tipsurf.engines.qe.QEEngine`` and ``tipsurf.engines.vasp.VaspEngine``."""

    code: str

    def write_inputs(
        self,
        atoms: Atoms,
        preset: dict[str, Any],
        directory: str | Path,
        *,
        config: Config | None = None,
        restart_from: str | Path | None = None,
        walltime_s: float | None = None,
        calculation: str = "scf",
    ) -> PreparedCalc:
        """Write all input files into ``directory`` and return what was prepared."""
        ...

    def run(self, directory: str | Path, *, config: Config | None = None, max_errors: int = 5) -> CalcResult:
        """Run the code in ``directory`` under custodian (with error handlers) and parse it."""
        ...

    def parse(self, directory: str | Path) -> CalcResult:
        """Parse the outputs in ``directory`` into a result record (raises OutputError)."""
        ...


def get_engine(code: str) -> Engine:
    """Return the engine for ``code``, importing its module on first use.

    Parameters
    ----------
    code
        A key of :data:`ENGINES` (``"qe"`` or ``"vasp"``).

    Returns
    -------
    Engine
        A new instance of the code's engine class.

    Raises
    ------
    InputError
        Unknown code.
    """
    target = ENGINES.get(code) if isinstance(code, str) else None
    if target is None:
        choices = " or ".join(f"'{name}'" for name in ENGINES)
        raise InputError(f"unknown code '{code}'; choose {choices}")
    module_name, _, class_name = target.partition(":")
    engine_class = getattr(importlib.import_module(module_name), class_name)
    return engine_class()
