"""Connected junction: bcc110 Fe tip in a 1x1 Mn/W(110) cell, bonded to the slab's periodic image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.constraints import FixAtoms

from tipsurf.errors import InputError
from tipsurf.structures import JunctionSpec, MnW110Spec, TipSpec, build_junction, build_mn_w110, build_tip, spec_from_dict
from tipsurf.structures.checks import closest_pair
from tipsurf.templates import load_template

A_W = 3.17
MN_W_A = 2.10
BOND_A = 2.05
LAYER_A = 2.0


def _spec(d: float = 4.5, config: str = "p", w_layers: int = 2, site: str = "top", bond: float | None = BOND_A) -> JunctionSpec:
    return JunctionSpec(
        MnW110Spec(w_layers=w_layers, size=(1, 1), one_sided=True, mn_w_spacing_A=MN_W_A),
        TipSpec(apex="Fe", layers=2, a_A=A_W, shape="bcc110", layer_spacing_A=LAYER_A),
        site, 0, d, config, connected_bond_A=bond,
    )


def _image_bottom_layer(atoms) -> np.ndarray:
    """Positions of the slab's bottom layer translated by the third cell vector (the image above)."""
    z = atoms.positions[:, 2]
    surf = [i for i in range(len(atoms)) if i not in atoms.info["tip_indices"]]
    bottom = [i for i in surf if abs(z[i] - z[surf].min()) < 0.1]
    return atoms.positions[bottom] + atoms.cell[2]


def _tip_top_layer(atoms) -> list[int]:
    tip = atoms.info["tip_indices"]
    ztop = atoms.positions[tip, 2].max()
    return [i for i in tip if abs(atoms.positions[i, 2] - ztop) < 0.1]


def test_bcc110_tip_shape() -> None:
    tip = build_tip("Fe", 3, "Fe", A_W, shape="bcc110", layer_spacing_A=LAYER_A)
    assert len(tip) == 5 and tip.info["tip_shape"] == "bcc110"
    apex = tip.positions[tip.info["apex_index"]]
    assert apex[2] == pytest.approx(tip.positions[:, 2].min())
    layer1 = tip.positions[1:3] - apex
    # bcc(110) stacking above the apex: (a/2, 0) and (0, a*sqrt2/2), one layer spacing up
    assert sorted(map(tuple, np.round(layer1, 6))) == sorted(
        [(A_W / 2, 0.0, LAYER_A), (0.0, round(A_W * math.sqrt(2) / 2, 6), LAYER_A)]
    )
    assert tip.info["tip_height_A"] == pytest.approx(2 * LAYER_A)
    fixed = sorted(i for c in tip.constraints if isinstance(c, FixAtoms) for i in c.get_indices())
    assert fixed == [3, 4]  # only the top (support) layer
    default = build_tip("Fe", 2, "Fe", A_W, shape="bcc110")
    assert default.info["layer_spacing_A"] == pytest.approx(A_W / math.sqrt(2))


@pytest.mark.parametrize("d", [3.5, 5.0])
def test_connected_geometry(d: float) -> None:
    atoms = _spec(d).build()
    assert len(atoms) == 9 and atoms.info["connected_bond_A"] == BOND_A
    slab_thickness = A_W / math.sqrt(2) + MN_W_A
    assert np.allclose(atoms.cell[2], [0.0, 0.0, slab_thickness + d + LAYER_A + BOND_A])
    apex, mn1 = atoms.info["apex_index"], atoms.info["reference_indices"][0]
    assert atoms[apex].symbol == "Fe" and atoms[mn1].symbol == "Mn"
    assert np.allclose(atoms.positions[apex], atoms.positions[mn1] + [0, 0, d])
    image = _image_bottom_layer(atoms)
    top = _tip_top_layer(atoms)
    assert len(top) == 2
    for i in top:
        rel = image - atoms.positions[i]
        assert np.allclose(rel[:, 2], BOND_A)
        # hollow (bcc stacking) site of the image layer: 2 W at sqrt((a/2)^2 + bond^2) once
        # the in-plane periodic images are counted; no W directly above
        lateral = np.array([np.linalg.norm(v - np.round(v / [A_W, A_W * math.sqrt(2)]) * [A_W, A_W * math.sqrt(2)]) for v in rel[:, :2]])
        assert sorted(np.round(lateral, 4)) == sorted(np.round([A_W / 2, A_W * math.sqrt(2) / 2], 4))
    pair = closest_pair(atoms, cutoff_A=2.4)
    assert pair is None  # shortest contacts incl. images: Fe-W 2.59, Fe-Fe 2.55 A


def test_p_ap_differ_only_in_tip_signs() -> None:
    p, ap = _spec(config="p").build(), _spec(config="ap").build()
    assert np.allclose(p.positions, ap.positions) and np.allclose(p.cell, ap.cell)
    mp, map_ = p.get_initial_magnetic_moments(), ap.get_initial_magnetic_moments()
    tip = p.info["tip_indices"]
    surf = [i for i in range(len(p)) if i not in tip]
    assert np.allclose(mp[surf], map_[surf])
    assert np.allclose(mp[tip], -map_[tip]) and np.all(mp[tip] != 0)
    mn1 = p.info["reference_indices"][0]
    assert np.all(np.sign(mp[tip]) == np.sign(mp[mn1]))  # whole tip parallel to Mn1 in p


def test_metadata_constraints_and_roundtrip() -> None:
    spec = _spec()
    atoms = spec.build()
    for key in ("site", "distance_A", "config", "apex_index", "tip_indices", "reference_indices", "surface", "tip", "tip_layers", "connected_bond_A"):
        assert key in atoms.info
    fixed = sorted(i for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.get_indices())
    assert fixed == [0, 1] + _tip_top_layer(atoms)  # bottom W layer and the tip's support layer
    again = spec_from_dict(spec.as_dict())
    assert again == spec and np.allclose(again.build().positions, atoms.positions)
    floating = JunctionSpec(spec.surface, spec.tip, "top", 0, 4.5, "p")
    assert floating.label() != spec.label() and "cb2.05" in spec.label()
    assert floating.build().info["connected_bond_A"] is None
    assert floating.build().cell[2, 2] > atoms.cell[2, 2] + 5  # the floating tip has vacuum above it


def test_odd_registry_tilts_cell_to_keep_hollows() -> None:
    atoms = _spec(w_layers=3).build()  # odd W layers: image bottom layer shifted by a/2
    image = _image_bottom_layer(atoms)
    for i in _tip_top_layer(atoms):
        lateral = (image - atoms.positions[i])[:, :2]
        lateral -= np.round(lateral / [A_W, A_W * math.sqrt(2)]) * [A_W, A_W * math.sqrt(2)]
        assert sorted(np.round(np.linalg.norm(lateral, axis=1), 4)) == sorted(np.round([A_W / 2, A_W * math.sqrt(2) / 2], 4))


@pytest.mark.parametrize(
    "change",
    [
        {"tip": TipSpec(apex="Fe", layers=3)},  # pyramid cannot connect
        {"tip": TipSpec(apex="Fe", layers=2, shape="bcc110")},  # a_A 2.85 != 3.17
        {"surface": MnW110Spec(w_layers=2, size=(2, 1), one_sided=True)},
        {"connected_bond_A": 0.5},
    ],
)
def test_bad_connected_specs(change: dict) -> None:
    fields = {
        "surface": MnW110Spec(w_layers=2, size=(1, 1), one_sided=True, mn_w_spacing_A=MN_W_A),
        "tip": TipSpec(apex="Fe", layers=2, a_A=A_W, shape="bcc110", layer_spacing_A=LAYER_A),
        "distance_A": 4.5, "connected_bond_A": BOND_A,
    }
    fields.update(change)
    with pytest.raises(InputError):
        JunctionSpec(**fields)


def test_demo_template_builds_connected_junctions() -> None:
    demo = load_template("demo", "mn-w110-fe")
    assert demo["preset"] == "demo"
    for d in demo["distances_A"]:
        for config in ("p", "ap"):
            spec = spec_from_dict({**demo["junction"], "distance_A": d, "config": config})
            assert isinstance(spec, JunctionSpec) and spec.connected_bond_A is not None
    assert spec.build().info["distance_A"] == demo["distances_A"][-1]


def test_demo_preset_writes_the_connected_input(shared_pseudo_dir, tmp_path) -> None:
    from tipsurf.config import Config
    from tipsurf.engines.presets import load_preset
    from tipsurf.engines.qe import QEEngine

    preset = load_preset("demo", code="qe")
    atoms = _spec(5.0, "ap").build()  # d = 5 A is the widest gap: still no dipole field
    QEEngine().write_inputs(atoms, preset, tmp_path, config=Config(pseudo_dir=shared_pseudo_dir, qe_version="6.7"))
    text = (tmp_path / "pw.in").read_text()
    assert "tefield" not in text and "nat = 9" in text
    assert "4 3 1  0 0 0" in text or "4 3 1 0 0 0" in text
    mags = {line.split("(")[1].split(")")[0]: float(line.split("=")[1]) for line in text.splitlines() if "starting_magnetization" in line}
    assert sorted(np.sign(list(mags.values()))) == [-1.0, -1.0, 0.0, 1.0]  # Mn1 +, Mn2 -, tip - (ap), W 0
