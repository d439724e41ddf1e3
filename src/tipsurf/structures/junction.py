"""Tip over a named surface site at a given distance, with parallel or antiparallel apex.

Geometry: the apex is placed at the site's in-plane position, ``distance_A`` above the plane
of the top surface Mn layer (``surface.info['surface_z_A']``): for a top site this is the
vertical distance between the centres of the apex and the Mn atom under it; for a hollow site
it is measured from the same Mn plane.  The cell height is chosen so that
``vacuum_above_tip_A`` separates the topmost tip atom from the periodic image of the slab's
lowest atom; the slab's lateral cell is kept.

Connected junction (``connected_bond_A`` set): instead of a vacuum above the tip, the cell is
closed so that the tip's top layer sits ``connected_bond_A`` (vertically) below the bottom layer
of the slab's periodic image, at the bcc stacking sites (hollows) of that layer: the image slab's
underside supports the tip, there is no vacuum anywhere, and the cell height is slab thickness +
d + tip height + bond.  If the registry needs it, the third cell vector gets an in-plane
component (a translation of the slab's layer lattice); it is vertical for the usual cases.  This
needs a ``bcc110`` tip on a 1x1 surface cell with the surface's lattice constant.  It is the
model that converges in pw.x for tiny demo cells, where a floating tip (isolated metal pieces
across a vacuum) charge-sloshes forever.

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
from tipsurf.structures.checks import check_min_distance, require_choice, require_positive

CONFIGS: tuple[str, ...] = ("p", "ap")
#: Smallest accepted vacuum between the tip top and the image of the slab bottom (Angstrom).
MIN_VACUUM_ABOVE_TIP_A = 3.0
#: Accepted range of the vertical tip-top-layer to image-slab distance (Angstrom).
CONNECTED_BOND_RANGE_A: tuple[float, float] = (1.0, 4.0)


def _fixed(atoms: Atoms) -> list[int]:
    """Indices fixed by the FixAtoms constraints of ``atoms``."""
    return sorted({int(i) for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.get_indices()})


def _site_entry(surface: Atoms, site: str, site_index: int) -> dict:
    """The ``info['sites'][site][site_index]`` record, with InputErrors for bad names/indices."""
    sites = surface.info.get("sites")
    if not isinstance(sites, dict):
        raise InputError("the surface has no info['sites']; build it with a tipsurf surface builder")
    require_choice(f"site for surface {surface.info.get('surface')!r}", site, tuple(sites))
    entries = sites[site]
    ok = isinstance(site_index, (int, np.integer)) and not isinstance(site_index, bool)
    if not ok or not 0 <= site_index < len(entries):
        raise InputError(
            f"site index {site_index!r} is outside the surface: {site} sites are 0..{len(entries) - 1} "
            "(use a larger lateral size for more sites)"
        )
    return entries[int(site_index)]


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
    connected_bond_A: float | None = None,
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
        Vacuum between the tip's top atom and the periodic image of the slab bottom
        (ignored for a connected junction).
    connected_bond_A
        None (default): floating tip with ``vacuum_above_tip_A``.  A value: connected
        junction, the tip's top layer this far below the image slab's bottom layer, at its
        hollow (bcc stacking) sites; needs a bcc110 tip on a 1x1 surface (see module doc).

    Returns
    -------
    ase.Atoms
        Surface atoms first, then the tip.  ``info`` has ``kind='junction'``, ``site``,
        ``site_index``, ``distance_A``, ``config``, ``apex_index``, ``tip_indices``,
        ``reference_indices``, ``surface``, ``tip``, ``tip_layers``, ``tip_base``,
        ``connected_bond_A`` (None for a floating tip) and more.

    Raises
    ------
    InputError
        Bad site/index/config, d <= 0, too little vacuum, atoms closer than 1.5 A, a
        connected junction with a tip/surface that cannot be connected.
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
    if connected_bond_A is None:
        atoms, shift_z = _assemble(surface, tip_atoms, vacuum_above_tip_A)
    else:
        _check_connectable(surface, tip, connected_bond_A)
        offset = _registry_offset(surface, tip_atoms)
        atoms, shift_z = _assemble(surface, tip_atoms, float(connected_bond_A), offset)
    atoms.set_constraint(FixAtoms(indices=_fixed(surface) + [n_surf + i for i in _fixed(tip)]))
    atoms.info = _junction_info(surface, tip, entry, site, site_index, distance_A, config, refs, n_surf)
    atoms.info["surface_z_A"] = float(surface.info["surface_z_A"]) + shift_z
    atoms.info["connected_bond_A"] = None if connected_bond_A is None else float(connected_bond_A)
    check_min_distance(atoms, what=f"junction ({site} {site_index}, d = {distance_A} A)")
    return atoms


def _check_connectable(surface: Atoms, tip: Atoms, bond_A: float) -> None:
    """InputError unless a bcc110 tip, a 1x1 surface with the tip's lattice constant, a sane bond."""
    low, high = CONNECTED_BOND_RANGE_A
    if isinstance(bond_A, bool) or not isinstance(bond_A, (int, float)) or not low <= bond_A <= high:
        raise InputError(f"connected_bond_A must be a number between {low} and {high} A (about 2 for Fe on W), got {bond_A!r}")
    if tip.info.get("tip_shape") != "bcc110" or int(tip.info.get("tip_layers", 0)) < 2:
        raise InputError("a connected junction needs a tip of shape 'bcc110' with at least 2 layers (its top layer bonds to the slab image)")
    if list(surface.info.get("size", [])) != [1, 1]:
        raise InputError(f"a connected junction needs a 1x1 surface cell (the bcc110 tip layers fill it), got size {surface.info.get('size')}")
    surface_a = float(surface.info.get("a_A", 0.0))
    if abs(float(tip.info.get("a_A", 0.0)) - surface_a) > 1e-6:
        raise InputError(
            f"a connected junction needs a pseudomorphic tip: set the tip a_A to the surface's {surface_a} A "
            f"(got {tip.info.get('a_A')})"
        )


def _layer(atoms: Atoms, top: bool) -> np.ndarray:
    """Indices of the topmost (or bottommost) atomic layer (within 0.1 A)."""
    z = atoms.positions[:, 2]
    edge = z.max() if top else z.min()
    return np.flatnonzero(np.abs(z - edge) < 0.1)


def _registry_offset(slab: Atoms, tip: Atoms) -> np.ndarray:
    """In-plane part of the third cell vector that puts the tip top layer at the image's hollows.

    The bcc stacking site of a (110) layer is its atom position + (a/2, 0); the offset is
    reduced modulo the layer lattice (a, 0), (a/2, a*sqrt(2)/2) to the shortest vector.
    """
    a = float(slab.info["a_A"])
    half_b = a * np.sqrt(2.0) / 2.0
    top_xy = tip.positions[_layer(tip, top=True)[0], :2]
    bottom_xy = slab.positions[_layer(slab, top=False)[0], :2]
    raw = top_xy - bottom_xy - np.array([a / 2.0, 0.0])
    n2 = np.round(raw[1] / half_b)
    rest = raw - n2 * np.array([a / 2.0, half_b])
    rest[0] -= np.round(rest[0] / a) * a
    return np.where(np.abs(rest) < 1e-9, 0.0, rest)


def _oriented_tip(tip: Atoms, apex_local: int, wanted_sign: int) -> Atoms:
    """Copy of the tip whose apex moment has sign ``wanted_sign`` (whole tip flipped if needed)."""
    out = tip.copy()
    moments = out.get_initial_magnetic_moments()
    if moments[apex_local] == 0:
        raise InputError("the tip apex has zero starting moment: p/ap is undefined")
    if np.sign(moments[apex_local]) != wanted_sign:
        out.set_initial_magnetic_moments(-moments)
    return out


def _assemble(
    surface: Atoms, tip: Atoms, gap_above_tip_A: float, c_offset_xy_A: np.ndarray | None = None
) -> tuple[Atoms, float]:
    """Surface + tip in the surface's lateral cell; also the z shift applied to all atoms.

    ``gap_above_tip_A`` is the vertical gap between the tip's top and the slab image's bottom:
    the vacuum of a floating tip, or the bond of a connected one (whose third cell vector may
    also need an in-plane ``c_offset_xy_A`` to put the tip at the image's hollows).
    """
    slab = surface.copy()
    slab.set_constraint()
    bare_tip = tip.copy()
    bare_tip.set_constraint()
    slab_bottom = slab.positions[:, 2].min()
    tip_top = bare_tip.positions[:, 2].max()
    atoms = slab + bare_tip
    offset = np.zeros(2) if c_offset_xy_A is None else c_offset_xy_A
    cell = slab.cell.array.copy()
    cell[2] = [offset[0], offset[1], tip_top - slab_bottom + gap_above_tip_A]
    atoms.set_cell(cell)
    atoms.pbc = True
    shift_z = gap_above_tip_A / 2.0 - slab_bottom
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
            "reference_indices": refs,
            "tip": tip.info.get("tip"),
            "tip_base": tip.info.get("tip_base"),
            "tip_layers": int(tip.info.get("tip_layers", 0)),
            "tip_a_A": float(tip.info.get("a_A", 0.0)),
            "tip_shape": tip.info.get("tip_shape", "pyramid"),
        }
    )
    return info
