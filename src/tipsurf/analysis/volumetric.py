"""Volumetric data (charge and spin densities on a periodic grid) from VASP and Quantum ESPRESSO.

Everything is read into one plain object, :class:`VolumetricGrid`, whose densities are always
stored as **densities per Å³** on the periodic grid (no repeated boundary plane):

* ``total_e_per_A3``  — electron density ρ(r) in e/Å³,
* ``spin_muB_per_A3`` — spin (magnetization) density m(r) = ρ↑ − ρ↓ in μB/Å³ (or ``None``).

so that an integral over the cell is ``field.sum() * grid.voxel_volume_A3``.

Sources
-------
* VASP CHGCAR / AECCAR / PARCHG: the file stores ρ·V_cell; the first block is the total
  (ρ↑ + ρ↓), the second (ISPIN = 2) the magnetization (ρ↑ − ρ↓).  Read with pymatgen-core's
  volumetric reader (``ase.io.read`` asserts on these files).
* Gaussian cube files (QE ``pp.x`` with ``output_format = 6``): lengths in bohr (or Å when the
  voxel counts are negative, the cube convention), values in e/bohr³; converted on reading.
  pp.x itself runs in :mod:`tipsurf.engines.qe.pp` (new adsorbate campaigns name the post-step
  ``tipsurf.engines.qe.pp:qe_density_cubes``; it stays importable from here for the post-steps
  that launchpads written before issue 13 keep under this module's name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tipsurf.engines.qe.pp import qe_density_cubes  # noqa: F401  (named by older stored post-step tasks)
from tipsurf.errors import InputError
from tipsurf.units import BOHR_A, HARTREE_EV  # noqa: F401  (re-exported: bader, ldos and tests use them here)

_SYMBOLS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As "
    "Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd "
    "Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu"
).split()


@dataclass
class VolumetricGrid:
    """Densities on a periodic grid plus the structure they belong to.

    Attributes
    ----------
    symbols
        Chemical symbols of the atoms.
    positions_A
        Cartesian positions, shape (n_atoms, 3), Å.
    cell_A
        Cell vectors as rows, shape (3, 3), Å.  Grid point (i, j, k) sits at
        ``(i/n1, j/n2, k/n3) @ cell_A``.
    total_e_per_A3
        Electron density (both spins), shape (n1, n2, n3), e/Å³.
    spin_muB_per_A3
        Spin density ρ↑ − ρ↓, same shape, μB/Å³; ``None`` for non-spin-polarized data.
    source
        Where the data came from (file names), for records and error messages.
    """

    symbols: list[str]
    positions_A: np.ndarray
    cell_A: np.ndarray
    total_e_per_A3: np.ndarray
    spin_muB_per_A3: np.ndarray | None = None
    source: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape (n1, n2, n3)."""
        return tuple(int(n) for n in self.total_e_per_A3.shape)  # type: ignore[return-value]

    @property
    def volume_A3(self) -> float:
        """Cell volume in Å³."""
        return float(abs(np.linalg.det(self.cell_A)))

    @property
    def voxel_volume_A3(self) -> float:
        """Volume of one grid cell in Å³."""
        return self.volume_A3 / float(np.prod(self.shape))

    def integrate(self, values: np.ndarray) -> float:
        """Integral of a density-like array over the cell (``sum * voxel volume``)."""
        return float(np.sum(values, dtype=np.float64) * self.voxel_volume_A3)

    def total_electrons(self) -> float:
        """Number of electrons in the cell."""
        return self.integrate(self.total_e_per_A3)


# --------------------------------------------------------------------------- VASP


def read_vasp_volumetric(path: str | Path) -> VolumetricGrid:
    """Read a VASP CHGCAR, AECCAR or PARCHG (total block and, if present, magnetization block).

    Parameters
    ----------
    path
        The file (plain or compressed as pymatgen accepts).

    Returns
    -------
    VolumetricGrid
        Densities divided by the cell volume (VASP stores ρ·V_cell).

    Raises
    ------
    InputError
        If the file is missing or cannot be parsed as VASP volumetric data.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"volumetric file {p} does not exist; give the path of a CHGCAR/AECCAR/PARCHG")
    from pymatgen.io.vasp.outputs import Chgcar

    try:
        chg = Chgcar.from_file(str(p))
    except Exception as exc:  # pymatgen raises many kinds on bad files
        raise InputError(f"cannot read {p} as a VASP CHGCAR/AECCAR/PARCHG ({type(exc).__name__}: {exc})") from exc
    struct = chg.structure
    cell = np.array(struct.lattice.matrix, dtype=float)
    volume = abs(float(np.linalg.det(cell)))
    total = np.asarray(chg.data["total"], dtype=np.float64) / volume
    spin = chg.data.get("diff")
    spin_arr = None if spin is None else np.asarray(spin, dtype=np.float64) / volume
    if spin_arr is not None and spin_arr.shape != total.shape:
        raise InputError(f"{p}: magnetization block grid {spin_arr.shape} differs from the total block {total.shape}")
    return VolumetricGrid(
        symbols=[str(site.specie.symbol) for site in struct],
        positions_A=np.array(struct.cart_coords, dtype=float),
        cell_A=cell,
        total_e_per_A3=total,
        spin_muB_per_A3=spin_arr,
        source=str(p),
    )


# --------------------------------------------------------------------------- cube

_FORTRAN_EXP = re.compile(r"(?<=\d)([+-]\d{3})")


def _parse_floats(text: str, path: Path) -> np.ndarray:
    try:
        return np.array(text.split(), dtype=np.float64)
    except ValueError:
        fixed = _FORTRAN_EXP.sub(r"E\1", text)  # Fortran drops the E for 3-digit exponents
        try:
            return np.array(fixed.split(), dtype=np.float64)
        except ValueError as exc:
            raise InputError(f"{path}: non-numeric value in the cube data block ({exc})") from exc


def read_cube(path: str | Path) -> tuple[VolumetricGrid, np.ndarray]:
    """Read a Gaussian cube file (e.g. written by QE ``pp.x`` with ``output_format=6``).

    Parameters
    ----------
    path
        The cube file.

    Returns
    -------
    grid, values
        ``grid`` carries the structure (Å) with the values converted from per-bohr³ to per-Å³
        stored as ``total_e_per_A3``; ``values`` is the same array (for files that hold a
        spin density or an ILDOS the caller decides what it means).

    Raises
    ------
    InputError
        Missing file, malformed header, or fewer/more values than the header announces.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"cube file {p} does not exist")
    lines = p.read_text(errors="replace").splitlines()
    try:
        head = lines[2].split()
        n_atoms_signed = int(head[0])
        origin = np.array([float(x) for x in head[1:4]])
        counts, vectors = [], []
        for row in lines[3:6]:
            parts = row.split()
            counts.append(int(parts[0]))
            vectors.append([float(x) for x in parts[1:4]])
        n_atoms = abs(n_atoms_signed)
        atom_rows = [lines[6 + i].split() for i in range(n_atoms)]
        numbers = [int(float(r[0])) for r in atom_rows]
        positions = np.array([[float(x) for x in r[2:5]] for r in atom_rows], dtype=float).reshape(n_atoms, 3)
    except (IndexError, ValueError) as exc:
        raise InputError(f"{p}: malformed cube header ({exc}); expected the Gaussian cube layout") from exc
    if any(n == 0 for n in counts):
        raise InputError(f"{p}: cube header has a zero grid dimension {counts}")
    unit = BOHR_A if counts[0] > 0 else 1.0  # negative counts mean Å (cube convention)
    shape = tuple(abs(n) for n in counts)
    start = 6 + n_atoms + (1 if n_atoms_signed < 0 else 0)
    values = _parse_floats("\n".join(lines[start:]), p)
    expected = int(np.prod(shape))
    if values.size != expected:
        raise InputError(
            f"{p}: cube header announces {shape[0]}x{shape[1]}x{shape[2]} = {expected} values but the file "
            f"holds {values.size}; the file is truncated or not a cube file"
        )
    voxel_A = np.array(vectors) * unit
    cell = voxel_A * np.array(shape)[:, None]
    data = values.reshape(shape) / unit**3
    symbols = [_SYMBOLS[z] if 0 < z < len(_SYMBOLS) else "X" for z in numbers]
    grid = VolumetricGrid(
        symbols=symbols,
        positions_A=(positions - origin) * unit,
        cell_A=cell,
        total_e_per_A3=data,
        source=str(p),
    )
    return grid, data


def read_cube_pair(total_path: str | Path, spin_path: str | Path | None = None) -> VolumetricGrid:
    """Read a total-density cube and (optionally) a spin-density cube of the same calculation.

    For QE: ``pp.x`` with ``plot_num=0, spin_component=0`` (total density) and ``plot_num=6``
    (spin polarization ρ↑ − ρ↓), both ``iflag=3, output_format=6``.

    Raises
    ------
    InputError
        If the two files disagree in grid, cell or atoms.
    """
    grid, _ = read_cube(total_path)
    if spin_path is None:
        return grid
    spin_grid, spin = read_cube(spin_path)
    check_same_grid(grid, spin_grid, what=f"{total_path} and {spin_path}")
    return replace(grid, spin_muB_per_A3=spin, source=f"{total_path} + {spin_path}")


# --------------------------------------------------------------------------- checks


def check_same_grid(a: VolumetricGrid, b: VolumetricGrid, what: str, tol_A: float = 1e-3) -> None:
    """Raise :class:`InputError` unless ``a`` and ``b`` share grid shape, cell and atoms.

    Parameters
    ----------
    a, b
        The two grids.
    what
        Names of the two sources for the message.
    tol_A
        Tolerance on cell vectors and (periodic) atom positions, Å.
    """
    if a.shape != b.shape:
        raise InputError(f"{what}: grids differ ({a.shape} vs {b.shape}); use files of the same calculation")
    if not np.allclose(a.cell_A, b.cell_A, atol=tol_A):
        raise InputError(f"{what}: cells differ; use files of the same calculation")
    if len(a.symbols) != len(b.symbols) or list(a.symbols) != list(b.symbols):
        raise InputError(f"{what}: atoms differ ({len(a.symbols)} vs {len(b.symbols)} atoms or other species)")
    inv = np.linalg.inv(a.cell_A)
    dfrac = (b.positions_A - a.positions_A) @ inv
    dfrac -= np.round(dfrac)
    if a.positions_A.size and float(np.abs(dfrac @ a.cell_A).max()) > tol_A:
        raise InputError(f"{what}: atom positions differ; use files of the same structure")


def read_bader_inputs(paths: list[str | Path], reference: list[str | Path] | None = None) -> tuple[VolumetricGrid, np.ndarray | None]:
    """Read what a Bader analysis needs from VASP or cube files.

    Parameters
    ----------
    paths
        ``[CHGCAR]`` (VASP, magnetization block used for moments) or ``[total.cube]`` or
        ``[total.cube, spin.cube]`` (QE ``pp.x``).
    reference
        Optional reference densities to partition on, e.g. ``[AECCAR0, AECCAR2]`` (summed).

    Returns
    -------
    grid, reference_density
        The densities to integrate, and the summed reference density in e/Å³ (``None`` when
        no reference is given).
    """
    if not paths:
        raise InputError("give a CHGCAR, or a total-density cube (and a spin-density cube)")
    if len(paths) > 2:
        raise InputError(f"expected 1 or 2 density files, got {len(paths)}")
    first = Path(paths[0])
    if _is_cube(first):
        grid = read_cube_pair(paths[0], paths[1] if len(paths) == 2 else None)
    else:
        if len(paths) == 2:
            raise InputError("a CHGCAR holds total and magnetization blocks itself; give one CHGCAR")
        grid = read_vasp_volumetric(first)
    ref = None
    if reference:
        for rpath in reference:
            rgrid = read_cube(rpath)[0] if _is_cube(Path(rpath)) else read_vasp_volumetric(rpath)
            check_same_grid(grid, rgrid, what=f"{grid.source} and reference {rpath}")
            ref = rgrid.total_e_per_A3.copy() if ref is None else ref + rgrid.total_e_per_A3
    return grid, ref


def _is_cube(path: Path) -> bool:
    return path.suffix.lower() in {".cube", ".cub"}


# --------------------------------------------------------------------------- model densities


def periodic_gaussian_density(
    cell_A: np.ndarray,
    shape: tuple[int, int, int],
    centres_A: np.ndarray,
    weights: np.ndarray,
    sigmas_A: np.ndarray,
    n_images: int = 2,
) -> np.ndarray:
    """Sum of normalised 3D Gaussians (with periodic images) on the grid, per Å³.

    Each Gaussian ``w · exp(−r²/2σ²) / (2πσ²)^{3/2}`` integrates to ``w`` over the cell.  Used
    to build analytic test densities for the Bader partition and its benchmark.

    Parameters
    ----------
    cell_A
        Cell vectors as rows (Å); an orthorhombic (diagonal) cell uses a fast separable sum.
    shape
        Grid shape.
    centres_A, weights, sigmas_A
        Gaussian centres (Å), integrals and widths (Å).
    n_images
        Periodic images summed in each direction (±n_images).
    """
    cell = np.asarray(cell_A, dtype=float)
    out = np.zeros(shape, dtype=np.float64)
    shifts = np.arange(-n_images, n_images + 1)
    if np.allclose(cell, np.diag(np.diag(cell))):
        lengths = np.diag(cell)
        for centre, w, s in zip(np.asarray(centres_A, float), weights, sigmas_A):
            parts = []
            for ax in range(3):
                x = np.arange(shape[ax]) * lengths[ax] / shape[ax]
                d = x[:, None] - centre[ax] + shifts[None, :] * lengths[ax]
                parts.append(np.exp(-(d**2) / (2 * s * s)).sum(axis=1) / np.sqrt(2 * np.pi * s * s))
            out += w * parts[0][:, None, None] * parts[1][None, :, None] * parts[2][None, None, :]
        return out
    frac = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), axis=-1)
    pts = frac @ cell
    for centre, w, s in zip(np.asarray(centres_A, float), weights, sigmas_A):
        for i in shifts:
            for j in shifts:
                for k in shifts:
                    d = pts - (centre + np.array([i, j, k]) @ cell)
                    out += w * np.exp(-np.einsum("...i,...i", d, d) / (2 * s * s)) / (2 * np.pi * s * s) ** 1.5
    return out
