"""pw.x's G-vector order, and a converged density moved across the gap of a taller or shorter cell.

Distance scans start each point from the converged density of the neighbouring distance.
When the cell height changes with the tip-surface distance (the tip moves up by Δd and
the cell grows by Δd), pw.x 6.7 cannot reuse the old ``charge-density.dat`` as it is:
it reads the G components in its *own* G-vector order without matching the Miller
indices stored in the file, so a density of another cell arrives scrambled (first SCF
error of thousands of Ry, negative charge).

The shift moves the part of the converged density above a plane ``z_split_A`` (the
gap mid-plane) up by Δz = c_new − c_old, fills the opened slab with the density of the
mid-plane (Δz > 0) or removes a slab (Δz < 0), renormalises the electron count and
writes the result for the new cell in the exact G order pw.x 6.7 generates (serial run,
:func:`qe_miller_order`): G vectors inside the ``ecutrho`` sphere generated in loop order
(i, j, k), then sorted by |G|² with a tolerance of 1e-8 (units of (2π/alat)²), ties keeping
generation order; with ``gamma_only`` only the half sphere i > 0, (i = 0, j > 0),
(i = j = 0, k ≥ 0).

The transformation is done column by column in G space: for a cell whose third vector
is along z and perpendicular to the first two, the in-plane Miller indices (h, k) are
untouched and the z-coefficients of each column transform with one matrix whose
elements are the exact Fourier integrals of the piecewise remapped function (no
real-space grid, no aliasing; Δz = 0 reproduces the input).  When to shift is decided in
:mod:`tipsurf.engines.qe.restart`; the file format is :mod:`tipsurf.engines.qe.charge_density`.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tipsurf.engines.qe.charge_density import DENSITY_FILE, ChargeDensity, read_charge_density, write_charge_density
from tipsurf.errors import InputError, OutputError

__all__ = ["CELL_TOLERANCE_A", "check_cells", "qe_miller_order", "shift_density", "shift_density_for_new_cell"]

#: pw.x's tolerance for equal |G|² when sorting G vectors (units of tpiba²).
_EPS8 = 1e-8
#: Two cells are "the same" within this length (Angstrom).
CELL_TOLERANCE_A = 1e-6


# --------------------------------------------------------------------------- pw.x G order


def qe_miller_order(
    b_vectors_per_bohr: np.ndarray, ecutrho_Ry: float, alat_bohr: float, gamma_only: bool = False
) -> np.ndarray:
    """Miller indices of the dense G sphere in the order of a serial pw.x 6.7 run.

    Parameters
    ----------
    b_vectors_per_bohr
        Reciprocal vectors as rows (1/bohr, with 2π).
    ecutrho_Ry
        Density cut-off: G² ≤ ecutrho (Ry, G in 1/bohr).
    alat_bohr
        pw.x's lattice parameter (length of the first cell vector for ``ibrav = 0``); sets
        the units of the 1e-8 tolerance of the |G|² sort.
    gamma_only
        Keep only the half sphere used with Γ-point tricks.

    Returns
    -------
    numpy.ndarray
        (n_g, 3) integer Miller indices.
    """
    b = np.asarray(b_vectors_per_bohr, dtype=float)
    a = 2 * np.pi * np.linalg.inv(b).T
    g_max = np.sqrt(float(ecutrho_Ry))
    bounds = [int(g_max * np.linalg.norm(a[i]) / (2 * np.pi)) + 1 for i in range(3)]
    grids = np.meshgrid(*[np.arange(-n, n + 1) for n in bounds], indexing="ij")
    miller = np.stack([g.ravel() for g in grids], axis=1)  # generation order: i, then j, then k
    if gamma_only:
        i, j, k = miller.T
        miller = miller[(i > 0) | ((i == 0) & (j > 0)) | ((i == 0) & (j == 0) & (k >= 0))]
    tpiba2 = (2 * np.pi / float(alat_bohr)) ** 2
    g2 = ((miller @ b) ** 2).sum(axis=1) / tpiba2
    inside = g2 <= float(ecutrho_Ry) / tpiba2
    miller, g2 = miller[inside], np.where(g2[inside] > _EPS8, g2[inside], 0.0)
    return miller[_sort_with_tolerance(g2)]


def _sort_with_tolerance(values: np.ndarray) -> np.ndarray:
    """Ascending order in which values within 1e-8 of their neighbour keep generation order."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    group = np.concatenate([[0], np.cumsum(np.diff(sorted_values) > _EPS8)])
    return order[np.lexsort((order, group))]


# --------------------------------------------------------------------------- the shift


def check_cells(old_cell_A: np.ndarray, new_cell_A: np.ndarray) -> None:
    """InputError unless the two cells differ at most in the height of a third vector along z.

    Parameters
    ----------
    old_cell_A, new_cell_A
        Cells as rows (Angstrom).
    """
    for name, cell in (("old", old_cell_A), ("new", new_cell_A)):
        if cell.shape != (3, 3):
            raise InputError(f"the {name} cell must be a 3x3 matrix of row vectors (Angstrom)")
        if np.abs(cell[:2, 2]).max() > CELL_TOLERANCE_A or np.abs(cell[2, :2]).max() > CELL_TOLERANCE_A:
            raise InputError(
                f"the {name} cell's third vector must be along z and the first two in the xy plane "
                "for a shifted restart; start cold instead"
            )
    if np.abs(old_cell_A[:2] - new_cell_A[:2]).max() > CELL_TOLERANCE_A:
        raise InputError("the in-plane cell vectors differ; a shifted restart only changes the cell height")


def _bohr_per_A(density: ChargeDensity, old_cell_A: np.ndarray) -> float:
    """pw.x's Angstrom→bohr factor, read back from the file; checks that the cell matches."""
    cell_bohr = density.cell_bohr
    factor = float(np.linalg.norm(cell_bohr[0]) / np.linalg.norm(old_cell_A[0]))
    if not np.allclose(cell_bohr, factor * old_cell_A, rtol=1e-6, atol=1e-6 * np.abs(cell_bohr).max()):
        raise InputError("the old cell does not match the reciprocal vectors stored in the charge density file")
    return factor


def _segment_integral(q_per_A: np.ndarray, start_A: float, stop_A: float) -> np.ndarray:
    """∫ exp(i q z) dz from start to stop, elementwise in q (stable for q → 0)."""
    length = stop_A - start_A
    if length <= 0:
        return np.zeros_like(q_per_A, dtype=complex)
    half = 0.5 * q_per_A * length
    centre = 0.5 * (start_A + stop_A)
    return length * np.sinc(half / np.pi) * np.exp(1j * q_per_A * centre)


def _z_transform(l_old: np.ndarray, l_new: np.ndarray, c_old_A: float, c_new_A: float, z_split_A: float) -> np.ndarray:
    """Matrix T with new_coeff(l') = Σ_l old_coeff(l) T[l, l'] for the split-and-shift map.

    The new function is f(z') = ρ(z') below the split, ρ(z_split) in the opened slab
    (Δ > 0), ρ(z' − Δ) above; T holds its exact Fourier integrals over the new cell.
    """
    delta = c_new_A - c_old_A
    k_old = 2 * np.pi * l_old[:, None] / c_old_A
    k_new = 2 * np.pi * l_new[None, :] / c_new_A
    matrix = _segment_integral(k_old - k_new, 0.0, z_split_A)
    if delta > 0:
        matrix += np.exp(1j * k_old * z_split_A) * _segment_integral(-k_new, z_split_A, z_split_A + delta)
    upper = z_split_A + max(delta, 0.0)
    matrix += np.exp(-1j * k_old * delta) * _segment_integral(k_old - k_new, upper, c_new_A)
    return matrix / c_new_A


def _full_sphere(density: ChargeDensity) -> tuple[np.ndarray, np.ndarray]:
    """Miller indices and components of the full G sphere (adds −G for a Γ-only file)."""
    if not density.gamma_only:
        return density.miller, density.rho_g
    mirror = ~(density.miller == 0).all(axis=1)
    miller = np.concatenate([density.miller, -density.miller[mirror]])
    rho = np.concatenate([density.rho_g, np.conj(density.rho_g[:, mirror])], axis=1)
    return miller, rho


def shift_density(
    density: ChargeDensity,
    old_cell_A: np.ndarray,
    new_cell_A: np.ndarray,
    z_split_A: float,
    ecutrho_Ry: float,
    gamma_only: bool | None = None,
) -> tuple[ChargeDensity, dict[str, Any]]:
    """Move the density above ``z_split_A`` by c_new − c_old and re-express it for the new cell.

    Parameters
    ----------
    density
        Converged density of the old cell (from :func:`read_charge_density`).
    old_cell_A, new_cell_A
        Cells (rows, Angstrom); they may differ only in the length of the third vector,
        which must be along z.
    z_split_A
        Cartesian z of the plane where the cell is cut open (Angstrom); wrapped into the old cell.
    ecutrho_Ry
        Density cut-off of the new run (Ry).
    gamma_only
        Γ-point tricks in the new run; None keeps the flag of ``density``.

    Returns
    -------
    tuple
        The new density (in pw.x's G order for the new cell) and diagnostics
        (``electrons_before``, ``electrons_shifted_raw``, ``electrons_after``,
        ``magnetization_before_muB``, ``magnetization_after_muB``, ``n_g_old``,
        ``n_g_new``, ``delta_z_A``, ``z_split_A``).

    Raises
    ------
    InputError
        Cells not of the supported shape, or a removed slab that does not fit in the cell.
    """
    old_cell_A = np.asarray(old_cell_A, dtype=float)
    new_cell_A = np.asarray(new_cell_A, dtype=float)
    check_cells(old_cell_A, new_cell_A)
    c_old_A, c_new_A = float(old_cell_A[2, 2]), float(new_cell_A[2, 2])
    delta_A = c_new_A - c_old_A
    z_split_A = float(np.mod(z_split_A, c_old_A))
    if delta_A < 0 and z_split_A - delta_A > c_old_A + CELL_TOLERANCE_A:
        raise InputError(
            f"cannot remove a {-delta_A:.3f} A slab above z = {z_split_A:.3f} A from a {c_old_A:.3f} A cell; "
            "choose a lower split plane"
        )
    bohr_per_A = _bohr_per_A(density, old_cell_A)
    new_cell_bohr = bohr_per_A * new_cell_A
    b_new = 2 * np.pi * np.linalg.inv(new_cell_bohr).T
    gamma_new = density.gamma_only if gamma_only is None else bool(gamma_only)
    miller_new = qe_miller_order(b_new, ecutrho_Ry, float(np.linalg.norm(new_cell_bohr[0])), gamma_new)

    miller_old, rho_old = _full_sphere(density)
    columns, column_of = np.unique(miller_old[:, :2], axis=0, return_inverse=True)
    column_of = column_of.ravel()
    l_max_old = int(np.abs(miller_old[:, 2]).max())
    l_max_new = int(np.abs(miller_new[:, 2]).max())
    l_old = np.arange(-l_max_old, l_max_old + 1)
    l_new = np.arange(-l_max_new, l_max_new + 1)
    table = np.zeros((density.nspin, len(columns), l_old.size), dtype=complex)
    table[:, column_of, miller_old[:, 2] + l_max_old] = rho_old
    new_table = table @ _z_transform(l_old, l_new, c_old_A, c_new_A, z_split_A)

    lookup = {(int(h), int(k)): n for n, (h, k) in enumerate(columns)}
    rows = np.array([lookup.get((int(h), int(k)), -1) for h, k in miller_new[:, :2]])
    present = rows >= 0
    rho_new = np.zeros((density.nspin, miller_new.shape[0]), dtype=complex)
    rho_new[:, present] = new_table[:, rows[present], miller_new[present, 2] + l_max_new]
    shifted = ChargeDensity(gamma_only=gamma_new, b_vectors_per_bohr=b_new, miller=miller_new, rho_g=rho_new)
    raw_electrons = shifted.electrons
    if raw_electrons <= 0:
        raise OutputError("the shifted density holds no electrons; the source density is damaged")
    scaled = replace(shifted, rho_g=rho_new * (density.electrons / raw_electrons))
    diagnostics = {
        "electrons_before": density.electrons,
        "electrons_shifted_raw": raw_electrons,
        "electrons_after": scaled.electrons,
        "magnetization_before_muB": density.magnetization_muB,
        "magnetization_after_muB": scaled.magnetization_muB,
        "n_g_old": int(density.miller.shape[0]),
        "n_g_new": int(miller_new.shape[0]),
        "delta_z_A": delta_A,
        "z_split_A": z_split_A,
    }
    return scaled, diagnostics


def shift_density_for_new_cell(
    old_save_dir: str | Path,
    new_save_dir: str | Path,
    old_cell_A: np.ndarray,
    new_cell_A: np.ndarray,
    z_split_A: float,
    ecutrho_Ry: float,
    gamma_only: bool | None = None,
) -> dict[str, Any]:
    """Write a warm-start ``charge-density.dat`` for the new cell from an old ``<prefix>.save``.

    Parameters
    ----------
    old_save_dir
        ``<prefix>.save`` folder of the converged old calculation.
    new_save_dir
        ``<prefix>.save`` folder of the new calculation (created).
    old_cell_A, new_cell_A, z_split_A, ecutrho_Ry, gamma_only
        See :func:`shift_density`.

    Returns
    -------
    dict
        Diagnostics of :func:`shift_density` plus ``files`` (names written or copied).
    """
    old_save_dir, new_save_dir = Path(old_save_dir), Path(new_save_dir)
    density = read_charge_density(old_save_dir)
    shifted, diagnostics = shift_density(density, old_cell_A, new_cell_A, z_split_A, ecutrho_Ry, gamma_only)
    new_save_dir.mkdir(parents=True, exist_ok=True)
    write_charge_density(new_save_dir / DENSITY_FILE, shifted)
    files = [DENSITY_FILE]
    for extra in sorted(old_save_dir.glob("*.txt")):  # e.g. DFT+U occupations: per atom, still valid
        shutil.copy2(extra, new_save_dir / extra.name)
        files.append(extra.name)
    return {**diagnostics, "files": files}
