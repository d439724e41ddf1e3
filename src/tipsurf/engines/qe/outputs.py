"""Parsers for pw.x and projwfc.x text output.

Per-site moments are read by the ``magn`` label, which works for both the pw.x ≤ 6.7 format
(``atom:    1    charge:   14.2413    magn:    2.9930    constr:    0.0000``) and the ≥ 6.8
format (``atom   1 (R=0.292)  charge=  7.9805  magn= -0.0000``).  (ASE 3.29 takes the last
column, which is ``constr`` in ≤ 6.7 output.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase.units import Bohr, Ry

from tipsurf.errors import OutputError

RY_TO_EV = float(Ry)
RY_PER_BOHR_TO_EV_PER_A = float(Ry / Bohr)

_FLOAT = r"[-+]?\d*\.\d+(?:[eEdD][-+]?\d+)?|[-+]?\d+"
_VERSION = re.compile(r"Program PWSCF v\.?\s*(\S+)\s+starts")
#: Fortran pads the date and time with blanks, not zeros: ``starts on  1Dec2026 at 14: 0: 8``.
_CLOCK, _DATE = r"(\d+:[\d ]\d:[\d ]\d)", r"(\d+ ?[A-Za-z]{3} ?\d{4})"
_STARTED = re.compile(r"Program PWSCF v\.?\s*\S+\s+starts on\s+" + _DATE + r"\s+at\s+" + _CLOCK)
_TERMINATED = re.compile(r"This run was terminated on:\s+" + _CLOCK + r"\s+" + _DATE)
_FINAL_ENERGY = re.compile(r"^!\s+total energy\s+=\s+(" + _FLOAT + r")\s+Ry", re.M)
_ITER_ENERGY = re.compile(r"^\s+total energy\s+=\s+(" + _FLOAT + r")\s+Ry", re.M)
_FERMI = re.compile(r"the Fermi energy is\s+(" + _FLOAT + r")\s+ev", re.I)
_FERMI_UPDW = re.compile(r"the spin up/dw Fermi energies are\s+(" + _FLOAT + r")\s+(" + _FLOAT + r")\s+ev", re.I)
_TOTMAG = re.compile(r"total magnetization\s+=\s+(" + _FLOAT + r")\s+Bohr mag/cell")
_ABSMAG = re.compile(r"absolute magnetization\s+=\s+(" + _FLOAT + r")\s+Bohr mag/cell")
_NEGRHO = re.compile(r"negative rho \(up, down\):\s+(" + _FLOAT + r")(?:\s+(" + _FLOAT + r"))?")
_CONVERGED = re.compile(r"convergence has been achieved in\s+(\d+)\s+iterations")
_NOT_CONVERGED = re.compile(r"convergence NOT achieved after\s+(\d+)\s+iterations")
_ITERATION = re.compile(r"^\s+iteration #\s*(\d+)", re.M)
_SITE_HEADER = re.compile(r"Magnetic moment per site")
_SITE_LINE = re.compile(r"^\s*atom[:\s]+(\d+).*?charge[:=]\s*(" + _FLOAT + r").*?magn[:=]\s*(" + _FLOAT + r")")
_FORCE_LINE = re.compile(r"^\s*atom\s+(\d+)\s+type\s+\d+\s+force\s+=\s+(" + _FLOAT + r")\s+(" + _FLOAT + r")\s+(" + _FLOAT + r")")
_WALL = re.compile(r"PWSCF\s*:\s*(.*?)CPU\s+(.*?)WALL")
_NAT = re.compile(r"number of atoms/cell\s+=\s+(\d+)")
_MAX_TIME = re.compile(r"Maximum CPU time exceeded")
_ERROR = re.compile(r"%{10,}\s*\n\s*Error in routine\s+(\S+)\s*\(\s*(-?\d+)\s*\):\s*\n(.*?)\n\s*%{10,}", re.S)


def parse_qe_time(text: str) -> float:
    """``'1h 2m'``, ``'2m 3.45s'`` or ``'7.49s'`` -> seconds."""
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", text):
        total += float(value) * {"h": 3600.0, "m": 60.0, "s": 1.0}[unit]
    return total


def clock_stamp(time: str, date: str) -> str:
    """``'14:0:8 1Dec2026'`` from pw.x's blank-padded time and date (``'14: 0: 8'``, ``' 1Dec2026'``)."""
    return f"{''.join(time.split())} {''.join(date.split())}"


def _f(text: str) -> float:
    return float(text.replace("D", "E").replace("d", "e"))


@dataclass
class PwOutput:
    """What a pw.x output says (energies in eV, forces in eV/Å)."""

    code_version: str | None
    n_atoms: int | None
    converged: bool
    n_scf: int | None
    energy_eV: float | None
    last_scf_energy_eV: float | None
    fermi_eV: float | None
    fermi_up_dw_eV: list[float] | None
    total_magnetization_muB: float | None
    absolute_magnetization_muB: float | None
    magmoms_muB: list[float] | None
    site_charges: list[float] | None
    forces_eV_per_A: list[list[float]] | None
    walltime_s: float | None
    job_done: bool
    max_time_exceeded: bool
    ionic_converged: bool | None = None
    errors: list[str] = field(default_factory=list)
    #: ``'HH:MM:SS DDMonYYYY'`` of the banner and of the ``This run was terminated on`` line.
    start_stamp: str | None = None
    end_stamp: str | None = None
    #: The last SCF verdict of the output: ``"achieved"``, ``"not achieved"`` or None.
    scf_verdict: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return dict(self.__dict__)


def _last_site_block(lines: list[str]) -> tuple[list[float], list[float]] | None:
    start = None
    for i, line in enumerate(lines):
        if _SITE_HEADER.search(line):
            start = i
    if start is None:
        return None
    moments: dict[int, float] = {}
    charges: dict[int, float] = {}
    for line in lines[start + 1 :]:
        match = _SITE_LINE.match(line)
        if not match:
            if moments:
                break
            continue
        idx = int(match.group(1))
        charges[idx] = _f(match.group(2))
        moments[idx] = _f(match.group(3))
    order = sorted(moments)
    return [moments[i] for i in order], [charges[i] for i in order]


def _last_forces(lines: list[str]) -> list[list[float]] | None:
    start = None
    for i, line in enumerate(lines):
        if "Forces acting on atoms" in line:
            start = i
    if start is None:
        return None
    forces: dict[int, list[float]] = {}
    for line in lines[start + 1 :]:
        match = _FORCE_LINE.match(line)
        if match:
            idx = int(match.group(1))
            if idx in forces:  # contributions (non-local, ionic, ...) follow the total
                break
            forces[idx] = [_f(match.group(k)) * RY_PER_BOHR_TO_EV_PER_A for k in (2, 3, 4)]
        elif forces and line.strip():
            break
    return [forces[i] for i in sorted(forces)] or None


def _last_scf_section(text: str) -> str:
    """Text of the last electronic minimisation (relaxations repeat the SCF)."""
    marks = [m.start() for m in re.finditer(r"Self-consistent Calculation|Starting wfcs? from|Initial potential from", text)]
    return text[marks[-1] :] if marks else text


def parse_pw_text(text: str, *, strict: bool = True) -> PwOutput:
    """Parse pw.x standard output.

    Parameters
    ----------
    text
        Whole output.
    strict
        Raise OutputError if the run neither finished nor stopped with a verdict on convergence
        (truncated output: crashed or still running).

    Raises
    ------
    OutputError
        Not pw.x output, or truncated (when ``strict``).
    """
    version = _VERSION.search(text)
    if version is None:
        raise OutputError("not a pw.x output (no 'Program PWSCF' banner)")
    conv = list(_CONVERGED.finditer(text))
    notconv = list(_NOT_CONVERGED.finditer(text))
    job_done = "JOB DONE" in text
    max_time = bool(_MAX_TIME.search(text))
    errors = [f"{m.group(1)} ({m.group(2)}): {' '.join(m.group(3).split())}" for m in _ERROR.finditer(text)]
    if strict and not (conv or notconv or job_done or errors or max_time):
        raise OutputError("pw.x output is truncated (no convergence verdict and no JOB DONE); the run crashed or is still running")
    last = _last_scf_section(text)
    final_conv = bool(conv) and (not notconv or notconv[-1].start() < conv[-1].start())
    ionic_converged = ionic_verdict(text)
    iterations = [int(m.group(1)) for m in _ITERATION.finditer(last)]
    if final_conv:
        n_scf = int(conv[-1].group(1))
    elif notconv and notconv[-1].start() > (conv[-1].start() if conv else -1):
        n_scf = int(notconv[-1].group(1))
    else:
        n_scf = iterations[-1] if iterations else None
    finals = _FINAL_ENERGY.findall(text)
    energies = _ITER_ENERGY.findall(last)
    lines = text.splitlines()
    site = _last_site_block(lines)
    fermi = _FERMI.findall(text)
    updw = _FERMI_UPDW.findall(text)
    fermi_up_dw = [_f(updw[-1][0]), _f(updw[-1][1])] if updw else None
    fermi_eV = _f(fermi[-1]) if fermi else (max(fermi_up_dw) if fermi_up_dw else None)
    totmag = _TOTMAG.findall(last)
    absmag = _ABSMAG.findall(last)
    wall = _WALL.findall(text)
    nat = _NAT.search(text)
    started, ended = _STARTED.search(text), _TERMINATED.findall(text)
    return PwOutput(
        code_version=version.group(1),
        n_atoms=int(nat.group(1)) if nat else None,
        converged=final_conv and not errors and ionic_converged is not False and not max_time,
        n_scf=n_scf,
        energy_eV=_f(finals[-1]) * RY_TO_EV if (finals and final_conv and ionic_converged is not False) else None,
        last_scf_energy_eV=_f(energies[-1]) * RY_TO_EV if energies else None,
        fermi_eV=fermi_eV,
        fermi_up_dw_eV=fermi_up_dw,
        total_magnetization_muB=_f(totmag[-1]) if totmag else None,
        absolute_magnetization_muB=_f(absmag[-1]) if absmag else None,
        magmoms_muB=site[0] if site else None,
        site_charges=site[1] if site else None,
        forces_eV_per_A=_last_forces(lines),
        walltime_s=parse_qe_time(wall[-1][1]) if wall else None,
        job_done=job_done,
        max_time_exceeded=max_time,
        ionic_converged=ionic_converged,
        errors=errors,
        start_stamp=clock_stamp(started.group(2), started.group(1)) if started else None,
        end_stamp=clock_stamp(*ended[-1]) if ended else None,
        scf_verdict=None if not (conv or notconv) else ("achieved" if final_conv else "not achieved"),
    )


#: pw.x's ionic verdicts.  pw.x 6.x stops a BFGS whose trust radius fell below its minimum twice
#: with this message and then prints "bfgs converged" all the same (7.x prints "bfgs failed").
BFGS_STOPPED = ("history already reset at previous step: stopping", "bfgs failed after")
BFGS_RESET = "resetting bfgs history"
_DAMP_CONVERGED = "Damped Dynamics: convergence achieved in"
_MAX_STEPS = "The maximum number of steps has been reached"


def ionic_verdict(text: str) -> bool | None:
    """Did the ionic minimisation of a pw.x output converge (None: not a relaxation)?

    BFGS: ``bfgs converged`` (or the end of the optimisation) and neither a BFGS stop
    (:data:`BFGS_STOPPED`, which pw.x 6.x follows with "bfgs converged") nor the maximum number
    of steps.  Damped dynamics (``ion_dynamics='damp'``): its convergence line.
    """
    if "Damped Dynamics Calculation" in text:
        return _DAMP_CONVERGED in text and _MAX_STEPS not in text
    if not ("Geometry Optimization" in text or "BFGS" in text and "number of scf cycles" in text):
        return None
    if any(stop in text for stop in BFGS_STOPPED) or _MAX_STEPS in text:
        return False
    return "bfgs converged" in text or "End of BFGS Geometry Optimization" in text


def bfgs_stall_resets(text: str) -> int:
    """How many times BFGS reset its history since it last accepted a step (0: not stalled).

    pw.x prints ``number of bfgs steps = N`` after every SCF cycle of a BFGS relaxation and
    :data:`BFGS_RESET` when it throws its Hessian away after a rejected step.  Resets while N
    stays the same mean BFGS is going back and forth between energies that disagree with its
    forces (an SCF too loose, or an energy with a step in it such as pw.x 6.7's DFT-D3 term).
    """
    counts = [(m.start(), int(m.group(1))) for m in re.finditer(r"number of bfgs steps\s*=\s*(\d+)", text)]
    if not counts:
        return 0
    since = counts[-1][0]
    for pos, n in reversed(counts):  # back to the first cycle of the current step count
        if n != counts[-1][1]:
            break
        since = pos
    return text.count(BFGS_RESET, since)


_POSITIONS_CARD = re.compile(r"^ATOMIC_POSITIONS\s*\((\w+)\)\s*$", re.M)


def last_positions_card(text: str, n_atoms: int) -> str | None:
    """The last ``ATOMIC_POSITIONS`` a relaxation printed, as an input card (None: none complete).

    pw.x prints the positions of each new ionic step, with the ``if_pos`` flags of fixed atoms:
    the geometry the run was at when it stopped.
    """
    matches = list(_POSITIONS_CARD.finditer(text))
    if not matches:
        return None
    rows = text[matches[-1].end():].lstrip("\n").splitlines()[:n_atoms]
    if len(rows) < n_atoms or any(len(row.split()) < 4 for row in rows):
        return None
    return f"ATOMIC_POSITIONS {matches[-1].group(1)}\n" + "".join(f"  {row.strip()}\n" for row in rows)


def parse_pw_output(path: str | Path, *, strict: bool = True) -> PwOutput:
    """Parse a pw.x output file (see :func:`parse_pw_text`)."""
    path = Path(path)
    if not path.is_file():
        raise OutputError(f"pw.x output {path} does not exist; run the calculation first")
    return parse_pw_text(path.read_text(errors="replace"), strict=strict)


_LOWDIN_ATOM = re.compile(r"^\s*Atom #\s*(\d+):\s*total charge\s*=\s*(" + _FLOAT + r")(.*)$")
_LOWDIN_COMP = re.compile(r"(\w+)\s*=\s*(" + _FLOAT + r")")
_LOWDIN_SPIN = re.compile(r"^\s*(spin up|spin down|polarization)\s*=\s*(" + _FLOAT + r")(.*)$")


def parse_projwfc_text(text: str) -> dict[str, Any]:
    """Löwdin charges (and, spin-polarised, moments) from projwfc.x output.

    Returns
    -------
    dict
        ``charges_e`` per atom (total Löwdin charge), ``moments_muB`` per atom (spin up − down,
        or None without spin), ``orbitals`` per atom (``{"s": .., "p": .., "d": ..}``),
        ``spilling`` (spilling parameter) and ``code_version``.

    Raises
    ------
    OutputError
        If there is no Löwdin charge block.
    """
    start = text.rfind("Lowdin Charges")
    if start < 0:
        raise OutputError("projwfc.x output has no 'Lowdin Charges' block; the run failed or was cut off")
    charges: dict[int, float] = {}
    orbitals: dict[int, dict[str, float]] = {}
    moments: dict[int, float] = {}
    current = None
    for line in text[start:].splitlines()[1:]:
        match = _LOWDIN_ATOM.match(line)
        if match:
            current = int(match.group(1))
            charges[current] = _f(match.group(2))
            orbitals[current] = {k: _f(v) for k, v in _LOWDIN_COMP.findall(match.group(3))}
            continue
        spin = _LOWDIN_SPIN.match(line)
        if spin and current is not None:
            if spin.group(1) == "polarization":
                moments[current] = _f(spin.group(2))
            continue
        if "Spilling" in line or "Spilling" in line.title():
            break
    spill = re.search(r"Spilling Parameter:\s*(" + _FLOAT + r")", text[start:])
    version = re.search(r"Program PROJWFC v\.?\s*(\S+)\s+starts", text)
    order = sorted(charges)
    if not order:
        raise OutputError("projwfc.x Löwdin block lists no atoms")
    return {
        "charges_e": [charges[i] for i in order],
        "moments_muB": [moments[i] for i in order] if moments else None,
        "orbitals": [orbitals[i] for i in order],
        "spilling": _f(spill.group(1)) if spill else None,
        "code_version": version.group(1) if version else None,
    }


def parse_projwfc_output(path: str | Path) -> dict[str, Any]:
    """Parse a projwfc.x output file (see :func:`parse_projwfc_text`)."""
    path = Path(path)
    if not path.is_file():
        raise OutputError(f"projwfc.x output {path} does not exist")
    return parse_projwfc_text(path.read_text(errors="replace"))


#: pw.x's header of each SCF cycle (one per ionic step of a relaxation).
SCF_CYCLE_START = "Self-consistent Calculation"


def current_scf_cycle(text: str) -> str:
    """The part of a pw.x output after its last ``Self-consistent Calculation`` (all of it if none).

    A relaxation runs one SCF cycle per ionic step; monitors judge the cycle pw.x is in.
    """
    return text[text.rfind(SCF_CYCLE_START):] if SCF_CYCLE_START in text else text


#: pw.x's warning when the forces are smaller than ten times their SCF correction (forces.f90).
LARGE_SCF_CORRECTION = "SCF correction compared to forces is large"


def large_scf_correction_count(text: str) -> int:
    """How many ionic steps of a pw.x output printed :data:`LARGE_SCF_CORRECTION`.

    pw.x prints it when the total force is below ten times the force error of an SCF not
    converged tightly enough: the forces, and the energies BFGS compares, are then SCF noise.
    """
    return text.count(LARGE_SCF_CORRECTION)


def scf_errors_Ry(text: str) -> list[float]:
    """The 'estimated scf accuracy' of every SCF iteration in a pw.x output (Ry)."""
    return [float(x) for x in re.findall(r"estimated scf accuracy\s+<\s+(\S+)\s+Ry", text)]


def current_scf_errors_Ry(text: str) -> list[float]:
    """The SCF accuracies of the cycle pw.x is in: after its last ``Self-consistent Calculation``.

    A relaxation runs one SCF cycle per ionic step, each starting far above the last one's end;
    judging their iterations together would call a healthy relaxation stuck.
    """
    return scf_errors_Ry(current_scf_cycle(text))


def cycle_absolute_magnetizations(text: str) -> list[float]:
    """Absolute magnetisation (μB per cell) of every iteration of the current SCF cycle.

    Parameters
    ----------
    text
        The content of ``pw.out`` as it stands.
    """
    return [float(x) for x in _ABSMAG.findall(current_scf_cycle(text))]


def cycle_negative_charges_e(text: str) -> list[tuple[float, float]]:
    """Negative charge (electrons; spin up, spin down) pw.x reports in each iteration of the current SCF cycle.

    pw.x prints ``negative rho (up, down)`` when the density on the FFT grid has negative
    values (Fourier ringing of hard augmentation charges at a low ``ecutrho``, mostly); a
    spin-unpolarized run has its whole value as "up".

    Parameters
    ----------
    text
        The content of ``pw.out`` as it stands.
    """
    return [(float(up), float(down or 0.0)) for up, down in _NEGRHO.findall(current_scf_cycle(text))]
