"""Bader charges/moments (Yu–Trinkle weight method) on analytic densities, and volumetric I/O."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp
from scipy.optimize import minimize_scalar
from scipy.special import erf

from tipsurf.analysis.bader import bader_analysis, voronoi_neighbours
from tipsurf.analysis.volumetric import (
    BOHR_A,
    VolumetricGrid,
    check_same_grid,
    periodic_gaussian_density,
    read_bader_inputs,
    read_cube,
    read_cube_pair,
)
from tipsurf.errors import InputError


def _periodic_erf_fraction(centre: float, sigma: float, a: float, b: float, period: float) -> float:
    """Fraction of a periodic 1D normalised Gaussian lying in [a, b]."""
    k = np.arange(-4, 5)
    c = centre + k * period
    return float(np.sum(0.5 * (erf((b - c) / (np.sqrt(2) * sigma)) - erf((a - c) / (np.sqrt(2) * sigma)))))


def test_symmetric_quadrants_give_exact_charges_and_same_volume_moments() -> None:
    """Four identical charge Gaussians at (L/4|3L/4, L/4|3L/4, L/2) in a cubic periodic box.

    Reasoning: ρ is invariant under the mirrors x → L − x and y → L − y that swap atoms, so the
    planes x = 0, L/2 and y = 0, L/2 carry no gradient flux: they are zero-flux surfaces and each
    Bader volume is exactly one quadrant prism [0, L/2] × [0, L/2] × [0, L] (only one maximum per
    quadrant).  Hence every charge is exactly q and every volume L³/4.  The spin density uses a
    *different* Gaussian (moment m_i, width s_i) per atom, so the moments depend on integrating
    ALL spin Gaussians over the charge quadrants; the exact value factorises into products of
    1D erf integrals.  A partition of the spin density by its own maxima would give m_i instead
    (off by up to 0.07 μB here), which this test would catch.
    """
    length, n = 8.0, 60
    cell = np.diag([length] * 3)
    centres = np.array([[length / 4, length / 4, length / 2], [3 * length / 4, length / 4, length / 2],
                        [length / 4, 3 * length / 4, length / 2], [3 * length / 4, 3 * length / 4, length / 2]])
    q = np.full(4, 6.0)
    m = np.array([2.0, -1.0, 0.5, 3.0])
    s = np.array([0.6, 0.9, 1.2, 0.7])
    grid = VolumetricGrid(
        symbols=["Fe", "Mn", "Co", "Fe"],
        positions_A=centres,
        cell_A=cell,
        total_e_per_A3=periodic_gaussian_density(cell, (n, n, n), centres, q, np.full(4, 1.0)),
        spin_muB_per_A3=periodic_gaussian_density(cell, (n, n, n), centres, m, s),
    )
    res = bader_analysis(grid, vacuum_threshold_e_per_bohr3=None, valences={"Fe": 8, "Mn": 7, "Co": 9})
    half = length / 2
    quadrants = [(0, half, 0, half), (half, length, 0, half), (0, half, half, length), (half, length, half, length)]
    exact_moment = [
        sum(m[k] * _periodic_erf_fraction(centres[k, 0], s[k], x0, x1, length)
            * _periodic_erf_fraction(centres[k, 1], s[k], y0, y1, length) for k in range(4))
        for x0, x1, y0, y1 in quadrants
    ]
    assert res.n_maxima == 4
    np.testing.assert_allclose(res.charge_e, q, atol=1e-3)
    np.testing.assert_allclose(res.moment_muB, exact_moment, atol=1e-3)
    np.testing.assert_allclose(res.volume_A3, length**3 / 4, rtol=1e-9)
    np.testing.assert_allclose(res.net_charge_e, np.array([8, 7, 9, 8]) - res.charge_e)
    assert max(abs(np.array(exact_moment) - m)) > 0.05  # own-maxima partition would fail


class _AxisymmetricPair:
    """Reference Bader partition of two Gaussians on a periodic chain along x, by exact ascent.

    The chain (atoms A, B and their x-images on one line) is axisymmetric about that line, so
    the zero-flux surfaces are surfaces of revolution x = s(r).  Each is the set of steepest-
    ascent paths ending at a bond critical point (density minimum on the axis between two
    atoms); it is traced by integrating dx/dr = ρ_x / ρ_r away from the critical point.  The
    charge (moment) of A is then a 1D quadrature over r of analytic erf integrals along x
    between the two surfaces bounding A.  The y/z box is wide enough that y/z images change
    nothing within 1e-7.
    """

    def __init__(self, period: float, xs: np.ndarray, q: np.ndarray, sq: np.ndarray) -> None:
        self.period, self.xs, self.q, self.sq = period, xs, q, sq
        self.k = np.arange(-3, 4)
        right = self._separatrix(xs[0], xs[1])
        left = self._separatrix(xs[1], xs[0] + period)
        self.right, self.left = right, left

    def _rho(self, x: float, r: float) -> tuple[float, float, float]:
        val = dx = dr = 0.0
        for xk, wk, sk in zip(self.xs, self.q, self.sq):
            d = x - xk - self.k * self.period
            g = np.exp(-d * d / (2 * sk * sk)) / np.sqrt(2 * np.pi * sk * sk)
            h = wk * np.exp(-r * r / (2 * sk * sk)) / (2 * np.pi * sk * sk)
            val += g.sum() * h
            dx += (-d / (sk * sk) * g).sum() * h
            dr += g.sum() * h * (-r / (sk * sk))
        return val, dx, dr

    def _separatrix(self, x0: float, x1: float):
        xb = minimize_scalar(lambda x: self._rho(x, 0.0)[0], bounds=(x0, x1), method="bounded",
                             options={"xatol": 1e-12}).x

        def slope(r: float, y: np.ndarray) -> list[float]:
            _, dx, dr = self._rho(float(y[0]), r)
            return [dx / dr]

        return solve_ivp(slope, (1e-6, 7.5), [xb], rtol=1e-11, atol=1e-12, dense_output=True).sol

    def basin_integral_a(self, w: np.ndarray, s: np.ndarray) -> float:
        """Integral over A's basin of Σ_k w_k · Gaussian(x_k, s_k)."""

        def integrand(r: float) -> float:
            a, b = float(self.left(r)[0]) - self.period, float(self.right(r)[0])
            tot = 0.0
            for xk, wk, sk in zip(self.xs, w, s):
                tot += wk * np.exp(-r * r / (2 * sk * sk)) / (2 * np.pi * sk * sk) * _periodic_erf_fraction(xk, sk, a, b, self.period)
            return 2 * np.pi * r * tot

        return quad(integrand, 1e-6, 7.5, epsabs=1e-12, epsrel=1e-12, limit=200)[0]


def test_asymmetric_pair_matches_exact_steepest_ascent_reference() -> None:
    """Two overlapping Gaussians of different weight and width: curved zero-flux surfaces.

    The reference (see :class:`_AxisymmetricPair`) is independent of the grid; the weight method
    on an isotropic 0.1 Å grid (80×120×120) must reproduce charge and moment within 1e-3.
    The exact Bader charge (≈ 7.9185) differs from the Gaussian weight 8 — the test would catch
    a method that simply returned q_i.
    """
    period, side = 8.0, 12.0
    xs = np.array([2.0, 6.0])
    q, sq = np.array([8.0, 4.0]), np.array([1.0, 0.8])
    m, sm = np.array([3.0, -2.0]), np.array([0.6, 1.0])
    ref = _AxisymmetricPair(period, xs, q, sq)
    charge_a, moment_a = ref.basin_integral_a(q, sq), ref.basin_integral_a(m, sm)
    assert abs(charge_a - 8.0) > 0.05
    cell = np.diag([period, side, side])
    shape = (80, 120, 120)
    centres = np.array([[xs[0], side / 2, side / 2], [xs[1], side / 2, side / 2]])
    grid = VolumetricGrid(["Fe", "Co"], centres, cell,
                          periodic_gaussian_density(cell, shape, centres, q, sq),
                          periodic_gaussian_density(cell, shape, centres, m, sm))
    res = bader_analysis(grid, vacuum_threshold_e_per_bohr3=None)
    assert abs(res.charge_e[0] - charge_a) < 1e-3
    assert abs(res.charge_e[1] - (12.0 - charge_a)) < 1e-3
    assert abs(res.moment_muB[0] - moment_a) < 1e-3
    assert abs(res.moment_muB[1] - (1.0 - moment_a)) < 1e-3


def test_reference_density_defines_volumes_and_vacuum_is_reported() -> None:
    """Partition on a reference; charge integrated from another field; vacuum below threshold.

    A single Gaussian atom in a big box: the points under the threshold are vacuum (their charge
    is the analytic charge outside the radius where ρ equals the threshold), and the
    atom + vacuum charges add up to the cell total (nothing lost).  With a reference density
    identical to the charge, the result equals the plain partition.
    """
    cell = np.diag([10.0, 10.0, 10.0])
    centres = np.array([[5.0, 5.0, 5.0]])
    rho = periodic_gaussian_density(cell, (40, 40, 40), centres, np.array([4.0]), np.array([0.7]))
    grid = VolumetricGrid(["Ti"], centres, cell, rho, 0.25 * rho)
    res = bader_analysis(grid)  # default threshold 1e-3 e/bohr³
    assert res.vacuum_volume_A3 > 0.5 * grid.volume_A3
    thr = 1e-3 / BOHR_A**3
    r_star = 0.7 * np.sqrt(2 * np.log(4.0 / (2 * np.pi * 0.49) ** 1.5 / thr))  # radius where ρ = threshold
    x = r_star / 0.7
    outside = 4.0 * (1 - erf(x / np.sqrt(2)) + np.sqrt(2 / np.pi) * x * np.exp(-x * x / 2))
    assert res.vacuum_charge_e == pytest.approx(outside, abs=0.01)  # analytic charge outside the sphere
    assert res.charge_e[0] + res.vacuum_charge_e == pytest.approx(4.0, abs=1e-9)
    assert res.moment_muB[0] + res.vacuum_moment_muB == pytest.approx(1.0, abs=1e-9)
    again = bader_analysis(grid, reference_e_per_A3=rho.copy())
    assert again.charge_e[0] == pytest.approx(res.charge_e[0], abs=1e-12)
    with pytest.raises(InputError, match="no valence"):
        bader_analysis(grid, valences={"Fe": 8})


def test_voronoi_neighbours_general_cell_sum_rule() -> None:
    """For any lattice, Σ_j (A_j/|R_j|) R_j ⊗ R_j = 2 V_cell · I (Voronoi cell identity).

    Checked for an orthorhombic grid (6 face neighbours) and a hexagonal/triclinic one.
    """
    for cell, shape, expect_n in [
        (np.diag([6.0, 8.0, 10.0]), (30, 40, 50), 6),
        (np.array([[3.0, 0, 0], [-1.5, 2.598, 0], [0.4, 0.3, 5.0]]), (20, 20, 30), None),
    ]:
        offsets, alpha = voronoi_neighbours(cell, shape)
        step = cell / np.array(shape)[:, None]
        vectors = offsets @ step
        tensor = np.einsum("j,ja,jb->ab", alpha, vectors, vectors)
        vol = abs(np.linalg.det(step))
        np.testing.assert_allclose(tensor, 2 * vol * np.eye(3), atol=1e-9 * vol)
        if expect_n is not None:
            assert len(offsets) == expect_n
        assert len(offsets) % 2 == 0 and len(offsets) <= 14


def test_general_cell_partition_conserves_and_symmetric() -> None:
    """Non-orthogonal (hexagonal) cell: two identical Gaussians related by inversion share charge.

    The atoms at ±u about the cell centre are swapped by inversion through the centre, a
    symmetry of the periodic density, so each gets half the total.
    """
    cell = np.array([[6.0, 0, 0], [-3.0, 5.196152, 0], [0, 0, 6.0]])
    frac = np.array([[1 / 3, 2 / 3, 0.3], [2 / 3, 1 / 3, 0.7]])
    centres = frac @ cell
    rho = periodic_gaussian_density(cell, (36, 36, 36), centres, np.array([5.0, 5.0]), np.array([0.9, 0.9]), n_images=1)
    grid = VolumetricGrid(["Fe", "Fe"], centres, cell, rho)
    res = bader_analysis(grid, vacuum_threshold_e_per_bohr3=None)
    total = grid.total_electrons()
    assert res.charge_e.sum() == pytest.approx(total, abs=1e-9)
    np.testing.assert_allclose(res.charge_e, total / 2, atol=2e-3)
    assert res.moment_muB is None


def _write_cube(path, cell_bohr, shape, numbers, pos_bohr, values, n_values=None) -> None:
    lines = ["cube test", "written by test", f"{len(numbers):5d} 0.0 0.0 0.0"]
    for ax in range(3):
        v = cell_bohr[ax] / shape[ax]
        lines.append(f"{shape[ax]:5d} {v[0]:.8f} {v[1]:.8f} {v[2]:.8f}")
    for z, p in zip(numbers, pos_bohr):
        lines.append(f"{z:5d} {float(z):.4f} {p[0]:.6f} {p[1]:.6f} {p[2]:.6f}")
    flat = values.ravel()[: n_values if n_values is not None else values.size]
    lines += [" ".join(f"{x:.8E}" for x in flat[i:i + 6]) for i in range(0, flat.size, 6)]
    path.write_text("\n".join(lines) + "\n")


def test_cube_reader_units_and_consistency(tmp_path) -> None:
    """Cube (bohr, e/bohr³) → Å and e/Å³: the integral (number of electrons) is unit-free."""
    cell_bohr = np.diag([12.0, 12.0, 14.0])
    shape = (24, 24, 28)
    cell_A = cell_bohr * BOHR_A
    centres_A = np.array([[3.0, 3.0, 3.5], [3.0, 3.0, 6.0]])
    rho_A = periodic_gaussian_density(cell_A, shape, centres_A, np.array([3.0, 2.0]), np.array([0.7, 0.7]))
    _write_cube(tmp_path / "tot.cube", cell_bohr, shape, [26, 8], centres_A / BOHR_A, rho_A * BOHR_A**3)
    _write_cube(tmp_path / "spin.cube", cell_bohr, shape, [26, 8], centres_A / BOHR_A, 0.1 * rho_A * BOHR_A**3)
    grid = read_cube_pair(tmp_path / "tot.cube", tmp_path / "spin.cube")
    assert grid.symbols == ["Fe", "O"]
    np.testing.assert_allclose(grid.positions_A, centres_A, atol=1e-5)
    assert grid.total_electrons() == pytest.approx(5.0, rel=1e-6)
    assert grid.integrate(grid.spin_muB_per_A3) == pytest.approx(0.5, rel=1e-6)
    grid2, ref = read_bader_inputs([tmp_path / "tot.cube", tmp_path / "spin.cube"], reference=[tmp_path / "tot.cube"])
    np.testing.assert_allclose(ref, grid2.total_e_per_A3)
    # truncated file
    _write_cube(tmp_path / "short.cube", cell_bohr, shape, [26, 8], centres_A / BOHR_A, rho_A, n_values=rho_A.size - 7)
    with pytest.raises(InputError, match="truncated"):
        read_cube(tmp_path / "short.cube")
    # grid mismatch between total and spin
    small = periodic_gaussian_density(cell_A, (12, 12, 14), centres_A, np.array([3.0, 2.0]), np.array([0.7, 0.7]))
    _write_cube(tmp_path / "coarse.cube", cell_bohr, (12, 12, 14), [26, 8], centres_A / BOHR_A, small)
    with pytest.raises(InputError, match="grids differ"):
        read_cube_pair(tmp_path / "tot.cube", tmp_path / "coarse.cube")
    _write_cube(tmp_path / "moved.cube", cell_bohr, shape, [26, 8], centres_A / BOHR_A + 0.5, rho_A)
    with pytest.raises(InputError, match="positions differ"):
        check_same_grid(grid, read_cube(tmp_path / "moved.cube")[0], what="a and b")


def test_chgcar_roundtrip_and_cli(tmp_path) -> None:
    """A spin CHGCAR written by pymatgen is read back (ρ·V convention) and analysed by the CLI."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.vasp.outputs import Chgcar

    from tipsurf.cli import main

    length, n = 7.0, 40
    cell = np.diag([length] * 3)
    centres = np.array([[length / 4, length / 2, length / 2], [3 * length / 4, length / 2, length / 2]])
    rho = periodic_gaussian_density(cell, (n, n, n), centres, np.array([8.0, 8.0]), np.array([0.9, 0.9]))
    spin = periodic_gaussian_density(cell, (n, n, n), centres, np.array([2.0, -2.0]), np.array([0.6, 0.6]))
    struct = Structure(Lattice(cell), ["Fe", "Fe"], centres, coords_are_cartesian=True)
    vol = length**3
    Chgcar(struct, {"total": rho * vol, "diff": spin * vol}).write_file(str(tmp_path / "CHGCAR"))
    out = tmp_path / "bader.json"
    code = main(["analyze", "bader", str(tmp_path / "CHGCAR"), "--valence", "Fe=8", "--vacuum", "0", "-o", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    charges = [a["charge_e"] for a in data["atoms"]]
    moments = [a["moment_muB"] for a in data["atoms"]]
    np.testing.assert_allclose(charges, 8.0, atol=2e-3)  # mirror plane: exactly half each
    assert moments[0] == pytest.approx(-moments[1], abs=1e-6) and moments[0] > 1.9
    assert data["atoms"][0]["net_charge_e"] == pytest.approx(8.0 - charges[0])
    csv_out = tmp_path / "bader.csv"
    assert main(["analyze", "bader", str(tmp_path / "CHGCAR"), "-o", str(csv_out)]) == 0
    assert csv_out.read_text().splitlines()[0] == "index,symbol,charge_e,net_charge_e,moment_muB,volume_A3"
    # partition on AECCAR0 + AECCAR2 (sharp core + valence): same mirror-plane answer
    core = periodic_gaussian_density(cell, (n, n, n), centres, np.array([10.0, 10.0]), np.array([0.25, 0.25]))
    Chgcar(struct, {"total": core * vol}).write_file(str(tmp_path / "AECCAR0"))
    Chgcar(struct, {"total": rho * vol}).write_file(str(tmp_path / "AECCAR2"))
    ref_out = tmp_path / "bader_ref.json"
    assert main(["analyze", "bader", str(tmp_path / "CHGCAR"), "--reference", str(tmp_path / "AECCAR0"),
                 str(tmp_path / "AECCAR2"), "--vacuum", "0", "-o", str(ref_out)]) == 0
    ref_data = json.loads(ref_out.read_text())
    assert ref_data["meta"]["partition"] == "reference"
    np.testing.assert_allclose([a["charge_e"] for a in ref_data["atoms"]], 8.0, atol=2e-3)
    coarse = periodic_gaussian_density(cell, (20, 20, 20), centres, np.array([10.0, 10.0]), np.array([0.25, 0.25]))
    Chgcar(struct, {"total": coarse * vol}).write_file(str(tmp_path / "AECCAR0_coarse"))
    bad_ref = tmp_path / "bad_ref.json"
    assert main(["analyze", "bader", str(tmp_path / "CHGCAR"), "--reference", str(tmp_path / "AECCAR0_coarse"),
                 str(tmp_path / "AECCAR2"), "-o", str(bad_ref)]) != 0
    assert not bad_ref.exists()
    bad = tmp_path / "bad.json"
    assert main(["analyze", "bader", str(tmp_path / "CHGCAR"), "--valence", "Fe8", "-o", str(bad)]) != 0
    assert not bad.exists()
