"""SCF non-convergence induced for real is recovered by the custodian handlers.

A 2-atom bcc Fe cell with too few SCF steps (electron_maxstep 3) and a hostile plain mixing
(beta 0.9) cannot converge in its first run; the handlers must correct the input, finish the
SCF, store the corrections with the result, and land on the same energy as an undisturbed run.
benchmarks/fault_injection.py repeats this over 10 induced cases.  Two pw.x runs, ~10 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reliability_helpers import need_program

RY_TO_EV = 13.605693122994


def _fe2():
    from ase import Atoms

    atoms = Atoms("Fe2", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[2.85] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([2.5, 2.5])
    return atoms


def _preset(extra: dict) -> dict:
    from tipsurf.engines.presets import load_preset, merge_preset

    base = {"kpoints": {"mesh": [3, 3, 3], "gamma_centred": True}, "ecutwfc_Ry": 25, "ecutrho_Ry": 200,
            "dipole_correction": False}
    return merge_preset(load_preset("fast", "qe"), {**base, **extra})


@pytest.mark.pwx
def test_induced_scf_failure_recovered_and_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qe_pseudos) -> None:
    """Pseudopotentials: ../shared GBRV, else tipsurf's ld1.x set (qe_pseudos)."""
    need_program("pw.x")
    from tipsurf.engines.base import get_engine

    engine = get_engine("qe")

    engine.write_inputs(_fe2(), _preset({}), tmp_path / "ref")
    ref = engine.run(tmp_path / "ref")
    assert ref.converged and not ref.corrections

    engine.write_inputs(_fe2(), _preset({"electron_maxstep": 3, "mixing_mode": "plain", "mixing_beta": 0.9}),
                        tmp_path / "bad")
    rec = engine.run(tmp_path / "bad", max_errors=5)
    assert rec.converged and rec.energy_eV is not None
    assert rec.corrections, "the SCF converged without any correction: nothing was induced"
    # the corrections are stored with the result, on disk too
    stored = json.loads((tmp_path / "bad" / "tipsurf_result.json").read_text())
    assert stored["corrections"] == json.loads(json.dumps(rec.corrections))
    # and the recovered calculation is the same physics as the undisturbed one
    conv_thr_eV = 2 * 1e-7 * 2 * RY_TO_EV
    assert rec.energy_eV == pytest.approx(ref.energy_eV, abs=max(10 * conv_thr_eV, 1e-4))
    assert rec.magmoms_muB == pytest.approx(ref.magmoms_muB, abs=0.02)
