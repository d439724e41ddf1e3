"""Bader charges and magnetic moments by the weight method of Yu and Trinkle.

Method (M. Yu and D. R. Trinkle, J. Chem. Phys. 134, 064111 (2011)): grid points are visited in
order of decreasing density.  A point whose already-visited (higher) Voronoi neighbours are
none is a new maximum (a new basin).  Otherwise its basin weights are the flux-weighted average
of its higher neighbours' weights, the flux to neighbour j being
``(ρ_j − ρ_i) · A_j / |R_j|`` (A_j: area of the Voronoi facet of the grid lattice shared with
neighbour j, R_j: the vector to it).  Charges and moments are the weight-sums of the charge and
spin densities: **the spin density is integrated over the Bader volumes of the charge (or
reference) density**, never partitioned by its own maxima.

Basins are assigned to the nearest atom (periodic minimum image).  Points whose partition
density is below ``vacuum_threshold_e_per_bohr3`` are not given to any atom: their charge,
moment and volume are reported as vacuum.

Units: charges in e, moments in μB, volumes in Å³.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tipsurf.analysis.bader_kernel import weight_sweep
from tipsurf.analysis.volumetric import BOHR_A, VolumetricGrid
from tipsurf.atomic import write_json_atomic, write_text_atomic
from tipsurf.errors import InputError

DEFAULT_VACUUM_E_PER_BOHR3 = 1e-3
"""Default vacuum threshold on the partition density (as in Henkelman's ``bader -vac auto``)."""


# --------------------------------------------------------------------------- grid geometry


def voronoi_neighbours(cell_A: np.ndarray, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi neighbours of a grid point and their flux coefficients A_j / |R_j|.

    Parameters
    ----------
    cell_A
        Cell vectors as rows (Å).
    shape
        Grid shape (n1, n2, n3).

    Returns
    -------
    offsets, alpha_A
        Integer grid offsets, shape (m, 3), and ``facet_area / distance`` in Å, shape (m,).
        For an orthogonal grid: the 6 face neighbours with alpha = A/h.  For a general cell the
        facets are those of the Wigner–Seitz cell of the grid lattice (up to 14).
    """
    from scipy.spatial import Voronoi

    step = np.asarray(cell_A, dtype=float) / np.asarray(shape, dtype=float)[:, None]
    rng = np.arange(-3, 4)
    ijk = np.array(np.meshgrid(rng, rng, rng, indexing="ij")).reshape(3, -1).T
    pts = ijk @ step
    origin = int(np.flatnonzero((ijk == 0).all(axis=1))[0])
    vor = Voronoi(pts)
    offsets, alphas = [], []
    for (p, q), ridge in zip(vor.ridge_points, vor.ridge_vertices):
        if origin not in (p, q) or -1 in ridge:
            continue
        other = q if p == origin else p
        area = _polygon_area(vor.vertices[ridge])
        dist = float(np.linalg.norm(pts[other]))
        if area > 1e-9 * dist * dist:
            offsets.append(ijk[other])
            alphas.append(area / dist)
    return np.array(offsets, dtype=np.int64), np.array(alphas, dtype=np.float64)


def _polygon_area(vertices: np.ndarray) -> float:
    """Area of a planar convex polygon given its vertices in any order."""
    centre = vertices.mean(axis=0)
    rel = vertices - centre
    normal = np.cross(rel[0], rel[1 % len(rel)])
    if np.linalg.norm(normal) < 1e-14 and len(rel) > 2:
        normal = np.cross(rel[0], rel[2])
    normal /= np.linalg.norm(normal)
    u = rel[0] / np.linalg.norm(rel[0])
    v = np.cross(normal, u)
    order = np.argsort(np.arctan2(rel @ v, rel @ u))
    ring = rel[order]
    return float(0.5 * abs(np.dot(np.sum(np.cross(ring, np.roll(ring, -1, axis=0)), axis=0), normal)))


# --------------------------------------------------------------------------- public API


@dataclass
class BaderResult:
    """Per-atom Bader charges, moments and volumes.

    Attributes
    ----------
    symbols
        Atom symbols.
    charge_e
        Electrons in each atom's Bader volume.
    moment_muB
        Spin moment in each atom's volume (``None`` without spin density).
    volume_A3
        Bader volume of each atom, Å³.
    net_charge_e
        ``zval − charge_e`` per atom when valences are known, else ``None``.
    vacuum_charge_e, vacuum_moment_muB, vacuum_volume_A3
        What lies below the vacuum threshold.
    n_maxima
        Number of density maxima (basins) found.
    max_basin_distance_A
        Largest distance between a maximum and the atom it was assigned to.
    """

    symbols: list[str]
    charge_e: np.ndarray
    moment_muB: np.ndarray | None
    volume_A3: np.ndarray
    net_charge_e: np.ndarray | None = None
    vacuum_charge_e: float = 0.0
    vacuum_moment_muB: float = 0.0
    vacuum_volume_A3: float = 0.0
    n_maxima: int = 0
    max_basin_distance_A: float = 0.0
    meta: dict[str, object] = field(default_factory=dict)

    def rows(self) -> list[dict[str, object]]:
        """One dict per atom with unit-suffixed keys."""
        out = []
        for k, sym in enumerate(self.symbols):
            out.append(
                {
                    "index": k,
                    "symbol": sym,
                    "charge_e": float(self.charge_e[k]),
                    "net_charge_e": None if self.net_charge_e is None else float(self.net_charge_e[k]),
                    "moment_muB": None if self.moment_muB is None else float(self.moment_muB[k]),
                    "volume_A3": float(self.volume_A3[k]),
                }
            )
        return out

    def as_dict(self) -> dict[str, object]:
        """Plain, JSON-serialisable record."""
        return {
            "atoms": self.rows(),
            "vacuum_charge_e": self.vacuum_charge_e,
            "vacuum_moment_muB": self.vacuum_moment_muB,
            "vacuum_volume_A3": self.vacuum_volume_A3,
            "n_maxima": self.n_maxima,
            "max_basin_distance_A": self.max_basin_distance_A,
            "meta": dict(self.meta),
        }

    def to_csv(self) -> str:
        """CSV text (one row per atom)."""
        buf = io.StringIO()
        cols = ["index", "symbol", "charge_e", "net_charge_e", "moment_muB", "volume_A3"]
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        for row in self.rows():
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        return buf.getvalue()

    def write(self, path: str | Path) -> Path:
        """Write JSON (``.json``) or CSV (``.csv``) atomically, chosen by the file suffix."""
        p = Path(path)
        if p.suffix.lower() == ".csv":
            return write_text_atomic(p, self.to_csv())
        if p.suffix.lower() == ".json":
            return write_json_atomic(p, self.as_dict())
        raise InputError(f"output file {p} must end in .json or .csv")


def bader_partition(
    partition_density: np.ndarray,
    cell_A: np.ndarray,
    fields: list[np.ndarray],
    vacuum_threshold: float = 0.0,
    cap: int = 8,
    prune: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Low-level Yu–Trinkle partition: integrate ``fields`` over the basins of a density.

    Parameters
    ----------
    partition_density
        Density whose basins define the volumes, shape (n1, n2, n3), any unit.
    cell_A
        Cell vectors as rows (Å).
    fields
        Arrays of the same shape to sum per basin (raw grid sums, not yet times the voxel volume).
    vacuum_threshold
        Points with ``partition_density`` below this are vacuum (same unit as the density).
    cap
        Largest number of basins one grid point may share its weight with.
    prune
        Weights below this fraction are dropped (and the rest renormalised).

    Returns
    -------
    sums, maxima_flat, vacuum_sums, n_boundary
        ``sums[k, f]`` per basin and field, flat grid index of each basin's maximum, sums of the
        vacuum points per field, and the number of points with shared weights.
    """
    rho = np.ascontiguousarray(partition_density, dtype=np.float64)
    if rho.ndim != 3:
        raise InputError(f"density must be a 3D grid, got shape {rho.shape}")
    offsets, alpha = voronoi_neighbours(np.asarray(cell_A, float), rho.shape)
    flat = rho.ravel()
    order = np.argsort(-flat, kind="stable").astype(np.int64)
    stacked = np.empty((len(fields), flat.size), dtype=np.float64)
    for f, arr in enumerate(fields):
        if arr.shape != rho.shape:
            raise InputError(f"field {f} has grid {arr.shape}, the partition density {rho.shape}")
        stacked[f] = np.asarray(arr, dtype=np.float64).ravel()
    n1, n2, n3 = rho.shape
    return weight_sweep(flat, order, n1, n2, n3, offsets, alpha, stacked, float(vacuum_threshold), int(cap), float(prune))


def _assign_maxima(grid: VolumetricGrid, maxima_flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest atom (periodic minimum image) and the distance, for each maximum."""
    n1, n2, n3 = grid.shape
    a = maxima_flat // (n2 * n3)
    b = (maxima_flat // n3) % n2
    c = maxima_flat % n3
    frac = np.stack([a / n1, b / n2, c / n3], axis=1)
    atom_frac = grid.positions_A @ np.linalg.inv(grid.cell_A)
    d = frac[:, None, :] - atom_frac[None, :, :]
    d -= np.round(d)
    shifts = np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1], indexing="ij")).reshape(3, -1).T
    cart = (d[:, :, None, :] + shifts[None, None, :, :]) @ grid.cell_A
    dist = np.linalg.norm(cart, axis=-1).min(axis=-1)
    owner = dist.argmin(axis=1)
    return owner, dist[np.arange(len(owner)), owner]


def bader_analysis(
    grid: VolumetricGrid,
    reference_e_per_A3: np.ndarray | None = None,
    valences: dict[str, float] | None = None,
    vacuum_threshold_e_per_bohr3: float | None = DEFAULT_VACUUM_E_PER_BOHR3,
) -> BaderResult:
    """Bader charges, moments and volumes per atom.

    Parameters
    ----------
    grid
        Charge density (and spin density, if any) of the calculation.
    reference_e_per_A3
        Density whose basins define the volumes (e.g. AECCAR0 + AECCAR2 for VASP PAW); the
        charge density itself when ``None``.
    valences
        Valence electrons per element (ZVAL of the POTCAR / z_valence of the UPF), e.g.
        ``{"Fe": 8, "O": 6}``; gives ``net_charge_e = zval − charge_e``.
    vacuum_threshold_e_per_bohr3
        Points whose partition density is below this (e/bohr³) are vacuum; ``None`` or 0 = no
        vacuum.

    Returns
    -------
    BaderResult
    """
    if len(grid.symbols) == 0:
        raise InputError(f"{grid.source}: no atoms in the volumetric file; cannot assign Bader volumes")
    part = grid.total_e_per_A3 if reference_e_per_A3 is None else reference_e_per_A3
    if part.shape != grid.shape:
        raise InputError(f"reference density grid {part.shape} differs from the charge density grid {grid.shape}")
    fields = [grid.total_e_per_A3, np.ones(grid.shape)]
    if grid.spin_muB_per_A3 is not None:
        fields.append(grid.spin_muB_per_A3)
    vac = 0.0 if not vacuum_threshold_e_per_bohr3 else float(vacuum_threshold_e_per_bohr3) / BOHR_A**3
    sums, maxima, vac_sums, n_bnd = bader_partition(part, grid.cell_A, fields, vacuum_threshold=vac)
    if len(maxima) == 0:
        raise InputError(f"{grid.source}: the whole grid is below the vacuum threshold; lower it")
    owner, dist = _assign_maxima(grid, maxima)
    n_atoms = len(grid.symbols)
    per_atom = np.zeros((n_atoms, sums.shape[1]))
    np.add.at(per_atom, owner, sums)
    dv = grid.voxel_volume_A3
    charge = per_atom[:, 0] * dv
    moment = per_atom[:, 2] * dv if grid.spin_muB_per_A3 is not None else None
    net = None
    if valences:
        missing = sorted({s for s in grid.symbols if s not in valences})
        if missing:
            raise InputError(f"no valence given for {', '.join(missing)}; pass --valence El=Z for every element")
        net = np.array([float(valences[s]) for s in grid.symbols]) - charge
    return BaderResult(
        symbols=list(grid.symbols),
        charge_e=charge,
        moment_muB=moment,
        volume_A3=per_atom[:, 1] * dv,
        net_charge_e=net,
        vacuum_charge_e=float(vac_sums[0] * dv),
        vacuum_moment_muB=float(vac_sums[2] * dv) if grid.spin_muB_per_A3 is not None else 0.0,
        vacuum_volume_A3=float(vac_sums[1] * dv),
        n_maxima=int(len(maxima)),
        max_basin_distance_A=float(dist.max()),
        meta={
            "method": "weight (Yu-Trinkle 2011)",
            "source": grid.source,
            "grid": list(grid.shape),
            "partition": "reference" if reference_e_per_A3 is not None else "charge density",
            "vacuum_threshold_e_per_bohr3": float(vacuum_threshold_e_per_bohr3 or 0.0),
            "n_boundary_points": int(n_bnd),
            "total_charge_e": grid.total_electrons(),
        },
    )
