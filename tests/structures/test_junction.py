"""Tip over Mn/W(110) sites: distance, p/ap moments, metadata, constraints and sanity checks."""

from __future__ import annotations

import numpy as np
import pytest

from tipsurf.errors import InputError
from tipsurf.structures import build_junction, build_mn_w110, build_tip


@pytest.fixture(scope="module")
def surface():
    return build_mn_w110(size=(3, 2))


@pytest.mark.parametrize("site", ["top", "hollow"])
@pytest.mark.parametrize("apex", ["Fe", "Mn"])
def test_distance_and_p_ap(surface, site: str, apex: str) -> None:
    tip = build_tip(apex=apex)
    p = build_junction(surface, tip, site, 3, 4.5, "p")
    ap = build_junction(surface, tip, site, 3, 4.5, "ap")
    apex_i = p.info["apex_index"]
    refs = p.info["reference_indices"]
    assert p[apex_i].symbol == apex
    assert np.allclose(p.positions[refs, 2] + 4.5, p.positions[apex_i, 2])
    if site == "top":
        assert np.allclose(p.positions[refs[0], :2], p.positions[apex_i, :2])
    m_p, m_ap = p.get_initial_magnetic_moments(), ap.get_initial_magnetic_moments()
    ref_sign = np.sign(m_p[refs])
    assert len(set(ref_sign)) == 1
    assert np.sign(m_p[apex_i]) == ref_sign[0] and np.sign(m_ap[apex_i]) == -ref_sign[0]
    tip_idx = p.info["tip_indices"]
    surf_idx = [k for k in range(len(p)) if k not in tip_idx]
    assert np.allclose(m_p[surf_idx], m_ap[surf_idx])  # surface untouched
    assert np.allclose(m_p[tip_idx], -m_ap[tip_idx])  # only tip signs differ
    assert np.allclose(p.positions, ap.positions)
    assert p.get_chemical_symbols() == ap.get_chemical_symbols()
    base = [k for k in tip_idx if k != apex_i]
    relative = np.sign(m_p[apex_i]) * np.sign(m_p[base])
    assert np.all(relative == (-1 if apex == "Mn" else 1))  # Mn apex antiparallel to base


def test_metadata_constraints_and_vacuum(surface) -> None:
    tip = build_tip(apex="Co")
    j = build_junction(surface, tip, "hollow", 1, 5.0, "ap", vacuum_above_tip_A=8.0)
    info = j.info
    for key in ("site", "site_index", "distance_A", "config", "apex_index", "tip_indices", "reference_indices", "surface", "tip", "tip_layers"):
        assert key in info
    assert info["kind"] == "junction" and info["tip"] == "Co" and info["surface"] == "mn-w110"
    assert info["tip_layers"] == 3 and info["tip_indices"] == list(range(len(surface), len(j)))
    fixed = set(j.constraints[0].get_indices().tolist())
    tip_fixed = {len(surface) + k for k in tip.constraints[0].get_indices()}
    surf_fixed = set(surface.constraints[0].get_indices().tolist())
    assert fixed == tip_fixed | surf_fixed
    z = j.positions[:, 2]
    gap = j.cell[2, 2] - z.max() + z.min()
    assert np.isclose(gap, 8.0)


def test_errors(surface) -> None:
    tip = build_tip()
    with pytest.raises(InputError, match="distance"):
        build_junction(surface, tip, "top", 0, 0.0)
    with pytest.raises(InputError, match="distance"):
        build_junction(surface, tip, "top", 0, -2.0)
    with pytest.raises(InputError, match=r"atoms \d+ \(Mn\) and \d+ \(Fe\) are 1\.000 A apart"):
        build_junction(surface, tip, "top", 0, 1.0)
    with pytest.raises(InputError, match="outside"):
        build_junction(surface, tip, "top", 12, 5.0)
    with pytest.raises(InputError, match="site"):
        build_junction(surface, tip, "bridge", 0, 5.0)
    with pytest.raises(InputError, match="config"):
        build_junction(surface, tip, "top", 0, 5.0, "x")
    with pytest.raises(InputError, match="vacuum"):
        build_junction(surface, tip, "top", 0, 5.0, vacuum_above_tip_A=-1.0)
    with pytest.raises(InputError, match="periodic image"):
        build_junction(build_mn_w110(size=(1, 1)), tip, "top", 0, 5.0)


def test_h_h_rule_allows_h2_bond_only() -> None:
    from ase import Atoms

    from tipsurf.structures import check_min_distance

    check_min_distance(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]]))
    with pytest.raises(InputError, match=r"atoms 0 \(H\) and 1 \(H\) are 0\.500"):
        check_min_distance(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.5]]))
    with pytest.raises(InputError, match=r"\(Ti\) and 1 \(H\)"):
        check_min_distance(Atoms("TiH", positions=[[0, 0, 0], [0, 0, 1.2]]))
