"""A spin flip forced for real is flagged by the exchange analysis.

Two Fe atoms in a bcc cell start antiparallel (+2.5/-2.5 muB: the ``ap`` configuration) while
pw.x is told to keep a total moment of 4.4 muB (``tot_magnetization``): the only solution is
ferromagnetic, so the ``ap`` run converges to ``p``.  The record (real pw.x output, parsed by
the QE engine) must then be excluded from E_ex/F_ex with a 'spin flip' flag, and the same
calculation labelled ``p`` must pass.  benchmarks/fault_injection.py repeats this with several
start moments.  One pw.x run, ~10 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability_helpers import need_program


def forced_flip_record(directory: Path, start_muB: float = 2.5, total_muB: float = 4.4) -> dict:
    """Run the forced-flip calculation and return its record with scan metadata (ap)."""
    from ase import Atoms

    from tipsurf.engines.base import get_engine
    from tipsurf.engines.presets import load_preset, merge_preset

    a_A = 2.85
    atoms = Atoms("Fe2", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[a_A] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([start_muB, -start_muB])  # apex (1) antiparallel to reference (0)
    preset = merge_preset(load_preset("fast", "qe"), {
        "kpoints": {"mesh": [3, 3, 3], "gamma_centred": True}, "ecutwfc_Ry": 25, "ecutrho_Ry": 200,
        "dipole_correction": False, "extra": {"system": {"tot_magnetization": total_muB}},
    })
    engine = get_engine("qe")
    engine.write_inputs(atoms, preset, directory)
    record = engine.run(directory).as_dict()
    record["metadata"] = {**(record.get("metadata") or {}), "surface": "fe2-bcc", "site": "top", "tip": "Fe",
                          "distance_A": a_A * 3 ** 0.5 / 2, "config": "ap", "apex_index": 1,
                          "reference_indices": [0], "tip_indices": [1]}
    return record


@pytest.mark.pwx
def test_forced_spin_flip_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qe_pseudos) -> None:
    """Pseudopotentials: ../shared GBRV, else tipsurf's ld1.x set (qe_pseudos)."""
    need_program("pw.x")
    import copy

    from tipsurf.analysis.exchange import configuration_problem, exchange_table

    ap = forced_flip_record(tmp_path / "ap")
    assert ap["converged"] and ap["energy_eV"] is not None
    moments = ap["magmoms_muB"]
    assert moments[0] > 1.0 and moments[1] > 1.0, f"pw.x did not flip the apex: {moments}"

    problem = configuration_problem(ap)
    assert problem is not None and "spin flip" in problem

    p = copy.deepcopy(ap)
    p["metadata"]["config"] = "p"  # the same ferromagnetic state is a valid p point ...
    p["extra"]["initial_magmoms_muB"] = [2.5, 2.5]  # ... of a run that started parallel
    assert configuration_problem(p) is None

    table = exchange_table([p, ap])
    rows = table.rows
    assert len(rows) == 1
    assert rows[0]["valid"] is False and rows[0]["E_ex_eV"] is None
    assert "spin flip" in rows[0]["flags"]
    assert any(e["config"] == "ap" and "spin flip" in e["reason"] for e in table.excluded)
