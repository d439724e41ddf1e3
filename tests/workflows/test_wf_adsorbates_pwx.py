"""Acceptance (issue 11): a reduced Ti/TiHx on MgO/Ag(100) campaign with the real pw.x, end to end.

``tipsurf demo adsorbates --model ti-mgo-ag100-tiny`` as a user runs it (a subprocess): FireWorks
runs the bare slab (1 ML MgO on 1 Ag(100) layer, 1x1 cell), Ti and TiH2 on the O-top site
(relaxed, slab fixed) and H2 (6 A box) at 20/240 Ry and k 2x2, with the pp.x density cubes and
projwfc.x Löwdin post-steps; then the table, ΔG and the study comparison.  Checked: every point
converged and every relaxation finished, the Ti Löwdin and Bader moments are there and within
0.3 muB of each other, ΔG is the runs' own energies (recomputed here from the rows), and the CSV,
JSON and phase-diagram PNG are written.  tipsurf's own ld1.x pseudopotentials are used (what the
demo uses on a machine without a library), also when ../shared is present.

Cost, measured 2026-12-02 (benchmarks/README.md, not asserted here): 418 s of CPU in the
programs, 600 s wall with one worker beside another pw.x; the relaxations took 10 (H2), 20
(slab), 61 (Ti) and 79 (TiH2) SCF iterations.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wf_helpers import generated_pseudo_cache

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.pwx, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_campaign(pseudo_provider, tmp_path_factory: pytest.TempPathFactory) -> dict:
    for program in ("pw.x", "pp.x", "projwfc.x", "ld1.x"):
        if shutil.which(program) is None:
            pytest.skip(f"needs {program} on PATH (install Debian quantum-espresso: bash scripts/install.sh)")
    root = tmp_path_factory.mktemp("ads")
    cache = root / "cache"
    generated_pseudo_cache(pseudo_provider, cache)
    env = {k: v for k, v in os.environ.items() if k != "TIPSURF_PSEUDO_DIR"}
    env.update({"TIPSURF_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")})
    proc = subprocess.run([sys.executable, "-m", "tipsurf.cli", "demo", "adsorbates", "--model", "ti-mgo-ag100-tiny",
                           "-o", str(root / "demo"), "--workers", "1"], capture_output=True, text=True, env=env,
                          cwd=root, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((root / "demo" / "results" / "adsorbates.json").read_text())
    return {"root": root, "stdout": proc.stdout, "report": report}


def test_every_point_converged_and_relaxed(tiny_campaign: dict) -> None:
    rows = tiny_campaign["report"]["rows"]
    assert sorted(r["label"] for r in rows) == ["H2", "Ti@o-top", "TiH2@o-top", "slab"]
    assert all(r["converged"] and r["relaxed"] and r["energy_eV"] is not None for r in rows), rows


def test_ti_lowdin_and_bader_moments_agree(tiny_campaign: dict) -> None:
    for row in tiny_campaign["report"]["rows"]:
        if row["species"] in ("Ti", "TiH2"):
            assert row["ti_lowdin_moment_muB"] is not None and row["ti_bader_moment_muB"] is not None, row
            assert abs(row["ti_lowdin_moment_muB"] - row["ti_bader_moment_muB"]) <= 0.3, row
            assert row["ti_bader_net_charge_e"] is not None and row["ti_lowdin_net_charge_e"] is not None


def test_delta_g_from_the_runs_own_energies(tiny_campaign: dict) -> None:
    report = tiny_campaign["report"]
    energy = {r["label"]: r["energy_eV"] for r in report["rows"]}
    (group,) = report["gibbs"]
    expected = energy["TiH2@o-top"] - energy["Ti@o-top"] - energy["H2"]
    assert group["offsets_eV"]["TiH2"] == pytest.approx(expected, abs=1e-9)
    assert group["offsets_eV"]["Ti"] == 0.0
    assert {e["species"] for e in group["stability_ranges"]} <= {"Ti", "TiH2"}


def test_outputs_and_printed_comparison(tiny_campaign: dict) -> None:
    results = tiny_campaign["root"] / "demo" / "results"
    assert (results / "adsorbates.csv").read_text().splitlines()[0].startswith("label,role,species,site")
    pngs = list(results.glob("phase_*.png"))
    assert len(pngs) == 1 and pngs[0].stat().st_size > 10_000
    out = tiny_campaign["stdout"]
    assert "against the reference study" in out and "TiH2 favoured at dmu_H ~ 0" in out and "limit:" in out

