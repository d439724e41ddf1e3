"""Mn monolayer on W(110): symmetric (or one-sided) slab with c(2x2) antiferromagnetic Mn.

Geometry (bcc lattice constant ``a``)
-------------------------------------
* x along [001], y along [1-10], z along [110] (surface normal).
* Rectangular surface cell a x a*sqrt(2) with 2 atoms per layer: (0, 0) and
  (a/2, a*sqrt(2)/2); the lateral supercell repeats it nx x ny times.
* (110) layers are a/sqrt(2) apart (2.242 A for a = 3.17 A) and consecutive layers are shifted
  by (a/2, 0): every atom has 4 in-plane and 2 + 2 interlayer nearest neighbours at
  a*sqrt(3)/2 (2.745 A).  The pseudomorphic Mn layer continues this bcc stacking; its distance
  to the W layer below is a parameter (default: the bulk W(110) spacing).
* The top Mn layer is in the registry of the cell origin: a Mn atom sits at (0, 0).

Magnetic order
--------------
Collinear c(2x2) AFM: Mn rows along [001] (x) share a sign; neighbouring rows, a*sqrt(2)/2
apart along [1-10] (y), alternate, giving the magnetic period a*sqrt(2) along y.  The row at
y = 0 is positive.  Every Mn atom's 4 in-plane nearest neighbours are antiparallel to it.
W starts at 0 muB.  The bottom Mn layer of a symmetric slab is the mirror image of the top one
(same moments).  ``mn_order='ferro'`` starts every Mn positive instead: not the ground state of
Mn/W(110), but the reference that separates a tip's coupling to the Mn atom under it from its
coupling to the four antiparallel nearest neighbours (on the top site of the c(2x2) AFM layer
E_ex ~ -2(J0 - 4 J1 + 2 J2 ...), on the ferromagnetic one -2(J0 + 4 J1 + 2 J2 ...)).

Sites (``info['sites']``)
-------------------------
* ``top`` i: above the i-th top-layer Mn atom (``info['mn_top_indices'][i]``); reference atom:
  that Mn atom.
* ``hollow`` i: the centre of the rhombus of four Mn atoms next to the i-th top Mn atom, at
  its position + (a/2, 0).  This is the bcc continuation site (directly above a W atom of the
  layer below, also called the long bridge of bcc(110)).  Its two nearest Mn atoms, a/2 away
  along the [001] row, share one sign; the two next ones (a*sqrt(2)/2 away, neighbouring rows)
  have the other sign.  The reference atoms are the two nearest (same-sign) Mn atoms, so p/ap
  is well defined.  (The quasi-threefold hollow would have mixed-sign neighbours.)

Constraints (the reference protocol's slab relaxation): Mn and the W layer under it relax, every
deeper W layer is fixed — for a symmetric slab on both sides; a slab too thin for that keeps at
least one fixed W layer (its lowest, or its central one).  Tags: layer number from the top (1 = Mn).
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from tipsurf.errors import InputError
from tipsurf.structures.checks import require_choice, require_int, require_positive
from tipsurf.structures.moments import default_moment

SURFACE_NAME = "mn-w110"
#: Starting magnetic orders of the Mn layer (the first is the default, the Mn/W(110) ground state).
MN_ORDERS = ("c2x2-afm", "ferro")
MAX_W_LAYERS = 15
MAX_LATERAL = 12


def _layer_xy(nx: int, ny: int, a_A: float, shift_x_A: float) -> np.ndarray:
    """In-plane positions of one (110) layer in the nx x ny rectangular supercell."""
    b_A = a_A * math.sqrt(2.0)
    basis = np.array([[0.0, 0.0], [a_A / 2.0, b_A / 2.0]])
    rows = []
    for iy in range(ny):
        for ix in range(nx):
            for bx, by in basis:
                x = (ix * a_A + bx + shift_x_A) % (nx * a_A)
                rows.append([x, iy * b_A + by])
    return np.array(rows)


def _row_sign(y_A: float, a_A: float, mn_order: str = MN_ORDERS[0]) -> int:
    """+1 for Mn rows at y = k*a*sqrt(2), -1 for the rows in between (c(2x2) AFM); +1 if ferro."""
    if mn_order == "ferro":
        return 1
    row = int(round(y_A / (a_A * math.sqrt(2.0) / 2.0)))
    return 1 if row % 2 == 0 else -1


def _fixed_layers(w_layers: int, one_sided: bool) -> list[int]:
    """Indices (bottom = 0) of the layers held fixed in relaxations: all W but the one under Mn."""
    if one_sided:
        return list(range(max(1, w_layers - 1)))
    n_total = w_layers + 2
    inner = list(range(2, n_total - 2))
    if inner:
        return inner
    mid = (n_total - 1) / 2.0
    return [j for j in range(n_total) if abs(j - mid) < 0.75]


def build_mn_w110(
    w_layers: int = 5,
    size: tuple[int, int] = (1, 1),
    a_A: float = 3.17,
    one_sided: bool = False,
    vacuum_A: float = 10.0,
    mn_w_spacing_A: float | None = None,
    mn_order: str = MN_ORDERS[0],
) -> Atoms:
    """Build a Mn/W(110) slab with c(2x2) AFM (or ferromagnetic) Mn starting moments.

    Parameters
    ----------
    w_layers
        Number of W(110) layers.
    size
        Lateral repetitions (nx, ny) of the a x a*sqrt(2) rectangular cell.
    a_A
        W lattice constant (Angstrom); default the GGA value 3.17.
    one_sided
        Mn on the top side only (default: one Mn layer on each side).
    vacuum_A
        Vacuum on each side of the slab (Angstrom).
    mn_w_spacing_A
        Mn-W interlayer distance; default the bulk W(110) spacing a/sqrt(2).
    mn_order
        ``'c2x2-afm'`` (default, the ground state) or ``'ferro'`` (every Mn positive; a
        reference for separating the tip's couplings to the Mn atoms around it).

    Returns
    -------
    ase.Atoms
        Periodic slab with initial moments, tags, FixAtoms and ``info`` metadata
        (``kind='surface'``, ``surface='mn-w110'``, ``mn_top_indices``, ``sites``,
        ``surface_z_A``, ...).
    """
    nx, ny = _check_size(size)
    require_int("W layers", w_layers, 1, MAX_W_LAYERS)
    require_positive("W lattice constant a_A", a_A)
    require_positive("vacuum_A", vacuum_A)
    require_choice("Mn order", mn_order, MN_ORDERS)
    spacing_w = a_A / math.sqrt(2.0)
    spacing_mn = spacing_w if mn_w_spacing_A is None else mn_w_spacing_A
    require_positive("Mn-W spacing mn_w_spacing_A", spacing_mn)
    stack = ([] if one_sided else ["Mn"]) + ["W"] * w_layers + ["Mn"]
    top = len(stack) - 1
    symbols: list[str] = []
    positions: list[list[float]] = []
    tags: list[int] = []
    z = 0.0
    for j, element in enumerate(stack):
        if j > 0:
            z += spacing_mn if "Mn" in (element, stack[j - 1]) else spacing_w
        shift = ((top - j) % 2) * a_A / 2.0
        for x, y in _layer_xy(nx, ny, a_A, shift):
            symbols.append(element)
            positions.append([x, y, z])
            tags.append(top - j + 1)
    atoms = Atoms(symbols, positions=positions, pbc=True)
    atoms.set_cell([nx * a_A, ny * a_A * math.sqrt(2.0), z + 2.0 * vacuum_A])
    atoms.positions[:, 2] += vacuum_A
    moments = [
        _row_sign(p[1], a_A, mn_order) * default_moment("Mn") if s == "Mn" else default_moment(s)
        for s, p in zip(symbols, atoms.positions)
    ]
    atoms.set_initial_magnetic_moments(moments)
    atoms.set_tags(tags)
    fixed_tags = {top - j + 1 for j in _fixed_layers(w_layers, one_sided)}
    atoms.set_constraint(FixAtoms(indices=[i for i, t in enumerate(tags) if t in fixed_tags]))
    mn_top = [i for i, t in enumerate(tags) if t == 1]
    atoms.info.update(
        {
            "kind": "surface",
            "surface": SURFACE_NAME,
            "a_A": float(a_A),
            "w_layers": int(w_layers),
            "size": [nx, ny],
            "one_sided": bool(one_sided),
            "mn_w_spacing_A": float(spacing_mn),
            "mn_order": mn_order,
            "surface_z_A": float(atoms.positions[mn_top[0], 2]),
            "mn_top_indices": mn_top,
            "sites": _sites(atoms, mn_top, a_A),
        }
    )
    return atoms


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    """Validate the (nx, ny) lateral size."""
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise InputError(f"lateral size must be two integers (nx, ny), got {size!r}")
    require_int("lateral size nx", size[0], 1, MAX_LATERAL)
    require_int("lateral size ny", size[1], 1, MAX_LATERAL)
    return int(size[0]), int(size[1])


def _index_at(atoms: Atoms, candidates: list[int], xy: np.ndarray) -> int:
    """Index among ``candidates`` whose in-plane position matches ``xy`` modulo the cell."""
    cell_xy = np.array([atoms.cell[0, 0], atoms.cell[1, 1]])
    delta = atoms.positions[candidates, :2] - xy
    delta -= np.round(delta / cell_xy) * cell_xy
    return candidates[int(np.argmin(np.linalg.norm(delta, axis=1)))]


def _sites(atoms: Atoms, mn_top: list[int], a_A: float) -> dict[str, list[dict[str, object]]]:
    """Top and hollow sites with their in-plane positions and p/ap reference atoms."""
    cell_xy = np.array([atoms.cell[0, 0], atoms.cell[1, 1]])
    top_sites, hollow_sites = [], []
    for i in mn_top:
        xy = atoms.positions[i, :2]
        top_sites.append({"xy_A": [float(v) for v in xy], "reference_indices": [int(i)]})
        hollow_xy = (xy + np.array([a_A / 2.0, 0.0])) % cell_xy
        neighbour = _index_at(atoms, mn_top, xy + np.array([a_A, 0.0]))
        refs = sorted({int(i), int(neighbour)})
        hollow_sites.append({"xy_A": [float(v) for v in hollow_xy], "reference_indices": refs})
    return {"top": top_sites, "hollow": hollow_sites}
