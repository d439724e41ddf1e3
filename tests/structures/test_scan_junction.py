"""Floating junctions of a distance scan: supported bcc110 tip, one cell per scan, fragments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.constraints import FixAtoms

from tipsurf.errors import InputError
from tipsurf.structures import JunctionSpec, MnW110Spec, TipSpec, build_tip, spec_from_dict
from tipsurf.structures.junction import junction_fragment
from tipsurf.templates import load_template

A_W = 3.17
B_W = A_W * math.sqrt(2)
LAYER_A = 2.0
VACUUM_A = 8.0


def _spec(d: float = 4.5, config: str = "p", d_max: float | None = 6.5) -> JunctionSpec:
    return JunctionSpec(
        MnW110Spec(w_layers=1, size=(2, 1), one_sided=True, vacuum_A=5.0, mn_w_spacing_A=2.10),
        TipSpec(apex="Fe", layers=2, a_A=A_W, shape="bcc110", layer_spacing_A=LAYER_A, cell_size=(2, 1)),
        "top", 0, d, config, vacuum_above_tip_A=VACUUM_A, scan_d_max_A=d_max,
    )


def _fixed(atoms) -> list[int]:
    return sorted(int(i) for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.get_indices())


def test_bcc110_tip_fills_its_supercell_with_a_support_layer() -> None:
    tip = build_tip("Fe", 2, "Fe", A_W, shape="bcc110", layer_spacing_A=LAYER_A, cell_size=(2, 1))
    assert len(tip) == 5 and tip.info["cell_size"] == [2, 1]
    apex = tip.positions[0]
    support = tip.positions[1:] - apex
    assert np.allclose(support[:, 2], LAYER_A)
    # pseudomorphic c(2x2) layer of the 2x1 cell: (a/2 + i*a, 0) and (i*a, b/2), i = 0, 1
    xy = sorted(map(tuple, np.round(support[:, :2] % [2 * A_W, B_W], 6)))
    expected = sorted(map(tuple, np.round(np.array([[A_W / 2, 0], [1.5 * A_W, 0], [0, B_W / 2], [A_W, B_W / 2]]), 6)))
    assert xy == expected
    assert _fixed(tip) == [1, 2, 3, 4]  # the support layer only
    with pytest.raises(InputError, match="cell_size"):
        build_tip("Fe", 2, "Fe", A_W, shape="bcc110", cell_size=(0, 1))


@pytest.mark.parametrize("d", [4.5, 5.5])
def test_scan_points_share_cell_slab_and_dipole_plane(d: float) -> None:
    far, near = _spec(6.5).build(), _spec(d).build()
    n_surf = far.info["n_surface_atoms"]
    assert n_surf == 8 and len(far) == 13
    assert np.allclose(far.cell, near.cell)
    assert np.allclose(far.positions[:n_surf], near.positions[:n_surf])  # the slab does not move
    assert np.allclose(near.positions[n_surf:] - far.positions[n_surf:], [0.0, 0.0, d - 6.5])  # the tip does
    assert far.info["dipole_z_A"] == pytest.approx(near.info["dipole_z_A"])
    apex, mn1 = near.info["apex_index"], near.info["reference_indices"][0]
    assert np.allclose(near.positions[apex], near.positions[mn1] + [0, 0, d])
    # at d_max the tip's back is VACUUM_A below the slab image; nearer points have more vacuum
    slab_bottom = far.positions[:n_surf, 2].min() + far.cell[2, 2]
    assert slab_bottom - far.positions[n_surf:, 2].max() == pytest.approx(VACUUM_A)
    assert near.info["apex_image_distance_A"] == pytest.approx(B_W, abs=1e-3)  # 4.48 A


def test_scan_cell_equals_a_lone_junction_at_d_max_and_refuses_larger_d() -> None:
    lone, scan = _spec(6.5, d_max=None).build(), _spec(6.5).build()
    assert np.allclose(lone.positions, scan.positions) and np.allclose(lone.cell, scan.cell)
    with pytest.raises(InputError, match="largest distance"):
        _spec(7.0, d_max=6.5)
    assert "-of6.5-" in _spec(4.5).label() and "-of" not in _spec(6.5).label()
    assert spec_from_dict(_spec(4.5).as_dict()) == _spec(4.5)


def test_p_ap_differ_only_in_tip_signs() -> None:
    p, ap = _spec(config="p").build(), _spec(config="ap").build()
    assert np.allclose(p.positions, ap.positions)
    mp, map_ = p.get_initial_magnetic_moments(), ap.get_initial_magnetic_moments()
    tip = p.info["tip_indices"]
    surf = [i for i in range(len(p)) if i not in tip]
    assert np.allclose(mp[surf], map_[surf]) and np.allclose(mp[tip], -map_[tip])
    assert np.all(np.sign(mp[tip]) == np.sign(mp[p.info["reference_indices"][0]]))


def test_fragments_partition_the_junction() -> None:
    junction = _spec(4.5, "ap").build()
    slab, tip = junction_fragment(junction, "surface"), junction_fragment(junction, "tip")
    assert len(slab) + len(tip) == len(junction)
    assert np.allclose(np.vstack([slab.positions, tip.positions]), junction.positions)
    assert np.allclose(slab.cell, junction.cell) and np.allclose(tip.cell, junction.cell)
    assert tip.info["apex_index"] == 0 and tip.info["config"] is None and tip.info["fragment"] == "tip"
    assert "apex_index" not in slab.info and slab.info["kind"] == "fragment"
    assert _fixed(tip) == [1, 2, 3, 4]
    assert np.allclose(tip.get_initial_magnetic_moments(), junction.get_initial_magnetic_moments()[8:])
    with pytest.raises(InputError):
        junction_fragment(junction, "apex")


def test_demo_template_is_a_floating_scan_the_issue_accepts() -> None:
    demo = load_template("demo", "mn-w110-fe-floating")
    distances = demo["distances_A"]
    assert len(distances) >= 4 and max(distances) >= 6.5
    for d in distances:
        spec = spec_from_dict({**demo["junction"], "distance_A": d, "config": "ap", "scan_d_max_A": max(distances)})
        atoms = spec.build()
        assert atoms.info["apex_image_distance_A"] >= 4.4
    far = spec_from_dict({**demo["junction"], "distance_A": max(distances), "config": "p", "scan_d_max_A": max(distances)}).build()
    n_surf = far.info["n_surface_atoms"]
    assert far.positions[:n_surf, 2].min() + far.cell[2, 2] - far.positions[n_surf:, 2].max() >= 8.0 - 1e-9
    assert demo["reference_regime"]["sign"] in ("ferromagnetic", "antiferromagnetic")


def test_builds_of_one_spec_are_independent() -> None:
    spec = _spec(5.0)
    first = spec.build()
    first.info["tip_indices"].append(99)
    first.positions[0] += 1.0
    first.set_initial_magnetic_moments(first.get_initial_magnetic_moments() * 0)
    second = spec.build()
    assert 99 not in second.info["tip_indices"] and not np.allclose(second.positions[0], first.positions[0])
    assert np.any(second.get_initial_magnetic_moments() != 0)
