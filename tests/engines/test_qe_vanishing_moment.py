"""A moment dying away in the SCF: seen in pw.out, and the recovery step that scales it down.

The magnetisation sequences are pw.x 6.7's printed absolute magnetisations of two real runs
(2026-12-02): TiH2 at the O-top site of the 1x1 demo slab at mixing_beta 0.05 (the moment
falling from 0.76 to 0.09 muB in 60 iterations, unconverged), and the floating Fe tip over
Mn/W(110) of the demo (a steady 33.4 muB).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tipsurf.engines.input_sets import input_set
from tipsurf.engines.qe.charge_density import ChargeDensity, read_charge_density, write_charge_density
from tipsurf.engines.qe.handlers import STATE_FILE, ScfConvergenceHandler, ScfStagnationHandler
from tipsurf.engines.qe.inputs import get_pw_parameter
from tipsurf.engines.qe.magnetization import moment_vanishing, scale_saved_magnetization
from tipsurf.engines.qe.outputs import cycle_absolute_magnetizations
from tipsurf.errors import InputError, OutputError

TIH2_BETA_005 = [0.76, 0.76, 0.67, 0.60, 0.60, 0.42, 0.42, 0.40, 0.31, 0.31, 0.24, 0.24, 0.23, 0.19, 0.19, 0.20,
                 0.18, 0.17, 0.17, 0.16, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15,
                 0.14, 0.14, 0.12, 0.12, 0.12, 0.12, 0.12, 0.11, 0.11, 0.11, 0.11, 0.11, 0.11, 0.11, 0.11, 0.10,
                 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.09, 0.09, 0.09]
FE_TIP_JUNCTION = [35.32, 33.04, 33.25, 33.26, 33.36, 33.38, 33.39, 33.40, 33.41, 33.43, 33.44] + [33.44] * 11

PW_IN = """&CONTROL
  calculation = 'scf'
/
&SYSTEM
  degauss = 0.05
/
&ELECTRONS
  mixing_beta = 0.2
  electron_maxstep = 60
/
"""
STEPS = [
    {"description": "moment dying away", "only_if": "moment_vanishing", "scale_magnetization": 0.1, "restart": True},
    {"scale": {"mixing_beta": 0.5}, "restart": True},
]


def _pw_out(magnetizations: list[float], errors_Ry: list[float] | None = None) -> str:
    errors_Ry = errors_Ry or [1e-5] * len(magnetizations)
    return "     Self-consistent Calculation\n" + "".join(
        f"     estimated scf accuracy    <       {e:.8f} Ry\n     total magnetization       =     {m / 2:.2f} Bohr mag/cell\n"
        f"     absolute magnetization    =     {m:.2f} Bohr mag/cell\n"
        for m, e in zip(magnetizations, errors_Ry))


def _spin_density(magnetization_fraction: float, nspin: int = 2) -> ChargeDensity:
    b = 2 * np.pi * np.eye(3) / 5.0
    miller = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1]])
    total = np.array([0.08, 0.01 + 0.02j, 0.01 - 0.02j, 0.005], complex)
    return ChargeDensity(False, b, miller, np.stack([total, magnetization_fraction * total][:nspin]))


def _folder(tmp_path: Path, magnetizations: list[float]) -> Path:
    (tmp_path / "pw.in").write_text(PW_IN)
    (tmp_path / "pw.out").write_text(_pw_out(magnetizations))
    save = tmp_path / "out" / "pwscf.save"
    save.mkdir(parents=True)
    write_charge_density(save / "charge-density.dat", _spin_density(0.3))
    return tmp_path


def test_a_falling_moment_is_seen_and_a_steady_or_oscillating_one_is_not() -> None:
    assert moment_vanishing(TIH2_BETA_005)
    assert not moment_vanishing(FE_TIP_JUNCTION)
    assert not moment_vanishing(TIH2_BETA_005[:8])  # too few iterations to judge
    assert not moment_vanishing([2.0, 1.9, 1.8] + [0.4, 0.9] * 6)  # oscillating, not dying
    assert not moment_vanishing(list(reversed(TIH2_BETA_005)))  # growing
    assert not moment_vanishing([0.7] * 5 + [0.0] * 10)  # already gone: nothing to shorten


def test_only_the_current_scf_cycle_counts() -> None:
    earlier = _pw_out([3.0] * 10)  # an earlier ionic step with a steady moment
    text = earlier + _pw_out([0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.27, 0.25])
    assert cycle_absolute_magnetizations(text) == [0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.27, 0.25]
    assert moment_vanishing(cycle_absolute_magnetizations(text))


def test_scaling_the_saved_magnetization_keeps_the_charge(tmp_path: Path) -> None:
    path = tmp_path / "charge-density.dat"
    write_charge_density(path, _spin_density(0.3))
    record = scale_saved_magnetization(path, 0.1)
    scaled, original = read_charge_density(path), _spin_density(0.3)
    assert np.allclose(scaled.rho_g[0], original.rho_g[0])
    assert np.allclose(scaled.rho_g[1], 0.1 * original.rho_g[1])
    assert record["magnetization_after_muB"] == pytest.approx(0.1 * record["magnetization_before_muB"])
    assert record["magnetization_before_muB"] == pytest.approx(original.magnetization_muB)
    write_charge_density(path, _spin_density(0.0, nspin=1))
    with pytest.raises(OutputError, match="not a collinear spin density"):
        scale_saved_magnetization(path, 0.1)


def test_a_dying_moment_gets_the_conditional_step_with_its_density_scaled(tmp_path: Path) -> None:
    folder = _folder(tmp_path, TIH2_BETA_005)
    out = ScfConvergenceHandler(STEPS).correct(str(folder))
    assert "step 1 of 2: moment dying away" in out["errors"][0]
    scaled = [a for a in out["actions"] if "scale_magnetization" in a]
    assert scaled and scaled[0]["magnetization_after_muB"] == pytest.approx(0.1 * scaled[0]["magnetization_before_muB"])
    density = read_charge_density(folder / "out" / "pwscf.save" / "charge-density.dat")
    assert np.allclose(density.rho_g[1], 0.03 * _spin_density(1.0).rho_g[0])
    assert get_pw_parameter(folder / "pw.in", "electrons", "startingpot") == "file"
    assert get_pw_parameter(folder / "pw.in", "electrons", "mixing_beta") == "0.2"  # beta is left alone


def test_a_steady_moment_passes_the_conditional_step_over(tmp_path: Path) -> None:
    folder = _folder(tmp_path, FE_TIP_JUNCTION)
    stuck = ScfStagnationHandler(STEPS, window=15)
    (folder / "pw.out").write_text(_pw_out(FE_TIP_JUNCTION, [1.0, 0.1] + [2e-5, 8e-6] * 10))
    assert stuck.check(str(folder))
    out = stuck.correct(str(folder))
    assert "step 2 of 2" in out["errors"][1]
    assert not any("scale_magnetization" in a for a in out["actions"])
    assert get_pw_parameter(folder / "pw.in", "electrons", "mixing_beta") == "0.1"
    density = read_charge_density(folder / "out" / "pwscf.save" / "charge-density.dat")
    assert np.allclose(density.rho_g[1], 0.3 * _spin_density(1.0).rho_g[0])  # untouched
    assert json.loads((folder / STATE_FILE).read_text())["scf_steps_applied"] == 2


@pytest.mark.parametrize("step, message", [
    ({"only_if": "moment_growing", "restart": True}, "not a known condition"),
    ({"scale_magnetization": 0.0, "restart": True}, r"number in \(0, 1\]"),
    ({"scale_magnetization": 0.1}, "needs restart: true"),
    ({"restart": "scratch"}, "false or atoms"),
    ({"scale_magnetization": 0.1, "restart": "atoms"}, "not atoms"),
])
def test_bad_conditional_steps_are_refused_when_the_preset_is_read(step: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        input_set("qe").check({"scf_recovery": [step]})
