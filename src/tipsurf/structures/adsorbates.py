"""Ti and TiHx (x = 0..4) adsorbed on MgO/Ag(100), and gas-phase references in a box.

Starting geometries
-------------------
Ti sits above the chosen site at ``height_A`` above the top MgO plane (defaults per site:
o-top 2.0 A, i.e. a Ti-O bond of about 2 A; bridge 2.2 A, giving Ti-O and Ti-Mg about 2.65 A
to the two O and the two Mg atoms 1.47 A away laterally; hollow 2.2 A above the Mg under the O4
hollow).  The bridge height is near the relaxed one: TiH2 on the bridge of the demo's 1x1 2 ML
MgO/2 Ag(100) slab ends 2.4 A above the as-built top plane (2.1-2.2 A above the relaxed,
rumpled one) from both starts tried, 1.6 and 2.0 A (from 1.6 A, where Ti-Mg is 2.2 A, the forces were still 0.06 Ry/bohr after 17 BFGS steps; from
2.0 A, 0.013 Ry/bohr after 11 and already 0.12 eV lower; measured 2026-12-02).  The x H atoms
are placed 1.75 A from Ti (Ti-H bond), all pointing up/out so that no H comes close to the
surface: TiH straight up; TiH2, TiH3, TiH4 as an umbrella with polar angles 55, 65, 70 deg from
+z and evenly spaced azimuths (starting at 45 deg, i.e. along the MgO [110] diagonals).

Gas phase: H2 (0.74 A), Ti atom, TiH (linear), TiH2 (bent, 120 deg), TiH3 (planar D3h),
TiH4 (tetrahedral), all with Ti-H 1.75 A, centred in a cubic box.

Moments: Ti +2 muB (TiH4: +0.5, a small start that lets the closed-shell molecule become
nonmagnetic), H 0, substrate 0.  Tags: adsorbate atoms 0 (ase convention).
"""

from __future__ import annotations

import math
import re

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from tipsurf.errors import InputError
from tipsurf.structures.checks import check_min_distance, fixed_indices, require_choice, require_positive
from tipsurf.structures.mgo_ag100 import build_mgo_ag100
from tipsurf.structures.sites import site_record

ADSORBATE_SPECIES: tuple[str, ...] = ("Ti", "TiH", "TiH2", "TiH3", "TiH4")
MOLECULE_SPECIES: tuple[str, ...] = ("H2", "Ti", "TiH", "TiH2", "TiH3", "TiH4")
ADSORBATE_SITES: tuple[str, ...] = ("o-top", "bridge", "hollow")
#: Names of Ti and its hydrides (``Ti``, ``TiH``, ``TiH2``, ...): the H count is the number after H.
SPECIES_RE = re.compile(r"^TiH(\d*)$|^Ti$")
#: Default Ti height above the top MgO plane per site (Angstrom).
DEFAULT_HEIGHT_A: dict[str, float] = {"o-top": 2.0, "bridge": 2.2, "hollow": 2.2}
TI_H_BOND_A = 1.75
H2_BOND_A = 0.74
_UMBRELLA_POLAR_DEG = {1: 0.0, 2: 55.0, 3: 65.0, 4: 70.0}


def hydrogen_count(species: str) -> int:
    """Number of H atoms in a species name: ``H2`` 2, ``Ti`` 0, ``TiH`` 1, ``TiH2`` 2, ... .

    Any ``TiHx`` is counted (the Gibbs analysis takes what the user computed); the builders
    check their species against :data:`ADSORBATE_SPECIES` / :data:`MOLECULE_SPECIES` first.

    Parameters
    ----------
    species
        The name.

    Returns
    -------
    int

    Raises
    ------
    InputError
        Not ``H2``, ``Ti`` or ``TiH<x>``.
    """
    if species == "H2":
        return 2
    match = SPECIES_RE.match(species) if isinstance(species, str) else None
    if not match:
        raise InputError(f"unknown species '{species}'; expected Ti, TiH, TiH2, TiH3, TiH4 (and H2 for the molecule)")
    return 0 if species == "Ti" else int(match.group(1) or 1)


def ti_moment(species: str) -> float:
    """Starting moment of Ti in ``species`` (muB)."""
    return 0.5 if species == "TiH4" else 2.0


def _umbrella(n_h: int) -> np.ndarray:
    """Offsets of n_h H atoms from Ti, all with non-negative z (pointing up/out)."""
    if n_h == 0:
        return np.zeros((0, 3))
    theta = math.radians(_UMBRELLA_POLAR_DEG[n_h])
    phis = [math.radians(45.0 + 360.0 * k / n_h) for k in range(n_h)]
    return TI_H_BOND_A * np.array([[math.sin(theta) * math.cos(p), math.sin(theta) * math.sin(p), math.cos(theta)] for p in phis])


def build_adsorbate(
    species: str = "Ti",
    site: str = "o-top",
    slab: Atoms | None = None,
    height_A: float | None = None,
    site_index: int = 0,
) -> Atoms:
    """Place Ti or TiHx on an MgO/Ag(100) slab.

    Parameters
    ----------
    species
        ``Ti``, ``TiH``, ``TiH2``, ``TiH3`` or ``TiH4``.
    site
        ``o-top``, ``bridge`` (O-O bridge) or ``hollow`` (O4 hollow, above Mg).
    slab
        Slab from :func:`build_mgo_ag100` (default: 2 MgO on 4 Ag, 1x1).
    height_A
        Height of Ti above the top MgO plane (default per site, see module docstring).
    site_index
        Which site of that kind (see ``slab.info['sites']``).

    Returns
    -------
    ase.Atoms
        Slab + adsorbate (appended last, Ti first) with moments, tags, constraints and
        ``info`` (``kind='adsorbate'``, ``species``, ``site``, ``site_index``, ``height_A``,
        ``adsorbate_indices``, ``ti_index``, ``site_xy_A``, ``reference_indices``).
    """
    if species == "H2":
        raise InputError("H2 is a gas-phase reference, not an adsorbate; use build_molecule('H2')")
    require_choice("adsorbate species", species, ADSORBATE_SPECIES)
    require_choice("adsorption site", site, ADSORBATE_SITES)
    slab = build_mgo_ag100() if slab is None else slab
    if slab.info.get("surface") != "mgo-ag100":
        raise InputError(f"adsorbates go on an mgo-ag100 slab, got surface {slab.info.get('surface')!r}")
    height = DEFAULT_HEIGHT_A[site] if height_A is None else height_A
    require_positive("adsorbate height_A", height)
    entry = site_record(slab.info, site, site_index)
    ti_pos = np.array([*entry["xy_A"], slab.info["surface_z_A"] + height])
    n_h = hydrogen_count(species)
    ads = Atoms("Ti" + "H" * n_h, positions=np.vstack([ti_pos, ti_pos + _umbrella(n_h)]))
    ads.set_initial_magnetic_moments([ti_moment(species)] + [0.0] * n_h)
    ads.set_tags([0] * len(ads))
    atoms = slab.copy()
    atoms.info = dict(slab.info)
    n_slab = len(slab)
    atoms.extend(ads)
    atoms.set_constraint([FixAtoms(indices=fixed_indices(slab))])
    atoms.info.update(
        {
            "kind": "adsorbate",
            "species": species,
            "site": site,
            "site_index": int(site_index),
            "height_A": float(height),
            "ti_index": n_slab,
            "adsorbate_indices": list(range(n_slab, len(atoms))),
            "site_xy_A": [float(v) for v in entry["xy_A"]],
            "reference_indices": [int(i) for i in entry["reference_indices"]],
        }
    )
    check_min_distance(atoms, what=f"{species} on {site}")
    return atoms


def _molecule_positions(species: str) -> np.ndarray:
    """Gas-phase starting geometry (Ti first, or the two H of H2), centred at the origin."""
    if species == "H2":
        return np.array([[0.0, 0.0, -H2_BOND_A / 2.0], [0.0, 0.0, H2_BOND_A / 2.0]])
    n_h = hydrogen_count(species)
    b = TI_H_BOND_A
    if n_h == 0:
        h = np.zeros((0, 3))
    elif n_h == 1:
        h = np.array([[0.0, 0.0, b]])
    elif n_h == 2:
        h = b * np.array([[math.sin(math.radians(60)), 0.0, math.cos(math.radians(60))],
                          [-math.sin(math.radians(60)), 0.0, math.cos(math.radians(60))]])
    elif n_h == 3:
        h = b * np.array([[math.cos(p), math.sin(p), 0.0] for p in np.radians([0.0, 120.0, 240.0])])
    else:
        h = b / math.sqrt(3.0) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
    return np.vstack([np.zeros(3), h])


def build_molecule(species: str, box_A: float = 12.0) -> Atoms:
    """Gas-phase reference (H2, Ti, TiH ... TiH4) centred in a cubic periodic box.

    Parameters
    ----------
    species
        ``H2``, ``Ti``, ``TiH``, ``TiH2``, ``TiH3`` or ``TiH4``.
    box_A
        Edge of the cubic box (Angstrom); must leave >= 5 A between periodic images.

    Returns
    -------
    ase.Atoms
        Molecule with moments (H2: 0) and ``info`` (``kind='molecule'``, ``species``, ``box_A``).
    """
    require_choice("molecule species", species, MOLECULE_SPECIES)
    require_positive("box_A", box_A)
    positions = _molecule_positions(species)
    extent = float(np.ptp(positions, axis=0).max())
    if box_A - extent < 5.0:
        raise InputError(f"box_A = {box_A} A leaves less than 5 A between periodic images of {species}; use a larger box")
    symbols = ["H", "H"] if species == "H2" else ["Ti"] + ["H"] * hydrogen_count(species)
    atoms = Atoms(symbols, positions=positions, cell=[box_A] * 3, pbc=True)
    atoms.positions += box_A / 2.0
    moments = [0.0, 0.0] if species == "H2" else [ti_moment(species)] + [0.0] * (len(atoms) - 1)
    atoms.set_initial_magnetic_moments(moments)
    atoms.set_tags([0] * len(atoms))
    atoms.info.update({"kind": "molecule", "species": species, "box_A": float(box_A)})
    check_min_distance(atoms, what=f"molecule {species}")
    return atoms
