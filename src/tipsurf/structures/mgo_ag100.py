"""MgO(100) thin films on Ag(100): n MgO monolayers epitaxial on m Ag(100) layers.

Geometry (Ag lattice constant ``a``; the MgO adopts it in-plane)
-----------------------------------------------------------------
* Square surface cell a x a (x along [100], y along [010]) with 2 Ag atoms per Ag layer and
  2 Mg + 2 O per MgO layer; the lateral supercell is k x k of this cell.  (The primitive
  a/sqrt(2) cell is not used: the a x a cell keeps x, y along the cube axes.)
* Ag(100) layers are a/2 apart (fcc ABAB stacking, shift (a/2, 0)).
* The first MgO layer sits ``interface_A`` above the top Ag layer with O directly above Ag and
  Mg above the Ag fourfold hollows; MgO layers are ``mgo_spacing_A`` apart in rock-salt
  stacking (O above Mg).  Defaults: 2.10 A (bulk MgO a/2 = 2.105 A) and 2.65 A for the Ag-O
  interface (DFT/experiment for MgO/Ag(100) report about 2.5-2.8 A); both are starting values
  for a relaxation and are parameters.

Sites (``info['sites']``, named after the top-layer O sublattice)
-----------------------------------------------------------------
* ``o-top``: above a top-layer O atom.
* ``bridge``: O-O bridge, the midpoint between two nearest O atoms (a/sqrt(2) apart).  On
  rock salt (100) this point is also the centre of the Mg2O2 square (2 O and 2 Mg at
  a/(2*sqrt(2)) laterally).
* ``hollow``: the centre of four O atoms, which lies directly above a top-layer Mg atom.
Site i of each kind is attached to the i-th top-layer O atom (``info['o_top_indices']``); its
reference atoms are the surface atoms that define it (1 O, 2 O, 1 Mg under the site).

Moments: all 0 (nonmagnetic substrate).  Constraints: the bottom half of the Ag layers (at
least one) fixed, or, with ``free_top_layers=n``, every layer but the top n (``n=1``: only the
top MgO layer free, as for an adsorbate relaxed on a fixed film).  Tags: layer number from the
top (1 = top MgO layer).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from tipsurf.structures.checks import require_int, require_positive

SURFACE_NAME = "mgo-ag100"
MAX_LATERAL = 8
MAX_LAYERS = 12
#: MgO interlayer distance (Angstrom): bulk MgO a/2.
MGO_SPACING_A = 2.10
#: Ag-O interface distance (Angstrom).
AG_O_INTERFACE_A = 2.65

_A_SITES = np.array([[0.0, 0.0], [0.5, 0.5]])  # fractional, per a x a cell
_B_SITES = np.array([[0.5, 0.0], [0.0, 0.5]])


def _grid(frac: np.ndarray, k: int, a_A: float) -> np.ndarray:
    """Cartesian in-plane positions of a 2-atom sublattice repeated k x k."""
    out = [((ix + fx) * a_A, (iy + fy) * a_A) for iy in range(k) for ix in range(k) for fx, fy in frac]
    return np.array(out)


def build_mgo_ag100(
    mgo_layers: int = 2,
    ag_layers: int = 4,
    size: int = 1,
    a_A: float = 4.09,
    vacuum_A: float = 20.0,
    mgo_spacing_A: float = MGO_SPACING_A,
    interface_A: float = AG_O_INTERFACE_A,
    free_top_layers: int | None = None,
) -> Atoms:
    """Build an MgO(n)/Ag(100) slab.

    Parameters
    ----------
    mgo_layers
        Number of MgO monolayers (>= 1; 2 or 3 in the reference work).
    ag_layers
        Number of Ag(100) layers.
    size
        k of the k x k lateral supercell of the a x a square cell.
    a_A
        Ag lattice constant, also the in-plane lattice of the MgO film (Angstrom).
    vacuum_A
        Total vacuum between the slab and its periodic image along z (Angstrom).
    mgo_spacing_A, interface_A
        MgO interlayer and Ag-O interface distances (Angstrom).
    free_top_layers
        Number of top layers left free (the rest fixed); ``None``: the bottom half of the Ag
        layers (at least one) fixed.

    Returns
    -------
    ase.Atoms
        Periodic slab with zero moments, tags, FixAtoms on the bottom Ag layers and ``info``
        (``kind='surface'``, ``surface='mgo-ag100'``, ``sites``, ``surface_z_A``, ...).
    """
    require_int("MgO layers", mgo_layers, 1, MAX_LAYERS)
    require_int("Ag layers", ag_layers, 1, MAX_LAYERS)
    require_int("lateral size k", size, 1, MAX_LATERAL)
    for name, value in (("Ag lattice constant a_A", a_A), ("vacuum_A", vacuum_A),
                        ("MgO spacing mgo_spacing_A", mgo_spacing_A), ("Ag-O interface_A", interface_A)):
        require_positive(name, value)
    symbols: list[str] = []
    positions: list[list[float]] = []
    layer_from_bottom: list[int] = []
    layers = _layer_plan(mgo_layers, ag_layers, a_A, mgo_spacing_A, interface_A)
    for j, (z, species) in enumerate(layers):
        for element, frac in species:
            for x, y in _grid(frac, size, a_A):
                symbols.append(element)
                positions.append([x, y, z])
                layer_from_bottom.append(j)
    atoms = Atoms(symbols, positions=positions, pbc=True)
    top_z = layers[-1][0]
    atoms.set_cell([size * a_A, size * a_A, top_z + vacuum_A])
    atoms.positions[:, 2] += vacuum_A / 2.0
    atoms.set_initial_magnetic_moments(np.zeros(len(atoms)))
    n_layers = len(layers)
    tags = [n_layers - j for j in layer_from_bottom]
    atoms.set_tags(tags)
    if free_top_layers is not None:
        require_int("free top layers", free_top_layers, 0, mgo_layers + ag_layers)
    n_fixed = max(1, ag_layers // 2) if free_top_layers is None else mgo_layers + ag_layers - int(free_top_layers)
    atoms.set_constraint(FixAtoms(indices=[i for i, j in enumerate(layer_from_bottom) if j < n_fixed]))
    o_top = [i for i, (s, t) in enumerate(zip(symbols, tags)) if s == "O" and t == 1]
    mg_top = [i for i, (s, t) in enumerate(zip(symbols, tags)) if s == "Mg" and t == 1]
    atoms.info.update(
        {
            "kind": "surface",
            "surface": SURFACE_NAME,
            "a_A": float(a_A),
            "mgo_layers": int(mgo_layers),
            "ag_layers": int(ag_layers),
            "size": int(size),
            "mgo_spacing_A": float(mgo_spacing_A),
            "interface_A": float(interface_A),
            "surface_z_A": float(atoms.positions[o_top[0], 2]),
            "o_top_indices": o_top,
            "sites": _sites(atoms, o_top, mg_top, a_A),
        }
    )
    return atoms


def _layer_plan(
    mgo_layers: int, ag_layers: int, a_A: float, mgo_spacing_A: float, interface_A: float
) -> list[tuple[float, list[tuple[str, np.ndarray]]]]:
    """(z, [(element, sublattice)]) per layer from the bottom; top Ag layer on sublattice A."""
    plan: list[tuple[float, list[tuple[str, np.ndarray]]]] = []
    for j in range(ag_layers):
        on_a = (ag_layers - 1 - j) % 2 == 0
        plan.append((j * a_A / 2.0, [("Ag", _A_SITES if on_a else _B_SITES)]))
    z = (ag_layers - 1) * a_A / 2.0 + interface_A
    for m in range(mgo_layers):
        o_on_a = m % 2 == 0
        plan.append((z, [("Mg", _B_SITES if o_on_a else _A_SITES), ("O", _A_SITES if o_on_a else _B_SITES)]))
        z += mgo_spacing_A
    return plan


def _sites(atoms: Atoms, o_top: list[int], mg_top: list[int], a_A: float) -> dict[str, list[dict[str, object]]]:
    """o-top, bridge and hollow sites attached to every top-layer O atom."""
    cell_xy = np.array([atoms.cell[0, 0], atoms.cell[1, 1]])
    out: dict[str, list[dict[str, object]]] = {"o-top": [], "bridge": [], "hollow": []}
    for i in o_top:
        xy = atoms.positions[i, :2]
        bridge_xy = xy + np.array([a_A / 4.0, a_A / 4.0])
        hollow_xy = xy + np.array([a_A / 2.0, 0.0])
        o_pair = sorted({int(i), _nearest(atoms, o_top, xy + np.array([a_A / 2.0, a_A / 2.0]), cell_xy)})
        entries = (
            ("o-top", xy, [int(i)]),
            ("bridge", bridge_xy, o_pair),
            ("hollow", hollow_xy, [_nearest(atoms, mg_top, hollow_xy, cell_xy)]),
        )
        for name, pos, refs in entries:
            out[name].append({"xy_A": [float(v) for v in np.mod(pos, cell_xy)], "reference_indices": refs})
    return out


def _nearest(atoms: Atoms, candidates: list[int], xy: np.ndarray, cell_xy: np.ndarray) -> int:
    """Index among ``candidates`` closest in-plane to ``xy`` (minimum image)."""
    delta = atoms.positions[candidates, :2] - xy
    delta -= np.round(delta / cell_xy) * cell_xy
    return int(candidates[int(np.argmin(np.linalg.norm(delta, axis=1)))])
