"""Sanity checks on built structures: minimum interatomic distances incl. periodic images."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from tipsurf.errors import InputError

#: Default smallest allowed distance between two atoms (Angstrom).
MIN_DISTANCE_A: float = 1.5
#: Smallest allowed H-H distance (Angstrom); the H2 bond is 0.74 A.
MIN_DISTANCE_HH_A: float = 0.6


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
    """
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
