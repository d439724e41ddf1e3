"""Mn/W(110) slab: bcc(110) geometry and the c(2x2) antiferromagnetic Mn order."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from tipsurf.errors import InputError
from tipsurf.structures import build_mn_w110

A = 3.17


def test_counts_and_layers() -> None:
    slab = build_mn_w110(w_layers=5, size=(2, 3))
    per_layer = 2 * 2 * 3
    assert len(slab) == 7 * per_layer
    assert slab.get_chemical_symbols().count("Mn") == 2 * per_layer
    one = build_mn_w110(w_layers=5, size=(2, 3), one_sided=True)
    assert one.get_chemical_symbols().count("Mn") == per_layer
    top = slab.info["mn_top_indices"]
    assert all(slab[i].symbol == "Mn" for i in top)
    assert np.allclose(slab.positions[top, 2], slab.positions[:, 2].max())


def test_nearest_neighbours_are_bcc() -> None:
    slab = build_mn_w110(size=(2, 2))
    i, d = neighbor_list("id", slab, 3.0)
    assert np.allclose(d, A * math.sqrt(3) / 2, atol=1e-9)
    w_bulk = [k for k, s in enumerate(slab.get_chemical_symbols()) if s == "W" and slab.get_tags()[k] == 4]
    assert all(np.sum(i == k) == 8 for k in w_bulk)  # bulk-like W: 8 nearest neighbours
    z = np.unique(slab.positions[:, 2].round(6))
    assert np.allclose(np.diff(z), A / math.sqrt(2))


def test_c2x2_afm_rows() -> None:
    slab = build_mn_w110(size=(3, 3))
    top = slab.info["mn_top_indices"]
    m = slab.get_initial_magnetic_moments()[top]
    pos = slab.positions[top]
    assert np.allclose(np.abs(m), 3.5)
    row = np.round(pos[:, 1] / (A * math.sqrt(2) / 2)).astype(int)
    for r in np.unique(row):
        assert len(set(np.sign(m[row == r]))) == 1  # rows along [001] share a sign
    signs = {r: np.sign(m[row == r][0]) for r in np.unique(row)}
    assert all(signs[r] == -signs[r + 1] for r in signs if r + 1 in signs)  # neighbours alternate
    assert all(signs[r] == signs[r + 2] for r in signs if r + 2 in signs)  # period a*sqrt(2)
    w = [k for k, s in enumerate(slab.get_chemical_symbols()) if s == "W"]
    assert np.all(slab.get_initial_magnetic_moments()[w] == 0)


def test_ferro_order_same_geometry_all_mn_positive() -> None:
    afm = build_mn_w110(size=(2, 2))
    fm = build_mn_w110(size=(2, 2), mn_order="ferro")
    assert np.allclose(fm.positions, afm.positions) and fm.get_chemical_symbols() == afm.get_chemical_symbols()
    mn = [k for k, s in enumerate(fm.get_chemical_symbols()) if s == "Mn"]
    assert np.allclose(fm.get_initial_magnetic_moments()[mn], np.abs(afm.get_initial_magnetic_moments()[mn]))
    assert fm.info["mn_order"] == "ferro" and afm.info["mn_order"] == "c2x2-afm"
    assert fm.info["sites"] == afm.info["sites"]


def test_ferro_order_travels_through_the_spec() -> None:
    from tipsurf.structures.specs import MnW110Spec

    spec = MnW110Spec(w_layers=1, size=(2, 1), one_sided=True, mn_order="ferro")
    again = MnW110Spec.from_dict(spec.as_dict())
    assert again == spec and again.label().endswith("-1s-fm")
    assert MnW110Spec().label() == "mnw110-w5-1x1"  # the default order adds nothing to labels
    with pytest.raises(InputError, match="Mn order 'afm'; choose one of: c2x2-afm, ferro"):
        MnW110Spec(mn_order="afm")


def test_sites_and_references() -> None:
    slab = build_mn_w110(size=(2, 2))
    m = slab.get_initial_magnetic_moments()
    cell = np.diag(slab.cell)[:2]
    for k, entry in enumerate(slab.info["sites"]["top"]):
        assert entry["reference_indices"] == [slab.info["mn_top_indices"][k]]
        assert np.allclose(entry["xy_A"], slab.positions[entry["reference_indices"][0], :2])
    for entry in slab.info["sites"]["hollow"]:
        refs = entry["reference_indices"]
        assert len(refs) == 2 and len(set(np.sign(m[refs]))) == 1
        delta = slab.positions[refs, :2] - entry["xy_A"]
        delta -= np.round(delta / cell) * cell
        assert np.allclose(np.linalg.norm(delta, axis=1), A / 2)
        # the hollow sits above a W atom of the layer below (bcc continuation site)
        sub = [k for k in range(len(slab)) if slab.get_tags()[k] == 2]
        dsub = slab.positions[sub, :2] - entry["xy_A"]
        dsub -= np.round(dsub / cell) * cell
        assert np.min(np.linalg.norm(dsub, axis=1)) < 1e-9


def test_constraints_free_mn_and_the_w_layer_under_it() -> None:
    slab = build_mn_w110()  # symmetric: Mn / 5 W / Mn, tags 1..7 from the top
    fixed = slab.constraints[0].get_indices()
    assert set(slab.get_tags()[fixed]) == {3, 4, 5}
    one_sided = build_mn_w110(w_layers=3, one_sided=True)  # Mn / W / W / W
    assert set(one_sided.get_tags()[one_sided.constraints[0].get_indices()]) == {3, 4}
    thin = build_mn_w110(w_layers=1, one_sided=True)  # too thin: its W layer stays fixed
    assert set(thin.get_tags()[thin.constraints[0].get_indices()]) == {2}


@pytest.mark.parametrize("kwargs", [{"w_layers": 0}, {"size": (0, 1)}, {"size": (2,)}, {"a_A": 0.0}, {"vacuum_A": -1.0},
                                    {"mn_order": "AFM"}])
def test_bad_input(kwargs: dict) -> None:
    with pytest.raises(InputError):
        build_mn_w110(**kwargs)
