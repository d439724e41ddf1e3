"""The dipole correction with the point symmetry kept (engines/qe/dipole.py).

pw.x 6.x drops every point operation when ``tefield`` is set; tipsurf keeps those that map z to
z through pw.x's gate branch with a 1e-8 e plate.  These tests check where the plate goes, that
a structure with a z-reversing operation gets no plate, and — with pw.x — that the symmetric run
uses fewer k-points and gives the energy, forces and moments of the run without symmetry.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bcc100, bcc110

from tests.conftest import require_program
from tipsurf.engines.presets import load_preset, merge_preset
from tipsurf.engines.qe import QEEngine
from tipsurf.engines.qe.dipole import GATE_CHARGE_E, dipole_settings, reverses_z_symmetry
from tipsurf.engines.qe.inputs import get_pw_parameter


def _fe_on_w() -> Atoms:
    """One W(001) layer (1×1 square cell, C4v) with an Fe atop the W, 2.2 Å higher: no z mirror."""
    w = bcc100("W", size=(1, 1, 1), a=3.17, vacuum=5.0)
    fe = w.copy()
    fe.symbols[:] = "Fe"
    fe.positions[:, 2] += 2.2
    atoms = w + fe
    atoms.set_initial_magnetic_moments([0.0] * len(w) + [2.5] * len(fe))
    atoms.center(vacuum=5.0, axis=2)
    return atoms


def test_gate_plate_sits_in_the_vacuum_outside_the_sawtooth() -> None:
    atoms = _fe_on_w()
    plain_namelists = dipole_settings(atoms)
    kept_namelists = dipole_settings(atoms, keep_symmetry=True)
    plain = {**plain_namelists["control"], **plain_namelists["system"]}
    kept = {**kept_namelists["control"], **kept_namelists["system"]}
    assert "gate" not in plain and "tot_charge" not in plain
    assert kept_namelists["control"]["gate"] is True and kept_namelists["system"]["tot_charge"] == GATE_CHARGE_E
    assert {k: kept[k] for k in plain} == plain
    lo, hi = kept["emaxpos"], kept["emaxpos"] + kept["eopreg"]
    assert not lo <= kept["zgate"] <= hi and not lo <= kept["zgate"] + 1.0 <= hi
    frac = np.mod(atoms.get_scaled_positions()[:, 2], 1.0)
    gap = np.abs(frac - kept["zgate"])
    assert (np.minimum(gap, 1 - gap) * atoms.cell[2, 2]).min() > 1.0


def test_a_z_mirror_symmetric_slab_gets_no_gate() -> None:
    slab = bcc110("W", size=(1, 2, 3), a=3.17, vacuum=6.0, orthogonal=True)
    slab.set_initial_magnetic_moments([0.0] * len(slab))
    assert reverses_z_symmetry(slab)
    assert "gate" not in dipole_settings(slab, keep_symmetry=True)["control"]
    assert not reverses_z_symmetry(_fe_on_w())


def _run(atoms: Atoms, preset: dict, folder: Path, config) -> tuple:
    import os
    import subprocess

    QEEngine().write_inputs(atoms, preset, folder, config=config)
    subprocess.run(["pw.x", "-in", "pw.in"], cwd=folder, stdout=open(folder / "pw.out", "w"),
                   stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    text = (folder / "pw.out").read_text()
    result = QEEngine().parse(folder)
    n_k = int(re.search(r"number of k points=\s+(\d+)", text).group(1))
    n_sym = int(re.search(r"(\d+) Sym\. Ops\.", text).group(1)) if "Sym. Ops." in text else 1
    return result, n_k, n_sym


@pytest.mark.pwx
def test_kept_symmetry_gives_the_no_symmetry_result_with_fewer_kpoints(qe_pseudos, tmp_path: Path) -> None:
    require_program("pw.x")
    atoms = _fe_on_w()
    base = merge_preset(load_preset("fast"), {"kpoints": {"mesh": [4, 4, 1], "gamma_centred": False},
                                              "conv_thr_Ry": 1e-8, "ecutwfc_Ry": 20, "ecutrho_Ry": 160,
                                              "degauss_Ry": 0.05, "mixing_mode": "plain", "mixing_beta": 0.5})
    config = qe_pseudos.config(qe_version="6.7")
    nosym, k_nosym, sym_nosym = _run(atoms, base, tmp_path / "nosym", config)
    kept, k_kept, sym_kept = _run(atoms, merge_preset(base, {"dipole_keeps_symmetry": True}), tmp_path / "kept", config)
    assert get_pw_parameter(tmp_path / "kept" / "pw.in", "control", "gate") == ".true."
    assert sym_nosym == 1 and sym_kept >= 4
    assert k_kept < k_nosym
    assert nosym.converged and kept.converged
    assert abs(kept.energy_eV - nosym.energy_eV) < 2e-4
    # forces agree to the SCF correction pw.x reports at conv_thr 1e-8 Ry (~1.6e-4 Ry/bohr = 4e-3 eV/Å)
    assert np.abs(np.asarray(kept.forces_eV_per_A) - np.asarray(nosym.forces_eV_per_A)).max() < 5e-3
    assert abs(kept.total_magnetization_muB - nosym.total_magnetization_muB) < 0.01
    assert np.abs(np.asarray(kept.magmoms_muB) - np.asarray(nosym.magmoms_muB)).max() < 0.01
