"""Geometry, moments and constraints of the bcc(001) pyramidal tip."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.constraints import FixAtoms

from tipsurf.errors import InputError
from tipsurf.structures import build_tip


@pytest.mark.parametrize("layers, natoms", [(1, 1), (2, 5), (3, 14), (4, 30)])
def test_layer_counts(layers: int, natoms: int) -> None:
    tip = build_tip(layers=layers)
    assert len(tip) == natoms
    z = tip.positions[:, 2]
    counts = [int(np.sum(np.isclose(z, z.min() + k * 2.85 / 2))) for k in range(layers)]
    assert counts == [(k + 1) ** 2 for k in range(layers)]


def test_fourteen_atoms_spacing_and_apex() -> None:
    tip = build_tip()
    apex = tip.info["apex_index"]
    z = tip.positions[:, 2]
    assert z[apex] == z.min() and np.sum(z == z.min()) == 1
    base = tip.positions[np.isclose(z, z.max())]
    assert len(base) == 9
    d = np.linalg.norm(base[:, None, :] - base[None, :, :], axis=-1)
    assert np.isclose(d[d > 0].min(), 2.85)
    # bcc nearest neighbours between layers: a*sqrt(3)/2
    second = tip.positions[np.isclose(z, z.min() + 1.425)]
    assert np.allclose(np.linalg.norm(second - tip.positions[apex], axis=1), 2.85 * math.sqrt(3) / 2)


def test_constraints_free_apex_and_next_layer() -> None:
    tip = build_tip(apex="Co")
    (fix,) = [c for c in tip.constraints if isinstance(c, FixAtoms)]
    fixed = set(fix.get_indices().tolist())
    z = tip.positions[:, 2]
    free = {i for i in range(len(tip)) if i not in fixed}
    assert free == set(np.flatnonzero(z < z.min() + 2.0).tolist())
    assert len(free) == 5 and tip.info["apex_index"] in free


def test_moments_ferro_base_and_mn_apex_antiparallel() -> None:
    fe = build_tip(apex="Fe").get_initial_magnetic_moments()
    assert np.all(fe > 2.0)
    mn_tip = build_tip(apex="Mn")
    m = mn_tip.get_initial_magnetic_moments()
    apex = mn_tip.info["apex_index"]
    assert mn_tip[apex].symbol == "Mn" and m[apex] < 0
    base = np.delete(m, apex)
    assert np.all(base > 0) and {a.symbol for i, a in enumerate(mn_tip) if i != apex} == {"Fe"}
    co = build_tip(apex="Co").get_initial_magnetic_moments()
    assert np.all(co > 0)


@pytest.mark.parametrize("kwargs", [{"apex": "Xx"}, {"base": "Ag"}, {"layers": 0}, {"layers": 2.5}, {"a_A": -1.0}])
def test_bad_input(kwargs: dict) -> None:
    with pytest.raises(InputError):
        build_tip(**kwargs)


def test_a_layer_tip_alone_keeps_its_layers_periodic_in_the_surface_cell() -> None:
    """Relaxed alone (the reference protocol's pre-step), a bcc110 tip must be what it is in the
    junction: its support layer periodic in the surface cell, not cut into a cluster."""
    from ase.neighborlist import neighbor_list

    from tipsurf.structures.mn_w110 import build_mn_w110

    tip = build_tip(apex="Fe", layers=2, base="Fe", a_A=3.17, shape="bcc110", layer_spacing_A=2.0, cell_size=(2, 1))
    slab = build_mn_w110(w_layers=1, size=(2, 1), one_sided=True)
    assert np.allclose(tip.cell.lengths()[:2], slab.cell.lengths()[:2])
    i, d = neighbor_list("id", tip, 3.1)
    apex_neighbours_A = np.sort(d[i == 0])
    # the apex in its bcc site under the support: 2 atoms at sqrt(1.585^2 + 2^2), 2 at sqrt(2.24^2 + 2^2)
    assert np.allclose(apex_neighbours_A, [2.552, 2.552, 3.003, 3.003], atol=2e-3)
    span_z = tip.positions[:, 2].max() - tip.positions[:, 2].min()
    assert tip.cell.lengths()[2] == pytest.approx(span_z + 2 * 6.0)  # vacuum below and above only
