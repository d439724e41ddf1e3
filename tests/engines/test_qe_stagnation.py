"""ScfStagnationHandler: a stuck SCF is stopped and the next recovery step taken (handler contract)."""

from __future__ import annotations

import json
from pathlib import Path

from tipsurf.engines.qe.handlers import (
    STATE_FILE, ScfConvergenceHandler, ScfStagnationHandler, StalledBfgsHandler, default_handlers,
)
from tipsurf.engines.qe.inputs import get_pw_parameter

PW_IN = """&CONTROL
  calculation = 'scf'
/
&SYSTEM
  degauss = 0.02
/
&ELECTRONS
  mixing_beta = 0.2
  electron_maxstep = 80
/
"""
STEPS = [{"scale": {"mixing_beta": 0.5}, "set": {"mixing_ndim": 12}}, {"set": {"mixing_mode": "plain"}}]


def _folder(tmp_path: Path, errors_Ry: list[float]) -> Path:
    (tmp_path / "pw.in").write_text(PW_IN)
    lines = [f"     estimated scf accuracy    <       {e:.8f} Ry\n" for e in errors_Ry]
    (tmp_path / "pw.out").write_text("".join(lines))
    return tmp_path


def test_improving_scf_is_left_alone(tmp_path: Path) -> None:
    converging = [10.0 * 0.5**i for i in range(40)]
    assert not ScfStagnationHandler(STEPS, window=15).check(str(_folder(tmp_path, converging)))
    assert not ScfStagnationHandler(STEPS, window=15).check(str(_folder(tmp_path, [1e-3] * 15)))  # too few to judge


def test_stuck_scf_is_stopped_and_gets_the_next_recovery_step(tmp_path: Path) -> None:
    stuck = [10.0, 1.0, 0.1, 0.01] + [0.02, 0.008, 0.03, 0.009] * 4  # sloshing around 1e-2 for 16 iterations
    folder = _folder(tmp_path, stuck)
    handler = ScfStagnationHandler(STEPS, window=15)
    assert handler.is_monitor and handler.is_terminating and handler.check(str(folder))
    out = handler.correct(str(folder))
    assert "stagnated" in out["errors"][0] and "8.00e-03" in out["errors"][0]
    assert get_pw_parameter(folder / "pw.in", "electrons", "mixing_beta") == "0.1"
    assert json.loads((folder / STATE_FILE).read_text())["scf_steps_applied"] == 1
    # the post-run handler continues the same sequence: step 2, then none left
    assert ScfConvergenceHandler(STEPS).correct(str(folder))["actions"][0]["set"] == {"mixing_mode": "plain"}
    assert handler.correct(str(folder))["actions"] is None


def test_default_handlers_include_the_monitors() -> None:
    monitors = [h for h in default_handlers() if h.is_monitor]
    assert [type(h) for h in monitors] == [ScfStagnationHandler, StalledBfgsHandler]


def test_a_relaxation_is_judged_by_its_current_scf_cycle_only(tmp_path: Path) -> None:
    # six ionic steps, each SCF converging from ~1e-3 to ~3e-6 Ry in 6 iterations (as the Ti@o-top
    # relaxation of the adsorbate demo): 36 iterations together never beat the first cycle's best,
    # yet no cycle is stuck.  A stuck cycle after them is still caught.
    cycle = [1e-3, 6e-4, 5e-5, 3e-5, 1e-5, 3e-6]
    header = "     Self-consistent Calculation\n"
    lines = "".join(header + "".join(f"     estimated scf accuracy    <       {e:.8f} Ry\n" for e in cycle)
                    for _ in range(6))
    (tmp_path / "pw.in").write_text(PW_IN)
    (tmp_path / "pw.out").write_text(lines)
    assert not ScfStagnationHandler(STEPS, window=15).check(str(tmp_path))
    stuck = [1e-3, 1e-4] + [2e-4, 8e-5] * 8
    (tmp_path / "pw.out").write_text(lines + header + "".join(f"     estimated scf accuracy    <       {e:.8f} Ry\n" for e in stuck))
    assert ScfStagnationHandler(STEPS, window=15).check(str(tmp_path))
