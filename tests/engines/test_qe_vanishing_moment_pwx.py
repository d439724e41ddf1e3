"""Real pw.x: a Ti moment quenched by its H converges sooner from a tenth of its magnetisation.

TiH2 at the O-top site of the adsorbate demo's 1x1 slab (2 MgO on 2 Ag(100), 15 atoms, the
model's 20/240 Ry, tipsurf's own ld1.x pseudopotentials), SCF to 1e-8 Ry from atoms, twice at
once: (A) stopped after 12 iterations, while the moment is falling, so that the adsorbate
preset's conditional recovery step restarts it from the saved density with its magnetisation
scaled by 0.1; (B) left to converge on its own.  Asserted from these two runs: the step was
taken and scaled the saved moment by 0.1, both converge to the same energy (1 meV) and the
same vanishing moment, and (A) needs fewer iterations in all than (B).
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tipsurf.engines.presets import merge_preset
from tipsurf.engines.qe import QEEngine
from tipsurf.engines.qe.outputs import cycle_absolute_magnetizations, scf_errors_Ry

pytestmark = [pytest.mark.pwx]


def _iterations(folder: Path) -> int:
    return sum(len(scf_errors_Ry(p.read_text(errors="replace"))) for p in folder.glob("pw.out*"))


@pytest.fixture(scope="module")
def two_runs(pseudo_provider, tmp_path_factory: pytest.TempPathFactory) -> dict:
    for program in ("pw.x", "ld1.x"):
        if shutil.which(program) is None:
            pytest.skip(f"needs {program} on PATH (install Debian quantum-espresso: bash scripts/install.sh)")
    from tipsurf.cli.demo_adsorbates import load_adsorbate_model, model_preset
    from tipsurf.structures.specs import AdsorbateSpec, MgOAg100Spec

    root = tmp_path_factory.mktemp("vanishing")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(pseudo_provider), "shared", property(lambda self: False))
        pseudo_provider.usable(root / "cache")
    model = load_adsorbate_model()
    preset = model_preset(model)
    vanishing_step = next(s for s in preset["scf_recovery"] if s.get("only_if") == "moment_vanishing")
    atoms = AdsorbateSpec(species="TiH2", site="o-top", slab=MgOAg100Spec(**model["slab"])).build()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIPSURF_CACHE_DIR", str(root / "cache"))
        mp.delenv("TIPSURF_PSEUDO_DIR", raising=False)
        engine = QEEngine()
        common = {"conv_thr_Ry": 1e-8}
        engine.write_inputs(atoms, merge_preset(preset, {**common, "electron_maxstep": 12, "scf_recovery": [vanishing_step]}), root / "A")
        engine.write_inputs(atoms, merge_preset(preset, {**common, "electron_maxstep": 80, "scf_recovery": []}), root / "B")
        with ThreadPoolExecutor(2) as pool:
            a, b = pool.map(engine.run, [root / "A", root / "B"])
    return {"A": a, "B": b, "root": root}


def test_the_dying_moment_was_restarted_from_a_tenth_of_itself(two_runs: dict) -> None:
    scaled = [act for c in two_runs["A"].corrections for act in (c.get("actions") or []) if "scale_magnetization" in act]
    assert len(scaled) == 1, two_runs["A"].corrections
    assert scaled[0]["magnetization_after_muB"] == pytest.approx(0.1 * scaled[0]["magnetization_before_muB"], abs=1e-9)
    first_attempt = next((two_runs["root"] / "A").glob("pw.out.*")).read_text(errors="replace")
    moments = cycle_absolute_magnetizations(first_attempt)
    assert len(moments) == 12 and moments[-1] < 0.5 * max(moments)


def test_both_reach_the_same_state_and_the_restart_is_sooner(two_runs: dict) -> None:
    a, b = two_runs["A"], two_runs["B"]
    assert a.converged and b.converged
    assert abs(a.energy_eV - b.energy_eV) < 1e-3
    for run in ("A", "B"):
        final = cycle_absolute_magnetizations((two_runs["root"] / run / "pw.out").read_text(errors="replace"))[-1]
        assert final < 0.05  # the moment is quenched in both
    assert _iterations(two_runs["root"] / "A") < _iterations(two_runs["root"] / "B")
