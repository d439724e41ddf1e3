"""The result record of a tipsurf QE calculation folder: pw.x outputs + ``tipsurf_calc.json`` → CalcResult.

:func:`read_result` is :meth:`tipsurf.engines.qe.QEEngine.parse`: it reads the run's XML output
for energy, forces, convergence, Fermi energy, magnetisation and relaxed positions, the text
output for the moments per site, iteration counts, wall time and errors (and for everything
when the run left no XML of its own; :mod:`tipsurf.engines.qe.outcome`), the folder's
``tipsurf_calc.json`` and ``structure.json``, the corrections of the error handlers and, if
present, the Löwdin charges of ``projwfc.out``.  ``extra["outcome"]`` is the run's verdict
(:func:`tipsurf.engines.qe.outcome.classify_outcome`), ``extra["xml_output"]`` the XML used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io import read as ase_read

from tipsurf.engines.qe.handlers import CALC_FILE
from tipsurf.engines.qe.inputs import PW_INPUT, PW_OUTPUT, physics_settings
from tipsurf.engines.qe.job import read_corrections
from tipsurf.engines.qe.outcome import classify_outcome, with_xml
from tipsurf.engines.qe.outputs import PwOutput, parse_projwfc_output, parse_pw_output
from tipsurf.engines.qe.starts import STRUCTURE_FILE
from tipsurf.engines.qe.xml_output import PwXml, run_xml
from tipsurf.engines.record import CalcResult
from tipsurf.errors import InputError, OutputError
from tipsurf.jsonable import to_jsonable

__all__ = ["read_calc_info", "read_result"]


def read_result(directory: str | Path) -> CalcResult:
    """Build the result record from the files in a calculation folder.

    Parameters
    ----------
    directory
        Folder written by :meth:`tipsurf.engines.qe.QEEngine.write_inputs` (or any folder with
        one pw.x output).

    Returns
    -------
    CalcResult
        Energies, forces and moments only when the SCF converged (the last iteration's moments
        are kept in ``extra`` otherwise).

    Raises
    ------
    OutputError
        No folder, no pw.x output, or a damaged one.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise OutputError(f"calculation folder {directory} does not exist")
    text = parse_pw_output(output_file(directory))
    xml = run_xml(directory, text)
    out = with_xml(text, xml)
    info = read_calc_info(directory) if (directory / CALC_FILE).is_file() else {}
    atoms = final_structure(directory, out, xml)
    n_atoms = len(atoms) if atoms is not None else out.n_atoms
    _check_lengths(out, n_atoms, directory)
    extra: dict[str, Any] = {
        "directory": str(directory.resolve()),
        "last_scf_energy_eV": out.last_scf_energy_eV,
        "fermi_up_dw_eV": out.fermi_up_dw_eV,
        "site_charges_e": out.site_charges,
        "max_time_exceeded": out.max_time_exceeded,
        "pw_errors": out.errors,
        "species": info.get("species"),
        "parameters": info.get("parameters"),
        "restart_from": info.get("restart_from"),
        "restart_method": info.get("restart_method"),
        "restart_note": info.get("restart_note"),
        "physics_settings": physics_settings(directory / PW_INPUT) if (directory / PW_INPUT).is_file() else None,
        "initial_magmoms_muB": info.get("initial_magmoms_muB"),
        "outcome": classify_outcome(text, xml),
        "xml_output": xml.path if xml is not None else None,
    }
    if not out.converged:
        extra["unconverged_last_iteration"] = {
            "magmoms_muB": out.magmoms_muB,
            "total_magnetization_muB": out.total_magnetization_muB,
        }
    if (directory / "projwfc.out").is_file():
        extra["lowdin"] = parse_projwfc_output(directory / "projwfc.out")
    return CalcResult(
        code="qe",
        energy_eV=out.energy_eV if out.converged else None,
        forces_eV_per_A=out.forces_eV_per_A if out.converged else None,
        magmoms_muB=out.magmoms_muB if out.converged else None,
        total_magnetization_muB=out.total_magnetization_muB if out.converged else None,
        absolute_magnetization_muB=out.absolute_magnetization_muB if out.converged else None,
        fermi_eV=out.fermi_eV if out.converged else None,
        converged=out.converged,
        n_scf=out.n_scf,
        code_version=out.code_version,
        walltime_s=out.walltime_s,
        corrections=read_corrections(directory),
        pseudopotentials=info.get("pseudopotentials", {}),
        fingerprint=info.get("fingerprint"),
        symbols=atoms.get_chemical_symbols() if atoms is not None else [],
        positions_A=atoms.get_positions().tolist() if atoms is not None else [],
        cell_A=np.asarray(atoms.get_cell()).tolist() if atoms is not None else [],
        metadata=info.get("metadata", {}),
        extra=to_jsonable(extra),
    )


def read_calc_info(directory: Path) -> dict[str, Any]:
    """The folder's ``tipsurf_calc.json`` (InputError if the inputs were not written by tipsurf)."""
    path = directory / CALC_FILE
    if not path.is_file():
        raise InputError(f"{path} does not exist; write the inputs with tipsurf first ('tipsurf inputs')")
    return json.loads(path.read_text())


def output_file(directory: Path) -> Path:
    """The pw.x output of the folder: ``pw.out``, else the one ``*.out`` written by pw.x."""
    if (directory / PW_OUTPUT).is_file():
        return directory / PW_OUTPUT
    candidates = [p for p in sorted(directory.glob("*.out")) if "Program PWSCF" in p.read_text(errors="replace")[:4000]]
    if len(candidates) == 1:
        return candidates[0]
    raise OutputError(f"no pw.x output in {directory} (expected {PW_OUTPUT}); run the calculation first")


def final_structure(directory: Path, out: PwOutput | None, xml: PwXml | None = None) -> Atoms | None:
    """Structure of the record: structure.json with the relaxed positions of the run (its XML,
    else its text output); without structure.json, the run's structure."""
    atoms = None
    if (directory / STRUCTURE_FILE).is_file():
        atoms = ase_read(str(directory / STRUCTURE_FILE), format="json")
    info_path = directory / CALC_FILE
    relax = info_path.is_file() and json.loads(info_path.read_text()).get("calculation") == "relax"
    if xml is not None and xml.positions_A and (atoms is None or len(atoms) == len(xml.positions_A)):
        if atoms is None:
            return Atoms(xml.symbols, positions=xml.positions_A, cell=xml.cell_A, pbc=True)
        if relax:
            atoms.set_positions(xml.positions_A)
        return atoms
    if atoms is None or relax:
        try:
            final = ase_read(str(output_file(directory)), format="espresso-out", index=-1)
        except Exception as err:  # noqa: BLE001  (ASE raises many kinds on damaged or unusual outputs)
            if relax:  # never hand the initial positions on as if they were relaxed
                raise OutputError(
                    f"cannot read the final structure of the relaxation in {directory} ({type(err).__name__}: "
                    f"{' '.join(str(err).split())[:120]}); the point failed, rerun it"
                ) from None
            return atoms
        if atoms is not None:
            atoms.set_positions(final.get_positions())
            return atoms
        return final
    return atoms


def _check_lengths(out: PwOutput, n_atoms: int | None, directory: Path) -> None:
    if n_atoms is None:
        return
    for name, values in (("moments", out.magmoms_muB), ("forces", out.forces_eV_per_A)):
        if values is not None and len(values) != n_atoms:
            raise OutputError(f"{directory / PW_OUTPUT} lists {len(values)} {name} for {n_atoms} atoms; the output is damaged")
