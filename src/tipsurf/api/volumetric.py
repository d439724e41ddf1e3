"""Engine post-steps joined to their analysis, for the commands that start from a calculation folder.

The engine writes the volumetric files (:mod:`tipsurf.engines.qe.pp`: pp.x density and ILDOS
cubes, with a record naming them) and reads its own calculation files (``pw.in``, the XML
output, ``tipsurf_calc.json``); the analysis reads only those records and the files they name
(:mod:`tipsurf.analysis.volumetric`, :mod:`tipsurf.analysis.ldos`).  This layer, above both,
runs one after the other for ``tipsurf analyze bader`` / ``ldos`` and their :mod:`tipsurf.api`
functions (issue 13 item 5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tipsurf.analysis.ldos import LdosTable, ldos_from_cubes, site_point, vasp_parchg_polarization
from tipsurf.engines.qe.pp import qe_density_cubes, qe_ildos_cubes, read_qe_calc
from tipsurf.engines.record import calc_metadata
from tipsurf.errors import InputError

__all__ = ["bader_density_files", "ldos_table", "qe_ldos_polarization"]


def bader_density_files(paths: Sequence[str | Path], work_dir: str | Path | None = None) -> list[Path]:
    """The density files of a Bader analysis: the given files, or a QE folder's pp.x cubes.

    Parameters
    ----------
    paths
        ``[CHGCAR]``, ``[total.cube(, spin.cube)]``, or ``[QE calculation folder]``.
    work_dir
        pp.x folder for a QE calculation (default ``<calc>/density_pp``).
    """
    files = [Path(p) for p in paths]
    if len(files) == 1 and files[0].is_dir():  # a QE calculation: write the density cubes with pp.x
        total, spin = qe_density_cubes(files[0], work_dir=Path(work_dir) if work_dir is not None else None)
        files = [total] + ([spin] if spin is not None else [])
    return files


def qe_ldos_polarization(
    calc_dir: str | Path,
    windows_eV: np.ndarray,
    site: str = "top",
    height_A: float = 3.0,
    work_dir: str | Path | None = None,
    xy_A: tuple[float, float] | None = None,
    keep_cubes: bool = False,
    site_index: int = 0,
) -> LdosTable:
    """Vacuum spin polarization of a finished spin-polarized pw.x run: pp.x ILDOS cubes, then the table.

    Parameters
    ----------
    calc_dir
        Folder with the pw.x input and (via its outdir) the saved wavefunctions.
    windows_eV
        (E_lo, E_hi) windows relative to E_F, eV (:func:`tipsurf.analysis.ldos.energy_windows`).
    site, site_index, height_A, xy_A
        Where (see :func:`tipsurf.analysis.ldos.ldos_from_cubes`); checked before pp.x runs.
    work_dir
        Scratch folder for pp.x (default ``<calc_dir>/ldos_pp``).
    keep_cubes
        Keep the ILDOS cube files (they can be large).
    """
    calc = read_qe_calc(calc_dir)
    site_point(calc.positions_A, site, height_A, site_index, calc_metadata(calc.calc_dir), xy_A)  # a bad site: before pp.x
    record = qe_ildos_cubes(calc, np.asarray(windows_eV, dtype=float).reshape(-1, 2).tolist(), work_dir)
    table = ldos_from_cubes(record, site=site, height_A=height_A, xy_A=xy_A, site_index=site_index)
    if not keep_cubes:
        for window in record["windows"]:
            Path(window["up_cube"]).unlink(missing_ok=True)
            Path(window["down_cube"]).unlink(missing_ok=True)
    return table


def ldos_table(directory: str | Path, windows_eV: np.ndarray, work_dir: str | Path | None = None, **where: Any) -> LdosTable:
    """The LDOS table of a folder of VASP ``PARCHG_<Emin>_<Emax>`` files or of a finished QE calculation.

    ``where`` are ``site``, ``site_index``, ``height_A`` and ``xy_A`` (see
    :func:`qe_ldos_polarization`); ``windows_eV`` and ``work_dir`` serve the QE calculation only
    (a PARCHG file is one window).

    Raises
    ------
    InputError
        Not a folder, or what the engine or the analysis refuses.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; give a QE calculation folder or a folder of PARCHG files")
    if sorted(folder.glob("PARCHG*")):
        return vasp_parchg_polarization(folder, info=calc_metadata(folder), **where)
    return qe_ldos_polarization(folder, windows_eV, work_dir=work_dir, **where)
