"""pw.x's XML output, ``<outdir>/<prefix>.save/data-file-schema.xml``: the one reader of it.

The elements read, as Debian's pw.x 6.7 writes them (QEXSD 20.04.20; checked on the runs of
this machine and on pw.x 6.6's file in ``../shared/refdata/qe``):

* ``general_info/creator@VERSION`` (``6.7MaX``), ``general_info/created@DATE/@TIME``: the
  moment the run ended, the same as the text output's ``This run was terminated on:`` line;
* ``input/control_variables/calculation``; ``status`` (pw.x's exit status);
* ``output/convergence_info/scf_conv/{convergence_achieved, n_scf_steps}`` and, for
  relaxations, ``opt_conv/{convergence_achieved, n_opt_steps}``;
* ``output/atomic_structure/atomic_positions/atom@name`` (input order, bohr) and ``cell/a1..a3``;
* ``output/total_energy/etot`` (Ha), ``output/forces`` (Ha/bohr, ``dims="3 nat"``, absent without
  ``tprnfor``), ``output/magnetization/{lsda, total, absolute}`` (μB),
  ``output/band_structure/fermi_energy`` or ``two_fermi_energies`` (Ha).

During a relaxation pw.x rewrites the file after every ionic step, so a file may belong to a
run still going or to an earlier run in the same folder; :func:`run_xml` takes it only when the
text output in hand has ended (its ``terminated on`` line) and the XML was created between that
run's start and end.  Conversions use the constants
of the text reader (ASE's), so energies read from either agree.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ase.units import Bohr

from tipsurf.engines.qe.outputs import RY_PER_BOHR_TO_EV_PER_A, RY_TO_EV, PwOutput, clock_stamp
from tipsurf.errors import InputError, OutputError

__all__ = ["HA_TO_EV", "PwXml", "find_pw_input", "parse_pw_xml", "pw_xml_path", "run_xml", "stamp_time"]

HA_TO_EV = 2.0 * RY_TO_EV
HA_PER_BOHR_TO_EV_PER_A = 2.0 * RY_PER_BOHR_TO_EV_PER_A
BOHR_TO_A = float(Bohr)


@dataclass
class PwXml:
    """What the XML output of one pw.x run says (eV, eV/Å, Å, μB)."""

    path: str
    code_version: str | None
    end_stamp: str | None
    exit_status: int | None
    calculation: str | None
    scf_converged: bool
    n_scf_steps: int | None
    opt_converged: bool | None
    energy_eV: float | None
    fermi_eV: float | None
    fermi_up_dw_eV: list[float] | None
    lsda: bool
    total_magnetization_muB: float | None
    absolute_magnetization_muB: float | None
    forces_eV_per_A: list[list[float]] | None
    labels: list[str]
    positions_A: list[list[float]]
    cell_A: list[list[float]]

    @property
    def converged(self) -> bool:
        """SCF converged and, for a relaxation, the ionic minimisation too."""
        return self.scf_converged and self.opt_converged is not False

    @property
    def symbols(self) -> list[str]:
        """Chemical symbols: the species labels without their magnetic suffix (``Mn1`` -> ``Mn``)."""
        return [re.sub(r"[^A-Za-z].*$", "", s) or s for s in self.labels]


def find_pw_input(calc_dir: Path) -> Path:
    """The pw.x input file of a calculation folder (``*.in``/``*.pwi`` containing ``&control``)."""
    preferred = calc_dir / "pw.in"  # the name tipsurf's QE engine writes
    candidates = [preferred] if preferred.is_file() else []
    candidates += [p for p in sorted(calc_dir.iterdir()) if p.is_file() and p.suffix in {".in", ".pwi"}]
    for p in candidates:
        if re.search(r"&control", p.read_text(errors="replace"), flags=re.IGNORECASE):
            return p
    raise InputError(f"{calc_dir}: no pw.x input (*.in with &CONTROL) found; give a finished QE calculation folder")


def pw_xml_path(calc_dir: str | Path) -> tuple[str, Path, Path]:
    """``(prefix, outdir, xml path)`` of a calculation folder, from its pw.x input (InputError without one)."""
    from tipsurf.engines.qe.inputs import pw_parameter  # the one pw.x input reader (imports ASE: lazily)

    cdir = Path(calc_dir).resolve()
    text = find_pw_input(cdir).read_text(errors="replace")
    prefix = pw_parameter(text, None, "prefix") or "pwscf"
    outdir = (cdir / (pw_parameter(text, None, "outdir") or "./")).resolve()
    return prefix, outdir, outdir / f"{prefix}.save" / "data-file-schema.xml"


def _floats(element: ET.Element | None) -> list[float]:
    return [float(x) for x in (element.text or "").split()] if element is not None else []


def _flag(element: ET.Element | None) -> bool | None:
    return None if element is None else (element.text or "").strip().lower() == "true"


def stamp_time(stamp: str | None) -> datetime | None:
    """The moment of a :func:`~tipsurf.engines.qe.outputs.clock_stamp` (None if absent or not in that form)."""
    try:
        return datetime.strptime(stamp or "", "%H:%M:%S %d%b%Y")
    except ValueError:
        return None


def parse_pw_xml(path: str | Path) -> PwXml:
    """Read a pw.x ``data-file-schema.xml``.

    Raises
    ------
    OutputError
        Missing or unreadable file, or one without an ``<output>`` (the run did not get that far).
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise OutputError(f"cannot read the pw.x XML output {path} ({type(err).__name__}: {' '.join(str(err).split())[:100]})") from None
    out = root.find("output")
    if out is None:
        raise OutputError(f"{path} has no <output>: the pw.x calculation did not finish")
    created = root.find("general_info/created")
    struct = out.find("atomic_structure")
    atoms = list(struct.find("atomic_positions")) if struct is not None and struct.find("atomic_positions") is not None else []
    scf, opt = out.find("convergence_info/scf_conv"), out.find("convergence_info/opt_conv")
    etot, fermi, two = out.find("total_energy/etot"), out.find("band_structure/fermi_energy"), out.find("band_structure/two_fermi_energies")
    forces = _floats(out.find("forces"))
    status = (root.findtext("status") or "").strip()
    n_scf = (scf.findtext("n_scf_steps") or "").strip() if scf is not None else ""
    return PwXml(
        path=str(path),
        code_version=root.find("general_info/creator").get("VERSION") if root.find("general_info/creator") is not None else None,
        end_stamp=clock_stamp(created.get("TIME", ""), created.get("DATE", "")) if created is not None else None,
        exit_status=int(status) if status.lstrip("-").isdigit() else None,
        calculation=(root.findtext("input/control_variables/calculation") or "").strip() or None,
        scf_converged=bool(_flag(scf.find("convergence_achieved") if scf is not None else None)),
        n_scf_steps=int(n_scf) if n_scf.isdigit() else None,
        opt_converged=_flag(opt.find("convergence_achieved")) if opt is not None else None,
        energy_eV=float(etot.text) * HA_TO_EV if etot is not None else None,
        fermi_eV=float(fermi.text) * HA_TO_EV if fermi is not None else (max(_floats(two)) * HA_TO_EV if two is not None else None),
        fermi_up_dw_eV=[x * HA_TO_EV for x in _floats(two)] if two is not None else None,
        lsda=bool(_flag(out.find("magnetization/lsda")) or _flag(out.find("band_structure/lsda"))),
        total_magnetization_muB=(_floats(out.find("magnetization/total")) or [None])[0],
        absolute_magnetization_muB=(_floats(out.find("magnetization/absolute")) or [None])[0],
        forces_eV_per_A=[[forces[3 * i + k] * HA_PER_BOHR_TO_EV_PER_A for k in range(3)] for i in range(len(forces) // 3)] or None,
        labels=[a.get("name", "X") for a in atoms],
        positions_A=[[x * BOHR_TO_A for x in _floats(a)] for a in atoms],
        cell_A=[[x * BOHR_TO_A for x in _floats(struct.find(f"cell/a{i}"))] for i in (1, 2, 3)] if struct is not None else [],
    )


def run_xml(calc_dir: str | Path, text: PwOutput) -> PwXml | None:
    """The XML output of the run whose text output is ``text``, or None.

    None when the folder has no pw.x input or no XML, when the text output has no end stamp
    (the run crashed or is still going: the XML is an intermediate or an older one), or when
    the XML was not created between the start and the end of that run (another run's file).
    """
    start, end = stamp_time(text.start_stamp), stamp_time(text.end_stamp)
    if start is None or end is None:
        return None
    try:
        path = pw_xml_path(calc_dir)[2]
    except InputError:
        return None
    if not path.is_file():
        return None
    xml = parse_pw_xml(path)
    created = stamp_time(xml.end_stamp)
    if created is None or not start - timedelta(seconds=1) <= created <= end + timedelta(seconds=1):
        return None
    return xml
