"""STM tips with the apex pointing down (-z): bcc(001) pyramids and bcc(110) layer tips.

Shape ``pyramid`` (default): bcc(001) pyramid, layers of 1, 4, 9, 16 ... atoms.

Layer ``k`` (k = 0 is the apex) is a (k+1) x (k+1) square of atoms with the in-plane spacing
``a`` (the bcc lattice constant), centred on the apex; consecutive layers are a/2 apart, which
is the bcc stacking along [001] (each atom has its 4 bcc nearest neighbours at a*sqrt(3)/2 in
the layer above).  The tip's [100] and [010] axes are along x and y.

Conventions
-----------
* The apex is the lowest atom (smallest z) and index 0 (``info['apex_index']``).
* ``tags`` are negative: -1 for the apex, -2 for the next layer, ... so that tip atoms stay
  recognisable inside a junction (surface layers carry tags >= 0).
* Moments: ferromagnetic base (+ default moment of the base element); the apex keeps the same
  sign unless it couples antiparallel (a Mn or Cr apex on another base), then it is negative.
* Constraints: apex and next layer free, deeper layers fixed (:class:`ase.constraints.FixAtoms`).

Shape ``bcc110``: an apex atom under pseudomorphic bcc(110) layers that fill an
``nx x ny`` supercell of the rectangular c(2x2) cell of Mn/W(110) (x || [001], y || [1-10],
in-plane lattice ``a`` x ``a*sqrt(2)``, ``a`` the surface's lattice constant; ``cell_size``).
Layer k >= 1 holds 2*nx*ny atoms at ``k*(a/2, 0) + {(0, 0), (a/2, a*sqrt(2)/2)}`` + lattice
vectors, relative to the apex, i.e. the bcc(110) stacking continued upward from the apex,
``layer_spacing_A`` apart (default the bulk a/sqrt(2)).  The apex sits below a bcc stacking
site of the first layer, with 4 nearest neighbours there once the layer is repeated
periodically: the layers are the tip's support, and the tip floats in the junction cell with
vacuum above its top layer.  Only the top layer is fixed.  In a 2x1 cell (6.34 x 4.48 A on
W(110)) the apex is 4.48 A from its nearest periodic image.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from tipsurf.errors import InputError
from tipsurf.structures.checks import require_choice, require_int, require_positive
from tipsurf.structures.moments import apex_sign, default_moment

#: Elements accepted as apex atom.
APEX_ELEMENTS: tuple[str, ...] = ("Fe", "Co", "Mn", "Cr", "Ni")
#: Elements accepted as the bcc base of the pyramid.
BASE_ELEMENTS: tuple[str, ...] = ("Fe", "Cr", "Co", "Ni", "Mn", "W")
#: Layers of the tip that may relax (counted from the apex).
FREE_LAYERS: int = 2
#: Largest number of layers accepted (1 + 4 + ... + 36 = 91 atoms).
MAX_TIP_LAYERS: int = 6
#: Tip shapes: bcc(001) pyramid, bcc(110) layers of the c(2x2) cell.
TIP_SHAPES: tuple[str, ...] = ("pyramid", "bcc110")


def default_layer_spacing(shape: str, a_A: float) -> float:
    """Bulk bcc interlayer spacing of a tip shape: a/2 along [001], a/sqrt(2) along [110]."""
    return a_A / 2.0 if shape == "pyramid" else a_A / np.sqrt(2.0)


def tip_layer_sizes(layers: int) -> list[int]:
    """Number of atoms per layer from the apex: ``[1, 4, 9, ...]``."""
    return [(k + 1) ** 2 for k in range(layers)]


def _layer_positions(k: int, a_A: float) -> np.ndarray:
    """Positions of layer ``k`` (apex = 0): a (k+1)^2 square grid centred on the z axis."""
    offsets = (np.arange(k + 1) - k / 2.0) * a_A
    xs, ys = np.meshgrid(offsets, offsets, indexing="ij")
    z = np.full(xs.size, k * a_A / 2.0)
    return np.column_stack([xs.ravel(), ys.ravel(), z])


def build_tip(
    apex: str = "Fe",
    layers: int = 3,
    base: str = "Fe",
    a_A: float = 2.85,
    vacuum_A: float = 6.0,
    shape: str = "pyramid",
    layer_spacing_A: float | None = None,
    cell_size: tuple[int, int] = (1, 1),
) -> Atoms:
    """Build a tip with its apex pointing down: bcc(001) pyramid or bcc(110) layer tip.

    Parameters
    ----------
    apex
        Apex element (Fe, Co, Mn, Cr, Ni); only the apex atom is replaced (alloyed tip).
    layers
        Number of layers (pyramid 1: apex only, 2: 5 atoms, 3: 14 atoms, 4: 30 atoms;
        bcc110: 1 + 2 * (layers - 1) atoms).
    base
        Element of the rest of the tip.
    a_A
        bcc lattice constant = in-plane spacing (Angstrom); pyramid layers are ``a_A / 2``
        apart.  For ``bcc110`` it must be the lattice constant of the surface it fits.
    vacuum_A
        Vacuum on every side of the isolated pyramid in its periodic orthorhombic box
        (2 * vacuum_A between periodic images, as a plane-wave code needs); a ``bcc110`` tip
        keeps its layers periodic in the surface cell and has the vacuum below and above only.
    shape
        ``pyramid`` (bcc(001)) or ``bcc110`` (layers of the rectangular c(2x2) cell).
    layer_spacing_A
        Vertical distance between consecutive layers (apex to first layer included);
        default the bulk bcc value (a/2 for pyramid, a/sqrt(2) for bcc110).
    cell_size
        ``bcc110`` only: the (nx, ny) supercell of the c(2x2) surface cell the layers fill.

    Returns
    -------
    ase.Atoms
        The tip with initial magnetic moments, tags, FixAtoms and metadata in ``info``
        (``kind='tip'``, ``apex_index``, ``tip``, ``tip_base``, ``tip_layers``, ``a_A``,
        ``tip_height_A``, ``tip_shape``, ``layer_spacing_A``).
    """
    require_choice("apex element", apex, APEX_ELEMENTS)
    require_choice("tip base element", base, BASE_ELEMENTS)
    require_choice("tip shape", shape, TIP_SHAPES)
    require_int("tip layers", layers, 1, MAX_TIP_LAYERS)
    require_positive("tip lattice constant a_A", a_A)
    require_positive("tip vacuum_A", vacuum_A)
    spacing = default_layer_spacing(shape, a_A) if layer_spacing_A is None else layer_spacing_A
    require_positive("tip layer_spacing_A", spacing)
    if shape == "pyramid":
        positions = np.vstack([_layer_positions(k, a_A) for k in range(layers)])
        positions[:, 2] *= spacing / (a_A / 2.0)
        layer_of = np.concatenate([[k] * n for k, n in enumerate(tip_layer_sizes(layers))])
        fixed_from = FREE_LAYERS
    else:
        nx, ny = _cell_size(cell_size)
        positions, layer_of = _bcc110_positions(layers, a_A, spacing, nx, ny)
        fixed_from = max(1, layers - 1)
    symbols = [apex] + [base] * (len(positions) - 1)
    base_moment = default_moment(base)
    moments = np.full(len(positions), base_moment)
    moments[0] = apex_sign(apex, base) * default_moment(apex)
    atoms = Atoms(symbols, positions=positions, pbc=True)
    atoms.set_initial_magnetic_moments(moments)
    atoms.set_tags(-(layer_of + 1))
    fixed = [int(i) for i in np.flatnonzero(layer_of >= fixed_from)]
    if fixed:
        atoms.set_constraint(FixAtoms(indices=fixed))
    if shape == "pyramid":
        _box(atoms, vacuum_A)
    else:  # the layers fill the surface cell: periodic in-plane, vacuum along z only
        _layer_box(atoms, (nx * a_A, ny * a_A * np.sqrt(2.0)), vacuum_A)
    atoms.info.update(
        {
            "kind": "tip",
            "apex_index": 0,
            "tip": apex,
            "tip_base": base,
            "tip_layers": int(layers),
            "a_A": float(a_A),
            "tip_height_A": float((layers - 1) * spacing),
            "tip_shape": shape,
            "layer_spacing_A": float(spacing),
        }
    )
    if shape == "bcc110":
        atoms.info["cell_size"] = list(_cell_size(cell_size))
    return atoms


def _cell_size(cell_size: tuple[int, int]) -> tuple[int, int]:
    values = tuple(cell_size)
    if len(values) != 2 or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 8 for n in values):
        raise InputError(f"tip cell_size must be two integers 1..8 (the surface's lateral size), got {cell_size!r}")
    return int(values[0]), int(values[1])


def _bcc110_positions(layers: int, a_A: float, spacing_A: float, nx: int = 1, ny: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Apex at the origin plus bcc(110) layers of the nx x ny c(2x2) supercell above it."""
    b_A = a_A * np.sqrt(2.0)
    rows = [[0.0, 0.0, 0.0]]
    layer_of = [0]
    for k in range(1, layers):
        shift = (k * a_A / 2.0) % a_A
        for iy in range(ny):
            for ix in range(nx):
                for bx, by in ((0.0, 0.0), (a_A / 2.0, b_A / 2.0)):
                    rows.append([(ix * a_A + shift + bx) % (nx * a_A), iy * b_A + by, k * spacing_A])
                    layer_of.append(k)
    return np.array(rows), np.array(layer_of)


def _box(atoms: Atoms, vacuum_A: float) -> None:
    """Put the tip in an orthorhombic box with ``vacuum_A`` on every side."""
    span = atoms.positions.max(axis=0) - atoms.positions.min(axis=0)
    atoms.set_cell(np.diag(span + 2.0 * vacuum_A))
    shift = vacuum_A - atoms.positions.min(axis=0)
    atoms.positions += shift


def _layer_box(atoms: Atoms, lateral_A: tuple[float, float], vacuum_A: float) -> None:
    """Put a layer tip in its lateral cell (periodic in-plane) with ``vacuum_A`` below and above it.

    Alone, a bcc110 tip is what it is in the junction: its support layers are periodic in the
    surface's cell.  A box with vacuum on every side would cut them into a cluster whose apex
    has lost half of its neighbours (and would need a box twice as wide).
    """
    z_min, z_max = atoms.positions[:, 2].min(), atoms.positions[:, 2].max()
    atoms.set_cell([lateral_A[0], lateral_A[1], z_max - z_min + 2.0 * vacuum_A])
    atoms.positions[:, 2] += vacuum_A - z_min


def apex_position(atoms: Atoms) -> np.ndarray:
    """Cartesian position of the apex atom recorded in ``info['apex_index']``."""
    try:
        return atoms.positions[int(atoms.info["apex_index"])].copy()
    except KeyError:
        raise InputError("the tip has no info['apex_index']; build it with build_tip") from None
