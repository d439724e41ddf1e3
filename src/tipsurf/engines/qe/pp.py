"""pp.x on a finished pw.x calculation: what it needs from the calculation, and the cubes it writes.

:func:`read_qe_calc` reads prefix and outdir from the pw.x input (any pw.x input of the folder,
tipsurf's ``pw.in`` first) and the Fermi energy, structure and spin setting from the run's
``data-file-schema.xml`` (:mod:`tipsurf.engines.qe.xml_output`, the one reader of it);
:func:`run_pp_cube` runs ``pp.x`` for one ``&INPUTPP`` setting and returns the Gaussian cube it
writes; :func:`qe_density_cubes` writes the total and spin density
cubes that the Bader analysis reads (:mod:`tipsurf.analysis.volumetric` reads the cubes), and
:func:`qe_ildos_cubes` the ILDOS cube of each energy window and spin with the record that names
them (:func:`tipsurf.analysis.ldos.ldos_from_cubes` reads it).  Both are post-steps: called as
``function(calc_dir, **kwargs)`` they return what a workflow's post-step stores.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tipsurf.atomic import write_json_atomic
from tipsurf.engines.record import calc_metadata
from tipsurf.engines.qe.xml_output import find_pw_input, parse_pw_xml, pw_xml_path  # noqa: F401  (find_pw_input re-exported)
from tipsurf.errors import CalculationFailedError, InputError, OutputError, ProgramNotFoundError

__all__ = ["ILDOS_RECORD", "QeCalc", "find_pw_input", "qe_density_cubes", "qe_ildos_cubes", "read_qe_calc", "run_pp_cube",
           "run_pp_ildos"]
#: The record of :func:`qe_ildos_cubes`, written beside the cubes.
ILDOS_RECORD = "ildos_cubes.json"


@dataclass
class QeCalc:
    """What pp.x needs from a finished pw.x calculation."""

    calc_dir: Path
    prefix: str
    outdir: Path
    fermi_eV: float
    symbols: list[str]
    positions_A: np.ndarray
    cell_A: np.ndarray
    nspin: int


def read_qe_calc(calc_dir: str | Path) -> QeCalc:
    """Read prefix/outdir from the pw.x input and E_F, structure, nspin from the XML output.

    Raises
    ------
    InputError
        No pw.x input in the folder.
    OutputError
        The calculation has no XML output (not finished) or it lacks a Fermi energy.
    """
    cdir = Path(calc_dir).resolve()
    prefix, outdir, xml_path = pw_xml_path(cdir)
    if not xml_path.is_file():
        raise OutputError(f"{xml_path} is missing: the pw.x calculation in {cdir} has not finished (or outdir/prefix differ)")
    xml = parse_pw_xml(xml_path)
    if xml.fermi_eV is None:
        raise OutputError(f"{xml_path}: no Fermi energy (insulator with fixed occupations?); use smearing for LDOS")
    fermi_eV = float(np.mean(xml.fermi_up_dw_eV)) if xml.fermi_up_dw_eV else xml.fermi_eV
    return QeCalc(cdir, prefix, outdir, fermi_eV, xml.symbols, np.array(xml.positions_A), np.array(xml.cell_A),
                  2 if xml.lsda else 1)


def _pp_command() -> list[str]:
    from tipsurf.config import load_config

    cmd = load_config().command("pp")
    if shutil.which(cmd[0]) is None:
        raise ProgramNotFoundError(f"{cmd[0]} not found; install Quantum ESPRESSO (pp.x) or set commands: pp: in the tipsurf config")
    return cmd


def run_pp_cube(calc: QeCalc, inputpp: dict[str, float | int | str], work_dir: str | Path, tag: str) -> Path:
    """Run ``pp.x`` on a finished calculation and return the 3D cube file it writes.

    Parameters
    ----------
    calc
        The finished calculation (see :func:`read_qe_calc`).
    inputpp
        Extra ``&INPUTPP`` variables, e.g. ``{"plot_num": 0, "spin_component": 0}``.
    work_dir
        Where the pp.x input, log and cube go (``<tag>.pp.in``, ``<tag>.pp.out``, ``<tag>.cube``).
    tag
        File-name stem.

    Raises
    ------
    ProgramNotFoundError, CalculationFailedError
        pp.x missing, or it failed / wrote no cube.
    """
    wdir = Path(work_dir).resolve()
    wdir.mkdir(parents=True, exist_ok=True)
    cube = wdir / f"{tag}.cube"
    filplot = wdir / f"{tag}.filplot"
    extra = "".join(
        f"  {key} = {value!r}\n" if isinstance(value, str) else f"  {key} = {value}\n" for key, value in inputpp.items()
    )
    text = (
        "&INPUTPP\n"
        f"  prefix = '{calc.prefix}'\n  outdir = '{calc.outdir}/'\n  filplot = '{filplot}'\n{extra}/\n"
        "&PLOT\n"
        f"  nfile = 1\n  filepp(1) = '{filplot}'\n  weight(1) = 1.0\n  iflag = 3\n  output_format = 6\n  fileout = '{cube}'\n/\n"
    )
    (wdir / f"{tag}.pp.in").write_text(text)
    cube.unlink(missing_ok=True)
    proc = subprocess.run(_pp_command(), input=text, capture_output=True, text=True, cwd=wdir, check=False)
    (wdir / f"{tag}.pp.out").write_text(proc.stdout + proc.stderr)
    filplot.unlink(missing_ok=True)
    if proc.returncode != 0 or not cube.is_file():
        last = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        raise CalculationFailedError(f"pp.x failed for {tag} (exit {proc.returncode}): {last}; see {wdir / (tag + '.pp.out')}")
    return cube


def qe_density_cubes(calc_dir: str | Path, work_dir: str | Path | None = None) -> tuple[Path, Path | None]:
    """Write the total (``plot_num=0``) and spin (``plot_num=6``, ρ↑ − ρ↓) density cubes with pp.x.

    Returns
    -------
    total_cube, spin_cube
        ``spin_cube`` is ``None`` for a non-spin-polarized calculation.
    """
    calc = read_qe_calc(calc_dir)
    wdir = Path(work_dir) if work_dir is not None else calc.calc_dir / "density_pp"
    total = run_pp_cube(calc, {"plot_num": 0, "spin_component": 0}, wdir, "density_total")
    spin = run_pp_cube(calc, {"plot_num": 6}, wdir, "density_spin") if calc.nspin == 2 else None
    return total, spin


def run_pp_ildos(calc: QeCalc, emin_abs_eV: float, emax_abs_eV: float, spin_component: int, work_dir: Path, tag: str) -> Path:
    """Run pp.x for the ILDOS of one spin between absolute energies; return the cube file.

    Parameters
    ----------
    calc
        The finished calculation.
    emin_abs_eV, emax_abs_eV
        Absolute energy window (eV), as pp.x expects.
    spin_component
        1 = spin up, 2 = spin down (0 = both).
    work_dir
        Where the pp.x input, log and cube are written.
    tag
        File-name stem for this run.
    """
    params = {"plot_num": 10, "emin": round(emin_abs_eV, 8), "emax": round(emax_abs_eV, 8), "spin_component": spin_component}
    return run_pp_cube(calc, params, work_dir, tag)


def qe_ildos_cubes(
    calc_dir: str | Path | QeCalc, windows_eV: Sequence[Sequence[float]], work_dir: str | Path | None = None
) -> dict[str, Any]:
    """The ILDOS cube of each energy window and spin of a finished spin-polarized pw.x run (pp.x ``plot_num=10``).

    Parameters
    ----------
    calc_dir
        Folder of the finished calculation (with its wavefunctions on disk: pw.x ``disk_io`` not
        ``'none'``/``'nowf'``), or what :func:`read_qe_calc` read from it.
    windows_eV
        (E_lo, E_hi) windows relative to E_F, eV.
    work_dir
        Where pp.x works and the cubes go (default ``<calc_dir>/ldos_pp``).

    Returns
    -------
    dict
        The record (also written as ``work_dir/ildos_cubes.json``): ``calc_dir``, ``code``,
        ``fermi_eV``, ``symbols``, ``positions_A``, ``cell_A``, ``metadata`` (the structure's
        ``atoms.info`` from ``tipsurf_calc.json``, or None) and ``windows``, one
        ``{"E_lo_eV", "E_hi_eV", "up_cube", "down_cube"}`` per window.

    Raises
    ------
    InputError
        Not a spin-polarized calculation.
    """
    calc = calc_dir if isinstance(calc_dir, QeCalc) else read_qe_calc(calc_dir)
    if calc.nspin != 2:
        raise InputError(f"{calc.calc_dir}: not a spin-polarized (nspin=2) calculation; spin polarization needs LSDA")
    wdir = Path(work_dir) if work_dir is not None else calc.calc_dir / "ldos_pp"
    windows = []
    for k, (lo, hi) in enumerate(np.asarray(windows_eV, dtype=float).reshape(-1, 2)):
        cubes = [run_pp_ildos(calc, calc.fermi_eV + lo, calc.fermi_eV + hi, s, wdir, f"ildos_w{k:03d}_s{s}") for s in (1, 2)]
        windows.append({"E_lo_eV": float(lo), "E_hi_eV": float(hi), "up_cube": str(cubes[0]), "down_cube": str(cubes[1])})
    record = {
        "calc_dir": str(calc.calc_dir),
        "code": "qe pp.x plot_num=10",
        "fermi_eV": calc.fermi_eV,
        "symbols": list(calc.symbols),
        "positions_A": np.asarray(calc.positions_A).tolist(),
        "cell_A": np.asarray(calc.cell_A).tolist(),
        "metadata": calc_metadata(calc.calc_dir),
        "windows": windows,
    }
    write_json_atomic(wdir / ILDOS_RECORD, record)
    return record
