"""Superposed-fragment starting densities: translation, flips, weights and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tipsurf.engines.qe.charge_density import ChargeDensity, read_charge_density, write_charge_density
from tipsurf.engines.qe.gvectors import qe_miller_order
from tipsurf.engines.qe.superpose import DensityPart, superpose_densities, write_superposed_density
from tipsurf.errors import InputError

BOHR_PER_A = 1.0 / 0.529177210903
ECUTRHO_RY = 60.0


def _density(cell_A: np.ndarray, centres_A: list[list[float]], polarisation: float) -> ChargeDensity:
    """Normalised Gaussians (2 e each) with magnetisation = polarisation x density, pw.x G order."""
    cell_bohr = cell_A * BOHR_PER_A
    b = 2 * np.pi * np.linalg.inv(cell_bohr).T
    miller = qe_miller_order(b, ECUTRHO_RY, float(np.linalg.norm(cell_bohr[0])))
    g = miller @ b
    form = np.exp(-0.25 * (0.35 * BOHR_PER_A) ** 2 * (g**2).sum(axis=1))
    total = np.zeros(len(miller), complex)
    for centre in centres_A:
        total += 2.0 * form * np.exp(-1j * g @ (np.asarray(centre) * BOHR_PER_A)) / abs(np.linalg.det(cell_bohr))
    return ChargeDensity(False, b, miller, np.stack([total, polarisation * total]))


def _save(tmp_path: Path, name: str, density: ChargeDensity) -> str:
    folder = tmp_path / name
    folder.mkdir()
    write_charge_density(folder / "charge-density.dat", density)
    return str(folder)


CELL = np.diag([2.5, 2.5, 12.0])


def test_translated_flipped_sum_equals_the_density_of_the_moved_parts(tmp_path: Path) -> None:
    slab = _save(tmp_path, "slab", _density(CELL, [[0, 0, 2.0]], -0.2))
    tip = _save(tmp_path, "tip", _density(CELL, [[1.25, 1.25, 6.0]], 0.5))
    summed, diag = superpose_densities([DensityPart(slab), DensityPart(tip, shift_z_A=1.5, flip_magnetization=True)])
    expected_total = _density(CELL, [[0, 0, 2.0]], 1.0).rho_g[0] + _density(CELL, [[1.25, 1.25, 7.5]], 1.0).rho_g[0]
    expected_mag = -0.2 * _density(CELL, [[0, 0, 2.0]], 1.0).rho_g[0] - 0.5 * _density(CELL, [[1.25, 1.25, 7.5]], 1.0).rho_g[0]
    assert np.allclose(summed.rho_g[0], expected_total, atol=1e-12)
    assert np.allclose(summed.rho_g[1], expected_mag, atol=1e-12)
    assert diag["electrons"] == pytest.approx(4.0, abs=1e-9)
    assert diag["magnetization_muB"] == pytest.approx(2 * (-0.2) - 2 * 0.5, abs=1e-9)


def test_full_period_shift_is_identity_and_weight_minus_one_removes_a_part(tmp_path: Path) -> None:
    tip_density = _density(CELL, [[0, 0, 5.0]], 0.4)
    tip = _save(tmp_path, "tip", tip_density)
    same, _ = superpose_densities([DensityPart(tip, shift_z_A=12.0)])
    assert np.allclose(same.rho_g, tip_density.rho_g, atol=1e-12)
    nothing, diag = superpose_densities([DensityPart(tip), DensityPart(tip, weight=-1.0)])
    assert np.abs(nothing.rho_g).max() == 0.0
    assert diag["electrons"] == 0.0


def test_write_checks_the_electron_count_and_pw_reads_the_file_back(tmp_path: Path) -> None:
    slab = _save(tmp_path, "slab", _density(CELL, [[0, 0, 2.0]], 0.0))
    tip = _save(tmp_path, "tip", _density(CELL, [[0, 0, 6.0]], 0.5))
    with pytest.raises(InputError, match="do not add up"):
        write_superposed_density([DensityPart(slab)], tmp_path / "j1", expected_electrons=4.0)
    assert not (tmp_path / "j1" / "charge-density.dat").exists()
    info = write_superposed_density([DensityPart(slab), DensityPart(tip)], tmp_path / "j2", expected_electrons=4.0)
    back = read_charge_density(tmp_path / "j2")
    assert info["files"] == ["charge-density.dat"]
    assert back.electrons == pytest.approx(4.0, abs=1e-9)


def test_parts_from_another_cell_are_refused(tmp_path: Path) -> None:
    slab = _save(tmp_path, "slab", _density(CELL, [[0, 0, 2.0]], 0.0))
    other = _save(tmp_path, "other", _density(np.diag([2.5, 2.5, 13.0]), [[0, 0, 6.0]], 0.5))
    with pytest.raises(InputError, match="another cell"):
        superpose_densities([DensityPart(slab), DensityPart(other)])
    with pytest.raises(InputError, match="at least one"):
        superpose_densities([])
    part = DensityPart(slab, 0.5, -1.0, True)
    assert DensityPart.from_dict(part.as_dict()) == part
