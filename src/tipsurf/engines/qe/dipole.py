"""Vacuum gaps, the dipole correction along z, and keeping the point symmetry beside it.

pw.x 6.x drops every point-group operation as soon as ``tefield`` is set ("Presently no
symmetry can be used with electric field"), although the sawtooth along z is invariant under
every operation that maps z to z (rotations about z, mirror planes containing z).  Its gate
branch keeps them: with ``gate = .true.`` pw.x runs ``find_sym`` as usual.  tipsurf uses that
branch with a plate charge of :data:`GATE_CHARGE_E` electrons (the system is charged by the
same amount), whose fields and energies are ~1e-8 of a physical gate's, and only when the
structure has no operation that reverses z: then every operation pw.x can find keeps the
sawtooth.  With a reversing operation it leaves the gate off and pw.x uses no symmetry.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import spglib
from ase import Atoms

from tipsurf.errors import InputError

#: Round-off allowed on the vacuum gap (Å): a 5 Å gap read back from a file or converted through
#: pymatgen (1e-15 Å off) is still a slab.
VACUUM_TOLERANCE_A = 1e-6

#: Charge of the gate plate (electrons) that lets pw.x keep the point symmetry beside the dipole
#: field.  Its ion–gate energy is ~4e-6 Ry in the 13-atom demo cell and the same for p and ap.
GATE_CHARGE_E = 1.0e-8

#: Position tolerance (Å) of the symmetry search; pw.x's own is 1e-5 in crystal units (~1e-4 Å).
SYMPREC_A = 1.0e-4


def vacuum_gap(atoms: Atoms) -> tuple[float, float, float]:
    """Largest empty stretch along the third cell vector.

    Returns
    -------
    tuple
        (gap_A, start_frac, gap_frac): its width in Å (perpendicular to a×b), where it starts
        (fractional coordinate of the topmost atom below it) and its fractional width.
    """
    cell = np.asarray(atoms.get_cell())
    normal = np.cross(cell[0], cell[1])
    height = abs(float(np.dot(normal, cell[2]))) / float(np.linalg.norm(normal))
    frac = np.sort(np.mod(atoms.get_scaled_positions(wrap=False)[:, 2], 1.0))
    gaps = np.diff(np.append(frac, frac[0] + 1.0))
    k = int(np.argmax(gaps))
    return float(gaps[k] * height), float(frac[k]), float(gaps[k])


def is_slab(atoms: Atoms, min_vacuum_A: float = 5.0) -> bool:
    """True if the cell has a vacuum gap along c of at least ``min_vacuum_A`` (or no z periodicity)."""
    return (not bool(atoms.pbc[2])) or vacuum_gap(atoms)[0] >= min_vacuum_A - VACUUM_TOLERANCE_A


def reverses_z_symmetry(atoms: Atoms) -> bool:
    """True if some space-group operation of the structure (moments included) maps z to −z.

    Atoms of one element with different starting moments count as different species, as in
    pw.x's species split.  If spglib cannot analyse the structure the answer is True, so that
    the caller keeps pw.x's no-symmetry default.
    """
    moments = np.round(atoms.get_initial_magnetic_moments(), 3)
    kinds = {key: i for i, key in enumerate(sorted(set(zip(atoms.numbers.tolist(), moments.tolist()))))}
    numbers = [kinds[(int(z), float(m))] for z, m in zip(atoms.numbers, moments)]
    lattice = np.asarray(atoms.get_cell())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib 2.5+: its old error handling
        try:
            dataset = spglib.get_symmetry((lattice, atoms.get_scaled_positions(), numbers), symprec=SYMPREC_A)
        except Exception:  # noqa: BLE001  (no symmetry found: assume the worst, keep pw.x's nosym)
            dataset = None
    if dataset is None:
        return True
    to_cart = lattice.T
    from_cart = np.linalg.inv(to_cart)
    return any((to_cart @ rot @ from_cart)[2, 2] < 0 for rot in dataset["rotations"])


def dipole_settings(atoms: Atoms, min_vacuum_A: float = 5.0, *, keep_symmetry: bool = False) -> dict[str, Any]:
    """tefield/dipfield along z with the sawtooth discontinuity centred in the vacuum gap.

    A structure that names its dipole plane (``info['dipole_z_A']``, e.g. every point of a
    distance scan: the middle of the vacuum behind the tip at the largest distance) gets the
    discontinuity there, so that all points of a scan, and their fragments, see one field.

    Parameters
    ----------
    atoms
        The slab or junction.
    min_vacuum_A
        Smallest vacuum gap (Å) the sawtooth may sit in.
    keep_symmetry
        Add the :data:`GATE_CHARGE_E` gate plate (one ``eopreg`` below the sawtooth, in the
        vacuum) so that pw.x keeps the operations that map z to z; ignored when the structure
        has an operation that reverses z (see the module docstring).

    Returns
    -------
    dict
        pw.x settings by namelist: ``{"control": {tefield, dipfield[, gate]}, "system": {edir,
        emaxpos, eopreg, eamp[, zgate, tot_charge]}}`` (the bracketed keys with the gate).
    """
    gap_A, start, width = vacuum_gap(atoms)
    if gap_A < min_vacuum_A:
        raise InputError(
            f"dipole correction asked for, but the largest vacuum gap along c is {gap_A:.1f} Å "
            f"(< {min_vacuum_A} Å); add vacuum or set dipole_correction: false"
        )
    eopreg = min(0.1, 0.25 * width)
    middle = start + 0.5 * width
    if atoms.info.get("dipole_z_A") is not None:
        middle = float(atoms.info["dipole_z_A"]) / float(atoms.cell[2, 2])
    emaxpos = (middle - 0.5 * eopreg) % 1.0
    control: dict[str, Any] = {"tefield": True, "dipfield": True}
    system: dict[str, Any] = {"edir": 3, "emaxpos": round(emaxpos, 6), "eopreg": round(eopreg, 6), "eamp": 0.0}
    if keep_symmetry and not reverses_z_symmetry(atoms):
        control["gate"] = True
        system.update({"zgate": round((emaxpos - eopreg) % 1.0, 6), "tot_charge": GATE_CHARGE_E})
    return {"control": control, "system": system}
