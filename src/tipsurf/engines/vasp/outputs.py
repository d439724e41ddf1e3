"""Reading VASP outputs (vasprun.xml and/or OUTCAR, plain or gzipped) into plain values.

Values come back in POSCAR order; :mod:`tipsurf.engines.vasp` maps them to the Atoms order.

Energy convention: ``energy_eV`` is the free energy ``TOTEN`` (F = E − TS, VASP's
``e_fr_energy``), the quantity whose derivatives are the reported Hellmann–Feynman forces, so
that energies and forces of the p/ap pairs are consistent.  The σ→0 extrapolation is kept as
``energy_sigma0_eV``.

Completeness: an OUTCAR must end with VASP's "General timing and accounting" block and contain a
``TOTEN`` line; a vasprun.xml must parse as complete XML.  Anything else raises
:class:`~tipsurf.errors.OutputError` and no number is returned.
"""

from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tipsurf.errors import OutputError

_FLOAT = r"[-+]?\d+\.\d*(?:[eE][-+]?\d+)?"
_CONVERGENCE_KEYS = ("converged_electronic", "converged_ionic")


def find_output(directory: Path, name: str) -> Path | None:
    """``directory/name`` or its ``.gz`` twin, whichever exists (plain preferred)."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_text(path: Path) -> str:
    """Text of a plain or gzipped file (OutputError if unreadable)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", errors="replace") as fh:
                return fh.read()
        return path.read_text(errors="replace")
    except (OSError, EOFError) as exc:
        raise OutputError(f"cannot read {path}: {exc}; the file is damaged or truncated") from None


def _last(pattern: str, text: str, what: str, path: Path) -> re.Match[str]:
    matches = list(re.finditer(pattern, text, flags=re.MULTILINE))
    if not matches:
        raise OutputError(f"{path} has no {what}; the run did not finish or the file is truncated")
    return matches[-1]


def _int_tag(name: str, text: str, default: int) -> int:
    match = re.search(rf"^\s+{name}\s*=\s*(-?\d+)", text, flags=re.MULTILINE)
    return int(match.group(1)) if match else default


def _outcar_species(text: str, path: Path) -> list[str]:
    elements = re.findall(r"VRHFIN\s*=\s*([A-Za-z]+)\s*:", text)
    counts_m = _last(r"ions per type\s*=\s*([\d\s]+)$", text, "'ions per type' line", path)
    counts = [int(c) for c in counts_m.group(1).split()]
    if len(elements) != len(counts):
        raise OutputError(f"{path}: species list ({len(elements)}) and 'ions per type' ({len(counts)}) disagree")
    return [el for el, n in zip(elements, counts) for _ in range(n)]


def _outcar_forces(text: str, n_ions: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    start = _last(r"^\s*POSITION\s+TOTAL-FORCE.*$", text, "force block", path).end()
    lines = text[start:].splitlines()[2 : 2 + n_ions]
    try:
        rows = np.array([[float(x) for x in line.split()[:6]] for line in lines])
    except ValueError:
        raise OutputError(f"{path}: the last force block is malformed or truncated") from None
    if rows.shape != (n_ions, 6):
        raise OutputError(f"{path}: the last force block has {len(rows)} rows, expected {n_ions}")
    return rows[:, :3], rows[:, 3:]


def _outcar_cell(text: str, path: Path) -> np.ndarray:
    start = _last(r"^\s*direct lattice vectors.*$", text, "lattice vectors", path).end()
    lines = text[start:].lstrip("\n").splitlines()[:3]
    return np.array([[float(x) for x in line.split()[:3]] for line in lines])


#: What VASP writes to OUTCAR when an electronic loop reaches EDIFF (VASP 6 writes
#: "aborting loop EDIFF was not reached (unconverged)" when NELM runs out; VASP 5 nothing).
EDIFF_REACHED = "aborting loop because EDIFF is reached"
#: What VASP writes to OUTCAR when a relaxation reaches EDIFFG.
EDIFFG_REACHED = "reached required accuracy - stopping structural energy minimisation"
_ITERATION_HEADER = r"-+\s*Iteration\s+\d+\s*\(\s*\d+\)"


def outcar_electronic_converged(text: str) -> bool:
    """Whether the electronic loop of the final ionic step reached EDIFF, as VASP says in OUTCAR.

    VASP prints the EDIFF message once per ionic step, after that step's last electronic
    iteration; the final step converged if the message follows the last iteration header.
    A loop stopped by NELM, or by LABORT in a STOPCAR, has no such message.
    """
    headers = list(re.finditer(_ITERATION_HEADER, text))
    return bool(headers) and text.rfind(EDIFF_REACHED) > headers[-1].end()


def _last_scf_count(text: str) -> int | None:
    its = re.findall(r"Iteration\s+(\d+)\s*\(\s*(\d+)\)", text)
    if not its:
        return None
    last_ionic = its[-1][0]
    return max(int(e) for i, e in its if i == last_ionic)


def parse_outcar(path: Path) -> dict[str, Any]:
    """Parse a finished OUTCAR (energies, forces, moments, convergence, timing).

    Raises
    ------
    OutputError
        If the OUTCAR is truncated (no final timing block or no TOTEN line).
    """
    text = read_text(path)
    if "General timing and accounting" not in text:
        raise OutputError(f"{path} ends before VASP's final timing block; the run did not finish, no energy is read")
    energy = float(_last(rf"free\s+energy\s+TOTEN\s*=\s*({_FLOAT})", text, "final energy (TOTEN)", path).group(1))
    sigma0 = re.findall(rf"energy\(sigma->0\)\s*=\s*({_FLOAT})", text)
    symbols = _outcar_species(text, path)
    positions, forces = _outcar_forces(text, len(symbols), path)
    version = re.search(r"vasp\.(\d+\.\d+\.\d+)", text[:2000])
    nsw, ibrion = _int_tag("NSW", text, 0), _int_tag("IBRION", text, -1)
    relaxing = nsw > 0 and ibrion in (1, 2, 3)
    out: dict[str, Any] = {
        "energy_eV": energy,
        "energy_sigma0_eV": float(sigma0[-1]) if sigma0 else None,
        "symbols": symbols,
        "positions_A": positions,
        "cell_A": _outcar_cell(text, path),
        "forces_eV_per_A": forces,
        "n_scf": _last_scf_count(text),
        "converged_electronic": outcar_electronic_converged(text),
        "converged_ionic": (not relaxing) or EDIFFG_REACHED in text,
        "code_version": version.group(1) if version else None,
    }
    out.update(_outcar_magnetism_and_timing(path))
    return out


def _outcar_magnetism_and_timing(path: Path) -> dict[str, Any]:
    from pymatgen.io.vasp.outputs import Outcar

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcar = Outcar(str(path))
    except Exception as exc:  # pymatgen raises many types on damaged files
        raise OutputError(f"pymatgen cannot read {path}: {type(exc).__name__}; the file is damaged") from None
    moments = [float(site["tot"]) for site in outcar.magnetization] or None
    elapsed = outcar.run_stats.get("Elapsed time (sec)")
    return {
        "magmoms_muB": moments,
        "total_magnetization_muB": None if outcar.total_mag is None else float(outcar.total_mag),
        "fermi_eV": None if outcar.efermi is None else float(outcar.efermi),
        "walltime_s": None if elapsed is None else float(elapsed),
    }


def parse_vasprun(path: Path) -> dict[str, Any]:
    """Parse a complete vasprun.xml(.gz): final free energy, forces, structure, convergence.

    Raises
    ------
    OutputError
        If the file is empty, truncated or has no ionic step with an energy.
    """
    from pymatgen.io.vasp.outputs import Vasprun

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = Vasprun(str(path), parse_dos=False, parse_eigen=False, parse_potcar_file=False)
    except Exception as exc:  # ParseError, ElementTree errors, EOFError ...
        raise OutputError(
            f"{path} is empty, truncated or not valid XML ({type(exc).__name__}); the run did not finish, no energy is read"
        ) from None
    if not run.ionic_steps or "e_fr_energy" not in run.ionic_steps[-1]:
        raise OutputError(f"{path} has no completed ionic step with an energy")
    last = run.ionic_steps[-1]
    structure = run.final_structure
    efermi = re.findall(rf'name="efermi">\s*({_FLOAT})', read_text(path))
    return {
        "energy_eV": float(last["e_fr_energy"]),
        "energy_sigma0_eV": _sigma0(last),
        "symbols": [site.specie.symbol for site in structure],
        "positions_A": np.asarray(structure.cart_coords),
        "cell_A": np.asarray(structure.lattice.matrix),
        "forces_eV_per_A": None if last.get("forces") is None else np.asarray(last["forces"], dtype=float),
        "n_scf": len(last.get("electronic_steps", [])) or None,
        "converged_electronic": bool(run.converged_electronic),
        "converged_ionic": bool(run.converged_ionic),
        "code_version": run.vasp_version,
        "fermi_eV": float(efermi[-1]) if efermi else None,
        "n_ionic_steps": len(run.ionic_steps),
    }


def _sigma0(ionic_step: dict[str, Any]) -> float | None:
    """σ→0 energy rebuilt from the last electronic step (some VASP 5 vasprun.xml files write 0 there)."""
    steps = ionic_step.get("electronic_steps") or []
    if not steps or "e_0_energy" not in steps[-1] or "e_fr_energy" not in steps[-1]:
        return None
    return round(float(ionic_step["e_fr_energy"]) + float(steps[-1]["e_0_energy"]) - float(steps[-1]["e_fr_energy"]), 8)


def read_vasp_outputs(directory: str | Path) -> dict[str, Any]:
    """Combine vasprun.xml and OUTCAR of ``directory`` (either may be gzipped; at least one needed).

    vasprun.xml provides energy, forces, structure and convergence; OUTCAR adds per-site moments
    (``magnetization (x)``, column ``tot``), total magnetization, Fermi energy and wall time.  If
    both are present their final free energies must agree (same run).

    Convergence: OUTCAR says it in words (:data:`EDIFF_REACHED`, :data:`EDIFFG_REACHED`);
    vasprun.xml is judged by pymatgen's ``Vasprun.converged_electronic`` / ``converged_ionic``
    (the final ionic step used fewer than NELM electronic steps; a relaxation stopped before
    NSW).  ``converged_electronic`` and ``converged_ionic`` are True only if every file present
    says so; ``convergence_by_file`` keeps each file's verdict.
    """
    directory = Path(directory)
    vasprun, outcar = find_output(directory, "vasprun.xml"), find_output(directory, "OUTCAR")
    if vasprun is None and outcar is None:
        raise OutputError(f"no vasprun.xml or OUTCAR in {directory}; VASP did not run there or its outputs were removed")
    data: dict[str, Any] = {"magmoms_muB": None, "total_magnetization_muB": None, "walltime_s": None, "fermi_eV": None}
    files: dict[str, str] = {}
    verdicts: dict[str, dict[str, bool]] = {}
    if outcar is not None:
        data.update(parse_outcar(outcar))
        files["outcar"] = outcar.name
        verdicts["outcar"] = {k: bool(data[k]) for k in _CONVERGENCE_KEYS}
    if vasprun is not None:
        from_xml = parse_vasprun(vasprun)
        files["vasprun"] = vasprun.name
        if outcar is not None and abs(from_xml["energy_eV"] - data["energy_eV"]) > 1e-5:
            raise OutputError(f"{vasprun.name} and {outcar.name} in {directory} disagree on the final energy; they come from different runs")
        keep = {k: data[k] for k in ("fermi_eV", "energy_sigma0_eV") if data.get(k) is not None}
        data.update(from_xml)
        data.update(keep)
        verdicts["vasprun"] = {k: bool(from_xml[k]) for k in _CONVERGENCE_KEYS}
    for key in _CONVERGENCE_KEYS:
        data[key] = all(verdict[key] for verdict in verdicts.values())
    data["convergence_by_file"] = verdicts
    data["files"] = files
    return data
