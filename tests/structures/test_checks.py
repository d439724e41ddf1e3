"""Minimum-distance check: the direct screen gives exactly the neighbour-list results (issue 12 item 11)."""

from __future__ import annotations


import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from tipsurf.errors import InputError
from tipsurf.structures import build_adsorbate, build_junction, build_mgo_ag100, build_mn_w110, build_molecule, build_tip
from tipsurf.structures import checks
from tipsurf.structures.checks import MIN_DISTANCE_HH_A, check_min_distance, closest_pair


def _reference_closest_pair(atoms: Atoms, cutoff_A: float = checks.MIN_DISTANCE_A):
    """The neighbour-list search alone (the algorithm before the screen was added)."""
    if len(atoms) == 0:
        return None
    probe = atoms.copy()
    if not probe.cell.rank == 3:
        probe.pbc = False
    ii, jj, dd, shifts = neighbor_list("ijdS", probe, cutoff_A, self_interaction=False)
    symbols = np.array(atoms.get_chemical_symbols())
    both_h = (symbols[ii] == "H") & (symbols[jj] == "H")
    bad = np.where(both_h, dd < MIN_DISTANCE_HH_A, dd < cutoff_A)
    if not bad.any():
        return None
    k = int(np.argmin(np.where(bad, dd, np.inf)))
    i, j = sorted((int(ii[k]), int(jj[k])))
    return i, j, float(dd[k]), bool(np.any(shifts[k] != 0))


def _structures() -> list[Atoms]:
    """Built structures (clear) plus clashing, self-image, H-H, triclinic, partly periodic and random ones."""
    surface = build_mn_w110(w_layers=2, size=(2, 1), one_sided=True)
    out = [surface, build_mn_w110(), build_mgo_ag100(), build_tip("Fe", layers=3), build_molecule("H2"),
           build_adsorbate("TiH2", "bridge"), build_adsorbate("Ti", "o-top")]
    out += [build_junction(surface, build_tip("Fe", layers=1), site, 0, d, "p") for site in ("top", "hollow") for d in (2.5, 4.0)]
    clash = surface.copy()
    clash.positions[-1, 2] -= 1.0  # a Mn atom pushed into the W layer below
    out.append(clash)
    tight = Atoms("Fe", positions=[[0, 0, 0]], cell=[1.2, 5.0, 5.0], pbc=True)  # clashes with its own image only
    out += [tight, Atoms("Fe", positions=[[0, 0, 0]], cell=[1.2, 5.0, 5.0], pbc=[False, True, True])]
    out.append(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.5]], cell=[8, 8, 8], pbc=True))  # H-H below 0.6 A
    out.append(Atoms("HHO", positions=[[0, 0, 0], [0, 0, 0.7], [0, 0, 2.0]], cell=[8, 8, 8], pbc=True))  # H-H 0.7 A is fine
    out.append(Atoms("CuCu", positions=[[0, 0, 0], [1.0, 0.5, 0.2]], cell=[[2.5, 0, 0], [1.25, 2.2, 0], [0.3, 0.4, 9.0]], pbc=True))
    out.append(Atoms("Cu2", positions=[[0, 0, 0], [1.4, 0, 0]]))  # no cell at all
    rng = np.random.default_rng(7)
    for k in range(25):
        n = int(rng.integers(2, 30))
        cell = np.diag(rng.uniform(2.0, 9.0, 3)) + rng.uniform(-0.8, 0.8, (3, 3)) * (k % 2)
        symbols = rng.choice(["Fe", "H", "O", "W"], n)
        atoms = Atoms(list(symbols), scaled_positions=rng.uniform(-0.2, 1.2, (n, 3)), cell=cell,
                      pbc=[bool(b) for b in rng.integers(0, 2, 3)])
        out.append(atoms)
    return out


@pytest.mark.parametrize("cutoff_A", [1.5, 2.0, 0.4])
def test_closest_pair_is_unchanged_by_the_screen(cutoff_A: float) -> None:
    """Same (i, j, distance, via_image) or None as the neighbour-list search, clear or not."""
    structures = _structures()
    results = [closest_pair(atoms, cutoff_A) for atoms in structures]
    assert results == [_reference_closest_pair(atoms, cutoff_A) for atoms in structures]
    if cutoff_A == 1.5:
        assert sum(r is None for r in results) >= 8 and sum(r is not None for r in results) >= 5
        assert any(r is not None and r[3] for r in results)  # a periodic-image clash among them


def test_clear_structures_skip_the_neighbour_list_and_clashes_still_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clear junction never builds a neighbour list; a clash gives the same one-line error as before."""
    surface = build_mn_w110(w_layers=2, size=(1, 1), one_sided=True)
    junction = build_junction(surface, build_tip("Fe", layers=1), "top", 0, 4.0, "p")
    calls = []
    real = checks.neighbor_list
    monkeypatch.setattr(checks, "neighbor_list", lambda *a, **k: calls.append(1) or real(*a, **k))
    check_min_distance(junction)
    assert calls == []
    clash = junction.copy()
    clash.positions[-1] = clash.positions[0] + [0.0, 0.0, 1.0]
    with pytest.raises(InputError, match=r"atoms 0 \(W\) and \d+ \(Fe\) are 1.000 A apart, below the 1.5 A minimum"):
        check_min_distance(clash, what="junction")
    assert calls == [1]
