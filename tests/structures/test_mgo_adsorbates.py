"""MgO/Ag(100) slab, Ti/TiHx adsorbates and gas-phase molecules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from tipsurf.errors import InputError
from tipsurf.structures import build_adsorbate, build_mgo_ag100, build_molecule

A = 4.09


def _layers(atoms):
    z = atoms.positions[:, 2].round(6)
    return [np.flatnonzero(z == v) for v in np.unique(z)]


def test_counts_and_spacings() -> None:
    slab = build_mgo_ag100(mgo_layers=3, ag_layers=4, size=2)
    assert slab.get_chemical_formula() == "Ag32Mg24O24"
    layers = _layers(slab)
    assert len(layers) == 7
    z = [slab.positions[idx[0], 2] for idx in layers]
    assert np.allclose(np.diff(z[:4]), A / 2)
    assert np.isclose(z[4] - z[3], 2.65)
    assert np.allclose(np.diff(z[4:]), 2.10)
    assert np.allclose(slab.cell.lengths()[:2], 2 * A)


def test_oxygen_directly_above_silver() -> None:
    slab = build_mgo_ag100(mgo_layers=2, size=2)
    layers = _layers(slab)
    ag_top, mgo_first = layers[3], layers[4]
    ag_xy = slab.positions[ag_top, :2]
    for k in mgo_first:
        d = np.linalg.norm(ag_xy - slab.positions[k, :2], axis=1).min()
        if slab[k].symbol == "O":
            assert d < 1e-9
        else:
            assert np.isclose(d, A / 2)  # Mg over the Ag fourfold hollow


def test_rocksalt_neighbours_in_film() -> None:
    slab = build_mgo_ag100(mgo_layers=3)
    i, j, d = neighbor_list("ijd", slab, 2.2)
    symbols = np.array(slab.get_chemical_symbols())
    film = (symbols[i] != "Ag") & (symbols[j] != "Ag")
    assert np.all(symbols[i][film] != symbols[j][film])  # only Mg-O bonds below 2.2 A
    assert np.isclose(d[film].min(), 2.045) or np.isclose(d[film].min(), 2.10)


def test_sites() -> None:
    slab = build_mgo_ag100(size=2)
    sites = slab.info["sites"]
    cell = np.diag(slab.cell)[:2]
    for kind, n_ref, element, lateral in (("o-top", 1, "O", 0.0), ("bridge", 2, "O", A / (2 * math.sqrt(2))), ("hollow", 1, "Mg", 0.0)):
        assert len(sites[kind]) == 8
        for entry in sites[kind]:
            refs = entry["reference_indices"]
            assert len(refs) == n_ref and all(slab[r].symbol == element and slab.get_tags()[r] == 1 for r in refs)
            delta = slab.positions[refs, :2] - entry["xy_A"]
            delta -= np.round(delta / cell) * cell
            assert np.allclose(np.linalg.norm(delta, axis=1), lateral)


@pytest.mark.parametrize("species, n_h", [("Ti", 0), ("TiH", 1), ("TiH2", 2), ("TiH3", 3), ("TiH4", 4)])
@pytest.mark.parametrize("site", ["o-top", "bridge", "hollow"])
def test_adsorbate_geometry(species: str, n_h: int, site: str) -> None:
    atoms = build_adsorbate(species, site, build_mgo_ag100(size=2))
    ti = atoms.info["ti_index"]
    assert atoms[ti].symbol == "Ti"
    assert np.isclose(atoms.positions[ti, 2] - atoms.info["surface_z_A"], atoms.info["height_A"])
    assert np.allclose(atoms.positions[ti, :2], atoms.info["site_xy_A"])
    h = [k for k in atoms.info["adsorbate_indices"] if atoms[k].symbol == "H"]
    assert len(h) == n_h
    if h:
        assert np.allclose(atoms.get_distances(ti, h), 1.75)
        assert np.all(atoms.positions[h, 2] >= atoms.positions[ti, 2] - 1e-9)  # H up/out
    others = [k for k in range(len(atoms)) if k not in h]
    for k in h:
        assert atoms.get_distances(k, others, mic=True).min() >= 1.5
    assert atoms.get_initial_magnetic_moments()[ti] == pytest.approx(0.5 if species == "TiH4" else 2.0)


def test_adsorbate_height_and_errors() -> None:
    atoms = build_adsorbate("Ti", "bridge", height_A=1.8)
    assert np.isclose(atoms.positions[atoms.info["ti_index"], 2] - atoms.info["surface_z_A"], 1.8)
    with pytest.raises(InputError, match="species"):
        build_adsorbate("TiH9")
    with pytest.raises(InputError, match="site"):
        build_adsorbate("Ti", "atop")
    with pytest.raises(InputError, match="apart"):
        build_adsorbate("Ti", "o-top", height_A=0.5)
    with pytest.raises(InputError, match="outside"):
        build_adsorbate("Ti", "o-top", site_index=99)


@pytest.mark.parametrize("species, natoms", [("H2", 2), ("Ti", 1), ("TiH", 2), ("TiH2", 3), ("TiH3", 4), ("TiH4", 5)])
def test_molecules(species: str, natoms: int) -> None:
    mol = build_molecule(species, box_A=10.0)
    assert len(mol) == natoms and np.allclose(mol.cell.lengths(), 10.0)
    if species == "H2":
        assert np.isclose(mol.get_distance(0, 1), 0.74)
        assert np.all(mol.get_initial_magnetic_moments() == 0)
    elif natoms > 1:
        assert np.allclose(mol.get_distances(0, list(range(1, natoms))), 1.75)
        if species == "TiH4":
            h = mol.positions[1:] - mol.positions[0]
            cosines = (h @ h.T)[np.triu_indices(4, 1)] / 1.75**2
            assert np.allclose(cosines, -1 / 3)  # tetrahedral


def test_molecule_errors() -> None:
    with pytest.raises(InputError):
        build_molecule("CH4")
    with pytest.raises(InputError, match="box"):
        build_molecule("TiH4", box_A=6.0)
