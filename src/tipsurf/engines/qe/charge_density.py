"""pw.x's charge-density file (QE 6.x ``charge-density.dat``): the :class:`ChargeDensity` it holds.

File format (QE 6.x ``io_base::write_rhog``, Fortran unformatted sequential, 4-byte
record markers): ``gamma_only, ngm_g, nspin`` / ``b1, b2, b3`` (1/bohr, with 2π) /
Miller indices (3 × ngm_g int32) / one complex128 record per spin component
(total density, then magnetisation), in e/bohr³.  HDF5 builds write
``charge-density.hdf5`` instead; that is not supported here.

pw.x 6.7 reads the G components in its *own* G-vector order without matching the Miller
indices stored in the file (see :mod:`tipsurf.engines.qe.gvectors`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from tipsurf.atomic import atomic_path
from tipsurf.errors import InputError, OutputError

__all__ = ["ChargeDensity", "DENSITY_FILE", "HDF5_DENSITY_FILE", "read_charge_density", "write_charge_density"]

DENSITY_FILE = "charge-density.dat"
HDF5_DENSITY_FILE = "charge-density.hdf5"


@dataclass(frozen=True)
class ChargeDensity:
    """A pw.x charge density in G space, as stored in ``charge-density.dat``.

    Attributes
    ----------
    gamma_only
        True if only the half sphere of G vectors is stored (Γ-point tricks).
    b_vectors_per_bohr
        Reciprocal vectors b1, b2, b3 as rows (1/bohr, including 2π).
    miller
        Miller indices (n_g, 3) in file order.
    rho_g
        Components (nspin, n_g), e/bohr³: total density, then magnetisation if nspin = 2.
    """

    gamma_only: bool
    b_vectors_per_bohr: np.ndarray
    miller: np.ndarray
    rho_g: np.ndarray

    @property
    def nspin(self) -> int:
        """Number of stored components (1, 2 or 4)."""
        return int(self.rho_g.shape[0])

    @property
    def cell_bohr(self) -> np.ndarray:
        """Cell vectors as rows (bohr) implied by the reciprocal vectors."""
        return 2 * np.pi * np.linalg.inv(self.b_vectors_per_bohr).T

    @property
    def volume_bohr3(self) -> float:
        """Cell volume implied by the reciprocal vectors (bohr³)."""
        return float((2 * np.pi) ** 3 / abs(np.linalg.det(self.b_vectors_per_bohr)))

    def _g0(self) -> int:
        hits = np.flatnonzero((self.miller == 0).all(axis=1))
        if hits.size != 1:
            raise OutputError("the charge density has no G = 0 component; the file is damaged")
        return int(hits[0])

    @property
    def electrons(self) -> float:
        """Number of electrons (integral of the total density)."""
        return float(self.rho_g[0, self._g0()].real * self.volume_bohr3)

    @property
    def magnetization_muB(self) -> float | None:
        """Total magnetisation (μB) for a collinear spin-polarised density, else None."""
        if self.nspin != 2:
            return None
        return float(self.rho_g[1, self._g0()].real * self.volume_bohr3)


def _read_record(handle: BinaryIO, dtype: str, path: Path) -> np.ndarray:
    head = handle.read(4)
    if len(head) != 4:
        raise OutputError(f"{path} ends early; the charge density is truncated (rerun that calculation)")
    n_bytes = struct.unpack("<i", head)[0]
    data = handle.read(n_bytes)
    tail = handle.read(4)
    if n_bytes < 0 or len(data) != n_bytes or len(tail) != 4 or struct.unpack("<i", tail)[0] != n_bytes:
        raise OutputError(f"{path} is not a complete Fortran unformatted charge density (record markers do not match)")
    return np.frombuffer(data, dtype=dtype)


def _write_record(handle: BinaryIO, array: np.ndarray) -> None:
    data = np.ascontiguousarray(array).tobytes()
    handle.write(struct.pack("<i", len(data)))
    handle.write(data)
    handle.write(struct.pack("<i", len(data)))


def _check_fortran_unformatted(path: Path) -> None:
    """The file starts with a 12-byte Fortran record (gamma_only, ngm_g, nspin)."""
    with open(path, "rb") as handle:
        head = handle.read(20)
    if len(head) < 20 or struct.unpack("<i", head[:4])[0] != 12 or struct.unpack("<i", head[16:20])[0] != 12:
        raise OutputError(
            f"{path} is not a QE 6.x Fortran unformatted charge density (little-endian, 4-byte record "
            "markers); a shifted restart needs that format, start cold instead"
        )


def read_charge_density(path: str | Path) -> ChargeDensity:
    """Read a pw.x ``charge-density.dat`` (QE 6.x, Fortran unformatted).

    Parameters
    ----------
    path
        The file, or a ``<prefix>.save`` folder holding it.

    Returns
    -------
    ChargeDensity

    Raises
    ------
    InputError
        Only an HDF5 density (``charge-density.hdf5``) exists: not supported.
    OutputError
        Missing, truncated or not a Fortran unformatted file.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / DENSITY_FILE).is_file() and (path / HDF5_DENSITY_FILE).is_file():
            raise InputError(
                f"{path / HDF5_DENSITY_FILE} is an HDF5 charge density, which the shifted restart does not "
                "read; use a pw.x built without HDF5 or start cold"
            )
        path = path / DENSITY_FILE
    if path.suffix == ".hdf5":
        raise InputError(f"{path} is an HDF5 charge density, which the shifted restart does not read; start cold")
    if not path.is_file():
        raise OutputError(f"{path} does not exist; run the calculation to restart from first")
    _check_fortran_unformatted(path)
    with open(path, "rb") as handle:
        header = _read_record(handle, "<i4", path)
        gamma_only, n_g, nspin = int(header[0]), int(header[1]), int(header[2])
        if nspin not in (1, 2, 4) or n_g <= 0:
            raise OutputError(f"{path} has a bad header (ngm = {n_g}, nspin = {nspin}); the file is damaged")
        b_vectors = _read_record(handle, "<f8", path).reshape(3, 3).copy()
        miller = _read_record(handle, "<i4", path).reshape(n_g, 3).astype(np.int64)
        rho = np.empty((nspin, n_g), dtype=np.complex128)
        for spin in range(nspin):
            component = _read_record(handle, "<c16", path)
            if component.size != n_g:
                raise OutputError(f"{path}: spin component {spin} has {component.size} values for {n_g} G vectors")
            rho[spin] = component
    return ChargeDensity(gamma_only=bool(gamma_only), b_vectors_per_bohr=b_vectors, miller=miller, rho_g=rho)


def write_charge_density(path: str | Path, density: ChargeDensity) -> None:
    """Write ``density`` as a QE 6.x ``charge-density.dat`` (crash-safe: write, then rename)."""
    header = np.array([1 if density.gamma_only else 0, density.miller.shape[0], density.nspin], dtype="<i4")
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        _write_record(handle, header)
        _write_record(handle, np.asarray(density.b_vectors_per_bohr, dtype="<f8").ravel())
        _write_record(handle, np.asarray(density.miller, dtype="<i4").ravel())
        for component in density.rho_g:
            _write_record(handle, np.asarray(component, dtype="<c16"))
