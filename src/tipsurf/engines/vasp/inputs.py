"""VASP input files (INCAR, POSCAR, KPOINTS) from an Atoms object and a preset, via pymatgen.

Atom order
----------
POSCAR groups atoms by species (order of first appearance in the Atoms, stable inside each
species), so each element gets exactly one POTCAR entry and one LDAU entry even when the Atoms
interleave species (e.g. a Co apex on an Fe tip).  The permutation ``poscar_order`` (POSCAR atom
k is original atom ``poscar_order[k]``) is applied identically to positions, MAGMOM and the
selective-dynamics flags, saved in ``tipsurf_calc.json``, and used by the parser to return
forces and moments in the original Atoms order (tip indices stay valid).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms, FixCartesian
from pymatgen.core import Lattice, Structure
from pymatgen.io.vasp.inputs import Incar, Kpoints, Poscar

from tipsurf.errors import InputError

#: INCAR changes per calculation type when the preset has no ``calculations`` block for it.
DEFAULT_CALCULATIONS: dict[str, dict[str, Any]] = {
    "scf": {"NSW": 0, "IBRION": -1},
    "relax": {"IBRION": 2, "NSW": 100, "EDIFFG": -0.02, "ISIF": 2},
    "nscf": {"NSW": 0, "IBRION": -1, "ICHARG": 11},
}
_DIPOLE_PLANE_MIN_DISTANCE_A = 1.0


def species_order(symbols: list[str]) -> tuple[list[str], list[int]]:
    """Species in order of first appearance and the stable permutation that groups them.

    Returns
    -------
    (species, poscar_order)
        ``poscar_order[k]`` is the original index of POSCAR atom ``k``.
    """
    species: list[str] = []
    for s in symbols:
        if s not in species:
            species.append(s)
    order = [i for sp in species for i, s in enumerate(symbols) if s == sp]
    return species, order


def fixed_mask(atoms: Atoms) -> np.ndarray | None:
    """Per-atom, per-direction ``True`` = fixed, from FixAtoms / FixCartesian; None if unconstrained."""
    if not atoms.constraints:
        return None
    mask = np.zeros((len(atoms), 3), dtype=bool)
    for constraint in atoms.constraints:
        if isinstance(constraint, FixAtoms):
            mask[np.asarray(constraint.index, dtype=int)] = True
        elif isinstance(constraint, FixCartesian):
            cmask = np.asarray(constraint.mask, dtype=bool)
            idx = np.asarray(constraint.index, dtype=int)
            mask[idx] |= cmask if cmask.ndim == 2 else cmask[None, :]
        else:
            raise InputError(
                f"constraint {type(constraint).__name__} cannot be written to VASP; use FixAtoms or FixCartesian"
            )
    return mask


def collinear_magmoms(atoms: Atoms) -> np.ndarray:
    """Initial collinear moments (μB) of every site; non-collinear input is rejected."""
    moms = np.asarray(atoms.get_initial_magnetic_moments(), dtype=float)
    if moms.ndim != 1:
        raise InputError("non-collinear initial moments given; tipsurf's VASP engine writes collinear MAGMOM only")
    return moms


def slab_indices(atoms: Atoms) -> list[int]:
    """Atoms that make up the slab: everything except ``atoms.info['tip_indices']``."""
    tip = set(int(i) for i in atoms.info.get("tip_indices", []) or [])
    return [i for i in range(len(atoms)) if i not in tip]


def dipole_centre_frac(atoms: Atoms, indices: list[int]) -> list[float]:
    """Centre of mass of ``indices`` in fractional coordinates (wrapped into [0, 1)).

    Warns if an atom lies within 1 Å (along z) of the plane half a cell away in z, where VASP
    places the dipole-correction discontinuity.
    """
    if not indices:
        raise InputError("dipole correction needs slab atoms, but every atom is listed in tip_indices")
    masses = atoms.get_masses()[indices]
    com = (masses[:, None] * atoms.get_positions()[indices]).sum(axis=0) / masses.sum()
    frac = np.linalg.solve(np.asarray(atoms.get_cell()).T, com) % 1.0
    _check_dipole_plane(atoms, float(frac[2]))
    return [round(float(x), 6) for x in frac]


def _check_dipole_plane(atoms: Atoms, centre_z_frac: float) -> None:
    plane = (centre_z_frac + 0.5) % 1.0
    dz = (atoms.get_scaled_positions(wrap=True)[:, 2] - plane + 0.5) % 1.0 - 0.5
    dz_A = np.abs(dz) * float(np.linalg.norm(atoms.get_cell()[2]))
    if len(dz_A) and dz_A.min() < _DIPOLE_PLANE_MIN_DISTANCE_A:
        warnings.warn(
            f"an atom lies {dz_A.min():.2f} Å from the dipole-correction plane; add vacuum", stacklevel=3
        )


def calculation_settings(preset: dict[str, Any], calculation: str) -> dict[str, Any]:
    """INCAR changes for ``calculation`` (``scf``, ``relax``, ``nscf``) from the preset or defaults."""
    blocks = preset.get("calculations") or {}
    if calculation in blocks:
        return {str(k).upper(): v for k, v in (blocks[calculation] or {}).items()}
    if calculation in DEFAULT_CALCULATIONS:
        return dict(DEFAULT_CALCULATIONS[calculation])
    known = sorted(set(DEFAULT_CALCULATIONS) | set(blocks))
    raise InputError(f"unknown VASP calculation '{calculation}'; choose one of {known}")


def hubbard_settings(species: list[str], preset: dict[str, Any]) -> dict[str, Any]:
    """LDAU keys (Dudarev, LDAUTYPE 2) aligned with the POSCAR species order; empty if no U applies."""
    u = {str(k): float(v) for k, v in (preset.get("hubbard_u_eV") or {}).items()}
    j = {str(k): float(v) for k, v in (preset.get("hubbard_j_eV") or {}).items()}
    lval = {str(k): int(v) for k, v in (preset.get("hubbard_l") or {}).items()}
    if not any(u.get(sp, 0.0) != 0.0 for sp in species):
        return {}
    return {
        "LDAU": True,
        "LDAUTYPE": 2,
        "LDAUL": [lval.get(sp, 2) if sp in u else -1 for sp in species],
        "LDAUU": [u.get(sp, 0.0) for sp in species],
        "LDAUJ": [j.get(sp, 0.0) for sp in species],
        "LMAXMIX": 4,
    }


def spin_settings(incar: dict[str, Any], moments_muB: np.ndarray) -> dict[str, Any]:
    """ISPIN and MAGMOM for the given INCAR tags and initial moments (POSCAR order).

    An ISPIN given by the preset (its ``incar`` or the calculation block) is kept: ISPIN 2
    writes every site's moment (zeros included), ISPIN 1 is a non-spin-polarised calculation
    and writes no MAGMOM.  Without an ISPIN the calculation is spin polarised (ISPIN 2) exactly
    when some initial moment is non-zero, as in the QE engine.

    Raises
    ------
    InputError
        ISPIN is not 1 or 2, or ISPIN 1 is asked for a structure with initial moments.
    """
    magnetic = bool(np.any(np.abs(moments_muB) > 0))
    ispin = incar.get("ISPIN")
    if ispin is None:
        ispin = 2 if magnetic else 1
    if isinstance(ispin, bool) or ispin not in (1, 2):
        raise InputError(f"ISPIN must be 1 (no spin polarisation) or 2 (collinear spin), got {ispin!r}")
    if ispin == 1:
        if magnetic:
            raise InputError(
                "the preset sets ISPIN 1 (no spin polarisation) but the structure has initial magnetic moments; "
                "set the moments to zero or use ISPIN 2"
            )
        return {"ISPIN": 1}
    return {"ISPIN": 2, "MAGMOM": [round(float(m), 4) for m in moments_muB]}


def build_incar(atoms: Atoms, preset: dict[str, Any], calculation: str = "scf") -> dict[str, Any]:
    """INCAR tags for ``atoms`` (in POSCAR order, see :func:`species_order`).

    Starts from ``preset['incar']``, applies the calculation block, then sets ISPIN and MAGMOM
    (see :func:`spin_settings`: the preset's ISPIN if it has one, else 2 only for a structure
    with initial moments), the LDAU arrays and, when ``preset['dipole_correction']`` is true,
    LDIPOL/IDIPOL 3/DIPOL at the slab's centre of mass.
    """
    species, order = species_order(atoms.get_chemical_symbols())
    incar = {str(k).upper(): v for k, v in (preset.get("incar") or {}).items()}
    incar.update(calculation_settings(preset, calculation))
    incar.pop("MAGMOM", None)  # the moments come from the structure, never from the preset
    incar.update(spin_settings(incar, collinear_magmoms(atoms)[order]))
    incar.update(hubbard_settings(species, preset))
    if preset.get("dipole_correction"):
        incar.update({"LDIPOL": True, "IDIPOL": 3, "DIPOL": dipole_centre_frac(atoms, slab_indices(atoms))})
    return incar


def build_poscar(atoms: Atoms, comment: str = "tipsurf") -> Poscar:
    """POSCAR with species grouped (see module doc) and selective dynamics from the constraints."""
    symbols = atoms.get_chemical_symbols()
    _, order = species_order(symbols)
    structure = Structure(
        Lattice(np.asarray(atoms.get_cell())),
        [symbols[i] for i in order],
        atoms.get_positions()[order],
        coords_are_cartesian=True,
    )
    mask = fixed_mask(atoms)
    flags = None if mask is None else (~mask[order]).tolist()
    return Poscar(structure, comment=comment, selective_dynamics=flags)


def build_kpoints(preset: dict[str, Any]) -> Kpoints:
    """Γ-centred (default) or Monkhorst–Pack mesh from ``preset['kpoints']``."""
    spec = preset.get("kpoints") or {}
    mesh = spec.get("mesh")
    if not (isinstance(mesh, (list, tuple)) and len(mesh) == 3 and all(int(m) >= 1 for m in mesh)):
        raise InputError(f"preset kpoints.mesh must be three positive integers like [5, 5, 1], got {mesh!r}")
    mesh_t = tuple(int(m) for m in mesh)
    if spec.get("gamma_centred", True):
        return Kpoints.gamma_automatic(mesh_t)
    return Kpoints.monkhorst_automatic(mesh_t)


def incar_object(tags: dict[str, Any]) -> Incar:
    """pymatgen Incar from a tag dict."""
    return Incar(tags)
