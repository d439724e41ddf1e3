"""pp.x on a finished pw.x calculation: what it needs from the calculation, and the cubes it writes.

:func:`read_qe_calc` reads prefix and outdir from the pw.x input (any pw.x input of the folder,
tipsurf's ``pw.in`` first) and the Fermi energy, structure and spin setting from the run's
``data-file-schema.xml``; :func:`run_pp_cube` runs ``pp.x`` for one ``&INPUTPP`` setting and
returns the Gaussian cube it writes; :func:`qe_density_cubes` writes the total and spin density
cubes that the Bader analysis reads (:mod:`tipsurf.analysis.volumetric` reads the cubes), and
:func:`qe_ildos_cubes` the ILDOS cube of each energy window and spin with the record that names
them (:func:`tipsurf.analysis.ldos.ldos_from_cubes` reads it).  Both are post-steps: called as
``function(calc_dir, **kwargs)`` they return what a workflow's post-step stores.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tipsurf.atomic import write_json_atomic
from tipsurf.engines.record import calc_metadata
from tipsurf.errors import CalculationFailedError, InputError, OutputError, ProgramNotFoundError
from tipsurf.units import BOHR_A, HARTREE_EV

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


def find_pw_input(calc_dir: Path) -> Path:
    """The pw.x input file of a calculation folder (``*.in``/``*.pwi`` containing ``&control``)."""
    preferred = calc_dir / "pw.in"  # the name tipsurf's QE engine writes
    candidates = [preferred] if preferred.is_file() else []
    candidates += [p for p in sorted(calc_dir.iterdir()) if p.is_file() and p.suffix in {".in", ".pwi"}]
    for p in candidates:
        if re.search(r"&control", p.read_text(errors="replace"), flags=re.IGNORECASE):
            return p
    raise InputError(f"{calc_dir}: no pw.x input (*.in with &CONTROL) found; give a finished QE calculation folder")


def read_qe_calc(calc_dir: str | Path) -> QeCalc:
    """Read prefix/outdir from the pw.x input and E_F, structure, nspin from the XML output.

    Raises
    ------
    InputError
        No pw.x input in the folder.
    OutputError
        The calculation has no XML output (not finished) or it lacks a Fermi energy.
    """
    from tipsurf.engines.qe.inputs import pw_parameter  # the one pw.x input reader (imports ASE: lazily)

    cdir = Path(calc_dir).resolve()
    text = find_pw_input(cdir).read_text(errors="replace")
    prefix = pw_parameter(text, None, "prefix") or "pwscf"
    outdir_raw = pw_parameter(text, None, "outdir") or "./"
    outdir = (cdir / outdir_raw).resolve()
    xml_path = outdir / f"{prefix}.save" / "data-file-schema.xml"
    if not xml_path.is_file():
        raise OutputError(f"{xml_path} is missing: the pw.x calculation in {cdir} has not finished (or outdir/prefix differ)")
    root = ET.parse(xml_path).getroot()
    out = root.find("output")
    if out is None:
        raise OutputError(f"{xml_path} has no <output>: the pw.x calculation did not finish")
    ef = out.find("band_structure/fermi_energy")
    if ef is None:
        two = out.find("band_structure/two_fermi_energies")
        if two is None:
            raise OutputError(f"{xml_path}: no Fermi energy (insulator with fixed occupations?); use smearing for LDOS")
        ef_ha = float(np.mean([float(x) for x in two.text.split()]))
    else:
        ef_ha = float(ef.text)
    lsda = (out.findtext("band_structure/lsda") or "false").strip().lower() == "true"
    struct = out.find("atomic_structure")
    symbols = [a.get("name", "X") for a in struct.find("atomic_positions")]
    positions = np.array([[float(x) for x in a.text.split()] for a in struct.find("atomic_positions")]) * BOHR_A
    cell = np.array([[float(x) for x in struct.find(f"cell/a{i}").text.split()] for i in (1, 2, 3)]) * BOHR_A
    symbols = [re.sub(r"[^A-Za-z].*$", "", s) or s for s in symbols]
    return QeCalc(cdir, prefix, outdir, ef_ha * HARTREE_EV, symbols, positions, cell, 2 if lsda else 1)


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
