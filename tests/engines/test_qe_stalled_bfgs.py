"""StalledBfgsHandler and the BFGS-stall reading (handler contract; the real pw.x case is
test_qe_stalled_bfgs_pwx.py).

The pw.out excerpts are shaped like the Ti@bridge relaxation of the adsorbate demo
(benchmarks/README.md): every SCF cycle prints ``number of bfgs steps = N``; a rejected step
prints ``resetting bfgs history``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tipsurf.engines.qe.handlers import StalledBfgsHandler
from tipsurf.engines.qe.outputs import bfgs_stall_resets, ionic_verdict
from tipsurf.engines.qe.pw_input import read_pw_input

PW_IN = """&CONTROL
  calculation = 'relax'
/
&SYSTEM
  nat = 1
/
&ELECTRONS
  conv_thr = 1e-06
/
&IONS
  IONS_LINE
/
ATOMIC_POSITIONS angstrom
  H 0.0 0.0 0.0
"""
BANNER = "     Program PWSCF v.6.7MaX starts on  3Dec2026 at 10:00:00\n     BFGS Geometry Optimization\n"


def _cycle(n_bfgs: int, reset: bool) -> str:
    text = f"     number of scf cycles    =   1\n     number of bfgs steps    =  {n_bfgs:2d}\n"
    return text + ("\n     small trust_radius: resetting bfgs history\n" if reset else "")


def _folder(tmp_path: Path, cycles: list[tuple[int, bool]], ions: str = "upscale = 100.0", tail: str = "") -> Path:
    (tmp_path / "pw.in").write_text(PW_IN.replace("IONS_LINE", ions))
    (tmp_path / "pw.out").write_text(BANNER + "".join(_cycle(n, r) for n, r in cycles) + tail)
    return tmp_path


def test_resets_count_only_since_the_last_accepted_step() -> None:
    accepted_between = BANNER + _cycle(3, True) + _cycle(4, True) + _cycle(5, True) + _cycle(6, False)
    assert bfgs_stall_resets(accepted_between) == 0  # three resets, each followed by an accepted step
    stuck = BANNER + _cycle(15, False) + _cycle(16, True) + _cycle(16, False) + _cycle(16, True) + _cycle(16, True)
    assert bfgs_stall_resets(stuck) == 3


def test_the_monitor_switches_a_stalled_bfgs_to_damped_dynamics(tmp_path: Path) -> None:
    folder = _folder(tmp_path, [(15, False), (16, True), (16, True), (16, True)])
    handler = StalledBfgsHandler(min_resets=3)
    assert handler.is_monitor and handler.is_terminating and handler.check(str(folder))
    out = handler.correct(str(folder))
    assert "3 history resets" in out["errors"][0]
    assert {"file": "pw.in", "namelist": "ions", "set": {"ion_dynamics": "damp"}} in out["actions"]
    assert read_pw_input(folder).get("ion_dynamics") == "damp"
    assert read_pw_input(folder).get("upscale") == pytest.approx(100.0)  # the rest of &IONS is kept
    assert not handler.check(str(folder))  # once damped, it is not BFGS's case any more


@pytest.mark.parametrize("case", ["two resets", "already damped", "converged in the end", "scf"])
def test_the_monitor_leaves_other_runs_alone(tmp_path: Path, case: str) -> None:
    cycles = [(16, True)] * (2 if case == "two resets" else 3)
    ions = "ion_dynamics = 'damp'" if case == "already damped" else "upscale = 100.0"
    tail = "\n     bfgs converged in  20 scf cycles and  17 bfgs steps\n" if case == "converged in the end" else ""
    folder = _folder(tmp_path, cycles, ions, tail)
    if case == "scf":
        (folder / "pw.in").write_text(PW_IN.replace("'relax'", "'scf'").replace("IONS_LINE", ""))
    assert not StalledBfgsHandler(min_resets=3).check(str(folder))


def test_a_bfgs_pw_x_stopped_is_the_monitors_case_and_not_converged(tmp_path: Path) -> None:
    # pw.x 6.x: the stop message, then "bfgs converged" all the same
    tail = ("\n     Message from routine bfgs:\n     history already reset at previous step: stopping\n"
            "\n     bfgs converged in   4 scf cycles and   3 bfgs steps\n     End of BFGS Geometry Optimization\n")
    folder = _folder(tmp_path, [(2, True)], tail=tail)
    text = (folder / "pw.out").read_text()
    assert ionic_verdict(text) is False
    assert StalledBfgsHandler(min_resets=3).check(str(folder))


@pytest.mark.parametrize(("tail", "verdict"), [
    ("     Damped Dynamics Calculation\n     Damped Dynamics: convergence achieved in   8 steps\n", True),
    ("     Damped Dynamics Calculation\n     The maximum number of steps has been reached.\n", False),
    ("     Damped Dynamics Calculation\n", False),
    ("     bfgs failed after  12 scf cycles and  10 bfgs steps, convergence not achieved\n"
     "     End of BFGS Geometry Optimization\n", False),
])
def test_ionic_verdicts(tail: str, verdict: bool) -> None:
    assert ionic_verdict("     Program PWSCF v.6.7MaX starts\n     number of scf cycles    =   1\n" + tail) is verdict
