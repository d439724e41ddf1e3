"""Sanity checks on built structures (minimum interatomic distances incl. periodic images, choices,
positive numbers) and the one reading of their FixAtoms constraints (:func:`fixed_indices`)."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.neighborlist import neighbor_list

from tipsurf.errors import InputError

#: Default smallest allowed distance between two atoms (Angstrom).
MIN_DISTANCE_A: float = 1.5
#: Smallest allowed H-H distance (Angstrom); the H2 bond is 0.74 A.
MIN_DISTANCE_HH_A: float = 0.6

#: Largest number of (pair, periodic image) distances the direct screen of :func:`closest_pair`
#: evaluates at once; bigger structures go straight to ASE's neighbour list.
_SCREEN_MAX_DISTANCES = 1_000_000
#: Margin (Angstrom) by which the direct screen errs towards the exact neighbour-list search.
_SCREEN_MARGIN_A = 1e-6


def _clear_of_clashes(atoms: Atoms, cutoff_A: float) -> bool:
    """True if no two atoms (periodic images included) are closer than the distance rules allow.

    A vectorised screen over every atom pair and every lattice translation that can bring two
    atoms within ``cutoff_A``; it is exact up to :data:`_SCREEN_MARGIN_A`, by which it errs on
    the side of reporting "maybe a clash" (the caller then runs the neighbour-list search).
    Returns False when the structure is too large to screen directly.
    """
    pos = atoms.get_positions()
    n = len(pos)
    symbols = np.array(atoms.get_chemical_symbols())
    is_h = symbols == "H"
    limit = np.where(is_h[:, None] & is_h[None, :], MIN_DISTANCE_HH_A, cutoff_A) + _SCREEN_MARGIN_A
    cell = np.asarray(atoms.get_cell())
    periodic = np.array(atoms.get_pbc(), dtype=bool) if atoms.cell.rank == 3 else np.zeros(3, dtype=bool)
    delta = pos[None, :, :] - pos[:, None, :]  # r_j - r_i
    ranges = [[0], [0], [0]]
    if periodic.any():
        inv = np.linalg.inv(cell)
        frac = delta @ inv
        frac[..., periodic] -= np.round(frac[..., periodic])  # nearest image along periodic axes
        delta = frac @ cell
        volume = abs(float(np.linalg.det(cell)))
        for k in np.flatnonzero(periodic):
            spacing = volume / float(np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])))
            # |f_k + s_k| * spacing_k <= |d| < cutoff with |f_k| <= 1/2 bounds the translations
            reach = int(np.floor(0.5 + (cutoff_A + _SCREEN_MARGIN_A) / spacing + 1e-9))
            ranges[k] = list(range(-reach, reach + 1))
    shifts = np.array([[a, b, c] for a in ranges[0] for b in ranges[1] for c in ranges[2]], dtype=float) @ cell
    if n * n * len(shifts) > _SCREEN_MAX_DISTANCES:
        return False
    limit_sq = limit * limit
    limit_sq_home = limit_sq.copy()
    np.fill_diagonal(limit_sq_home, -1.0)  # an atom is not its own neighbour at zero shift (its images are)
    for shift in shifts:
        moved = delta + shift
        dist_sq = np.einsum("ijk,ijk->ij", moved, moved)
        if np.any(dist_sq < (limit_sq if np.any(shift) else limit_sq_home)):
            return False
    return True


def closest_pair(atoms: Atoms, cutoff_A: float = MIN_DISTANCE_A) -> tuple[int, int, float, bool] | None:
    """Return the closest pair ``(i, j, distance_A, via_image)`` that violates the distance rules.

    Periodic images are included along periodic directions (an atom can clash with its own
    image).  H-H pairs are allowed down to :data:`MIN_DISTANCE_HH_A`.

    Parameters
    ----------
    atoms
        Structure to check.
    cutoff_A
        Smallest allowed distance for every pair except H-H.

    Returns
    -------
    tuple or None
        The worst offending pair (``via_image``: the distance is to a periodic image), or
        None if all distances are fine.

    Notes
    -----
    Most structures are clear; a direct vectorised screen (:func:`_clear_of_clashes`) returns
    None for them without building a neighbour list, which is what made a 1,000-point scan
    plan slow.  Anything the screen cannot clear, it hands to ASE's ``neighbor_list``, which
    finds and reports the pair exactly as before.
    """
    if len(atoms) == 0:
        return None
    if _clear_of_clashes(atoms, cutoff_A):
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


def check_min_distance(atoms: Atoms, cutoff_A: float = MIN_DISTANCE_A, what: str = "structure") -> None:
    """Raise :class:`InputError` naming the closest offending pair if atoms are too close.

    Parameters
    ----------
    atoms
        Structure to check (periodic images included).
    cutoff_A
        Smallest allowed distance (H-H: 0.6 A).
    what
        Name of the structure for the message.
    """
    pair = closest_pair(atoms, cutoff_A)
    if pair is None:
        return
    i, j, dist, via_image = pair
    si, sj = atoms[i].symbol, atoms[j].symbol
    image = " (periodic image)" if via_image else ""
    raise InputError(
        f"{what}: atoms {i} ({si}) and {j} ({sj}) are {dist:.3f} A apart{image}, below the "
        f"{MIN_DISTANCE_HH_A if si == sj == 'H' else cutoff_A} A minimum; increase the distance, "
        "vacuum or lateral supercell"
    )


def require_positive(name: str, value: float) -> None:
    """Raise :class:`InputError` unless ``value`` is a finite number > 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive number, got {value!r}")


def require_int(name: str, value: int, low: int, high: int | None = None) -> None:
    """Raise :class:`InputError` unless ``value`` is an int in ``[low, high]``."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        span = f">= {low}" if high is None else f"between {low} and {high}"
        raise InputError(f"{name} must be an integer {span}, got {value!r}")


def require_choice(name: str, value: str, choices: tuple[str, ...] | list[str]) -> None:
    """Raise :class:`InputError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InputError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")


def fixed_indices(atoms: Atoms) -> list[int]:
    """Indices fixed by the FixAtoms constraints of ``atoms``, sorted, each once.

    Parameters
    ----------
    atoms
        Any structure (other constraint types are ignored).

    Returns
    -------
    list of int
    """
    return sorted({int(i) for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.get_indices()})
