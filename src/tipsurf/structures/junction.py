"""Tip over a named surface site at a given distance, with parallel or antiparallel apex.

Geometry: the apex is placed at the site's in-plane position, ``distance_A`` above the plane
of the top surface Mn layer (``surface.info['surface_z_A']``): for a top site this is the
vertical distance between the centres of the apex and the Mn atom under it; for a hollow site
it is measured from the same Mn plane.  The cell height is chosen so that
``vacuum_above_tip_A`` separates the topmost tip atom from the periodic image of the slab's
lowest atom; the slab's lateral cell is kept.

Scan cell (``scan_d_max_A`` set): all points of a distance scan share one cell and one slab
position.  The cell and the slab are those of the scan's largest distance d_max (with
``vacuum_above_tip_A`` behind the tip there); at a smaller d only the tip moves down, so the
vacuum behind it grows by d_max - d.  The slab part of the density is then the same at every d
and the tip part a rigid translation, which the QE engine uses to start each point from
fragment densities.  ``info['dipole_z_A']`` marks the middle of the vacuum behind the tip at
d_max, where the dipole correction of every point of the scan is placed.

Magnetism: the surface moments are left untouched.  For ``config='p'`` the sign of the apex
moment equals the sign of the site's reference atom(s); for ``'ap'`` it is opposite.  The
whole tip is flipped when needed, so a Mn apex stays antiparallel to its Fe base.

Constraints: the tip keeps its own FixAtoms (indices shifted), the surface keeps its fixed
layers (central W layer of a symmetric slab), so a relaxation of the junction moves only the
tip apex region and the free slab layers.  The reference protocol does not relax the coupled
system; the constraints only matter if the user asks for a relaxation.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from tipsurf.errors import InputError
from tipsurf.structures.checks import check_min_distance, fixed_indices, require_choice, require_positive
from tipsurf.structures.sites import site_record

CONFIGS: tuple[str, ...] = ("p", "ap")
#: Smallest accepted vacuum between the tip top and the image of the slab bottom (Angstrom).
MIN_VACUUM_ABOVE_TIP_A = 3.0


def _site_entry(surface: Atoms, site: str, site_index: int) -> dict:
    """The surface's ``info['sites'][site][site_index]`` record (the one lookup, :mod:`.sites`)."""
    return site_record(surface.info, site, site_index)


def _reference_sign(surface: Atoms, refs: list[int]) -> int:
    """Common sign of the reference atoms' moments; InputError if zero or mixed."""
    moments = surface.get_initial_magnetic_moments()[refs]
    signs = set(np.sign(moments).astype(int).tolist())
    if len(signs) != 1 or 0 in signs:
        raise InputError(
            f"reference atoms {refs} of the site have moments {moments.tolist()}: p/ap needs "
            "nonzero moments of one sign (use a magnetic surface such as mn-w110)"
        )
    return signs.pop()


def build_junction(
    surface: Atoms,
    tip: Atoms,
    site: str = "top",
    site_index: int = 0,
    distance_A: float = 5.0,
    config: str = "p",
    vacuum_above_tip_A: float = 10.0,
    scan_d_max_A: float | None = None,
) -> Atoms:
    """Place ``tip`` with its apex ``distance_A`` above a site of ``surface``.

    Parameters
    ----------
    surface
        Slab from :func:`build_mn_w110` (or any Atoms with the same ``info`` records:
        ``surface``, ``sites``, ``surface_z_A``), possibly relaxed.
    tip
        Tip from :func:`build_tip` (``info['apex_index']`` etc.), possibly relaxed.
    site, site_index
        Site kind (``top`` or ``hollow`` on mn-w110) and which one.
    distance_A
        Vertical apex - surface-Mn-plane distance (Angstrom), > 0.
    config
        ``p`` (apex parallel to the reference atoms) or ``ap``.
    vacuum_above_tip_A
        Vacuum between the tip's top atom and the periodic image of the slab bottom (at
        ``scan_d_max_A`` if given).
    scan_d_max_A
        None (default): a cell for this distance alone.  A value >= ``distance_A``: the cell
        and slab position of a scan whose largest distance it is (see module doc).

    Returns
    -------
    ase.Atoms
        Surface atoms first, then the tip.  ``info`` has ``kind='junction'``, ``site``,
        ``site_index``, ``distance_A``, ``config``, ``apex_index``, ``tip_indices``,
        ``reference_indices``, ``surface``, ``tip``, ``tip_layers``, ``tip_base``,
        ``n_surface_atoms``, ``scan_d_max_A``, ``dipole_z_A``, ``apex_image_distance_A``
        and more.

    Raises
    ------
    InputError
        Bad site/index/config, d <= 0, d above ``scan_d_max_A``, too little vacuum, atoms
        closer than 1.5 A.
    """
    require_choice("config", config, CONFIGS)
    require_positive("distance_A (apex-surface distance)", distance_A)
    if not isinstance(vacuum_above_tip_A, (int, float)) or vacuum_above_tip_A < MIN_VACUUM_ABOVE_TIP_A:
        raise InputError(
            f"vacuum_above_tip_A = {vacuum_above_tip_A!r} A is too small: need >= {MIN_VACUUM_ABOVE_TIP_A} A "
            "between the tip top and the periodic image of the slab"
        )
    if "apex_index" not in tip.info:
        raise InputError("the tip has no info['apex_index']; build it with build_tip")
    entry = _site_entry(surface, site, site_index)
    refs = [int(i) for i in entry["reference_indices"]]
    ref_sign = _reference_sign(surface, refs)
    n_surf = len(surface)
    apex_local = int(tip.info["apex_index"])
    tip_atoms = _oriented_tip(tip, apex_local, ref_sign if config == "p" else -ref_sign)
    target = np.array([*entry["xy_A"], float(surface.info["surface_z_A"]) + distance_A])
    tip_atoms.positions += target - tip_atoms.positions[apex_local]
    d_max = float(distance_A) if scan_d_max_A is None else float(scan_d_max_A)
    if d_max < distance_A - 1e-9:
        raise InputError(f"scan_d_max_A = {scan_d_max_A} A is below the distance {distance_A} A; it must be the scan's largest distance")
    atoms, shift_z = _assemble(surface, tip_atoms, vacuum_above_tip_A, d_max - float(distance_A))
    atoms.set_constraint(FixAtoms(indices=fixed_indices(surface) + [n_surf + i for i in fixed_indices(tip)]))
    atoms.info = _junction_info(surface, tip, entry, site, site_index, distance_A, config, refs, n_surf)
    atoms.info["surface_z_A"] = float(surface.info["surface_z_A"]) + shift_z
    tip_top_at_d_max = float(atoms.positions[n_surf:, 2].max()) + (d_max - float(distance_A))
    atoms.info.update(
        scan_d_max_A=None if scan_d_max_A is None else d_max,
        dipole_z_A=tip_top_at_d_max + 0.5 * float(vacuum_above_tip_A),
        apex_image_distance_A=apex_image_distance(atoms, int(atoms.info["apex_index"])),
    )
    check_min_distance(atoms, what=f"junction ({site} {site_index}, d = {distance_A} A)")
    return atoms


def apex_image_distance(atoms: Atoms, apex_index: int) -> float:
    """Distance (A) from the apex to its nearest periodic image (in-plane lattice vectors)."""
    cell = atoms.cell.array
    shortest = min(
        float(np.linalg.norm(i * cell[0] + j * cell[1]))
        for i in range(-2, 3) for j in range(-2, 3) if (i, j) != (0, 0)
    )
    return round(shortest, 4)


def _oriented_tip(tip: Atoms, apex_local: int, wanted_sign: int) -> Atoms:
    """Copy of the tip whose apex moment has sign ``wanted_sign`` (whole tip flipped if needed)."""
    out = tip.copy()
    moments = out.get_initial_magnetic_moments()
    if moments[apex_local] == 0:
        raise InputError("the tip apex has zero starting moment: p/ap is undefined")
    if np.sign(moments[apex_local]) != wanted_sign:
        out.set_initial_magnetic_moments(-moments)
    return out


def _assemble(surface: Atoms, tip: Atoms, vacuum_A: float, lowered_by_A: float = 0.0) -> tuple[Atoms, float]:
    """Surface + tip in the surface's lateral cell; also the z shift applied to all atoms.

    The cell has ``vacuum_A`` between the tip's top and the slab image's bottom when the tip
    is ``lowered_by_A`` higher than it is (the scan's largest distance); the slab sits where
    it sits at that distance, so only the tip moves between the points of a scan.
    """
    slab = surface.copy()
    slab.set_constraint()
    bare_tip = tip.copy()
    bare_tip.set_constraint()
    slab_bottom = slab.positions[:, 2].min()
    tip_top = bare_tip.positions[:, 2].max()
    atoms = slab + bare_tip
    cell = slab.cell.array.copy()
    cell[2] = [0.0, 0.0, tip_top + lowered_by_A - slab_bottom + vacuum_A]
    atoms.set_cell(cell)
    atoms.pbc = True
    shift_z = vacuum_A / 2.0 - slab_bottom
    atoms.positions[:, 2] += shift_z
    return atoms, float(shift_z)


def _junction_info(
    surface: Atoms, tip: Atoms, entry: dict, site: str, site_index: int, distance_A: float,
    config: str, refs: list[int], n_surf: int,
) -> dict:
    """Metadata of the junction (plain JSON-able values)."""
    info = {k: v for k, v in surface.info.items() if k not in ("kind", "sites", "surface_z_A")}
    info.update(
        {
            "kind": "junction",
            "surface": surface.info.get("surface"),
            "site": site,
            "site_index": int(site_index),
            "site_xy_A": [float(v) for v in entry["xy_A"]],
            "distance_A": float(distance_A),
            "config": config,
            "apex_index": n_surf + int(tip.info["apex_index"]),
            "tip_indices": list(range(n_surf, n_surf + len(tip))),
            "n_surface_atoms": int(n_surf),
            "reference_indices": refs,
            "tip": tip.info.get("tip"),
            "tip_base": tip.info.get("tip_base"),
            "tip_layers": int(tip.info.get("tip_layers", 0)),
            "tip_a_A": float(tip.info.get("a_A", 0.0)),
            "tip_shape": tip.info.get("tip_shape", "pyramid"),
        }
    )
    return info


#: Parts of a junction that can be computed alone (the fragments of a superposed start).
FRAGMENTS: tuple[str, ...] = ("surface", "tip")


def junction_fragment(junction: Atoms, part: str) -> Atoms:
    """The slab or the tip of a junction alone, in the junction's own cell.

    Parameters
    ----------
    junction
        From :func:`build_junction` (``info['n_surface_atoms']``).
    part
        ``surface`` or ``tip``.

    Returns
    -------
    ase.Atoms
        The part's atoms, moments and constraints at their junction positions; ``info`` keeps
        the junction's cell records (``dipole_z_A``, ``scan_d_max_A``, ``distance_A`` of the
        tip) with ``kind='fragment'``, ``fragment=part`` and ``config=None``, so that a
        fragment is never mistaken for a p or ap point.
    """
    require_choice("junction fragment", part, FRAGMENTS)
    n_surf = int(junction.info["n_surface_atoms"])
    keep = list(range(n_surf)) if part == "surface" else list(range(n_surf, len(junction)))
    fixed = set(fixed_indices(junction))
    atoms = junction[keep]
    atoms.set_constraint(FixAtoms(indices=[k for k, i in enumerate(keep) if i in fixed]))
    info = dict(junction.info)
    info.update(kind="fragment", fragment=part, config=None, fragment_of=junction.info.get("spec"))
    if part == "tip":
        info["apex_index"] = int(junction.info["apex_index"]) - n_surf
        info["tip_indices"] = list(range(len(atoms)))
    else:
        info.pop("apex_index", None)
        info["tip_indices"] = []
    info.pop("spec", None)
    atoms.info = info
    return atoms
