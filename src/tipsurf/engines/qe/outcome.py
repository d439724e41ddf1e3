"""How one pw.x run ended, and its numbers: the XML output where it has them, the text for the rest.

Sources (issue 13 item 3): this run's ``data-file-schema.xml`` (:func:`tipsurf.engines.qe.xml_output.run_xml`)
gives the energy, forces, SCF and ionic convergence, Fermi energy, total and absolute
magnetisation and the structure; the text output (:mod:`tipsurf.engines.qe.outputs`) gives what
the XML lacks — the moments and charges per site, iteration counts, wall time, error blocks and
the wall-time stop — and everything when there is no XML of this run (a crashed run, an output
copied without its ``out`` folder).  :func:`classify_outcome` is the one verdict on a run;
:func:`read_outcome` gives it with the records it came from, which the custodian error handlers
(:mod:`tipsurf.engines.qe.handlers`) read instead of patterns of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from tipsurf.engines.qe.outputs import PwOutput, parse_pw_text
from tipsurf.engines.qe.xml_output import PwXml, run_xml
from tipsurf.errors import OutputError

__all__ = [
    "CONVERGED", "CRASHED", "NOT_CONVERGED", "OUTCOMES", "OUT_OF_TIME", "RunOutcome",
    "classify_outcome", "error_blocks", "pw_outcome", "read_outcome", "with_xml",
]

CONVERGED = "converged"
NOT_CONVERGED = "not converged"
CRASHED = "crashed"
OUT_OF_TIME = "out of time"
OUTCOMES = (CONVERGED, NOT_CONVERGED, CRASHED, OUT_OF_TIME)


def classify_outcome(text: PwOutput | None, xml: PwXml | None = None) -> str:
    """The outcome of a pw.x run: one of :data:`OUTCOMES`.

    Parameters
    ----------
    text
        The text output, parsed without ``strict`` (None: there is none, or it is not pw.x's).
    xml
        This run's XML output, if it wrote one (see :func:`tipsurf.engines.qe.xml_output.run_xml`).

    Returns
    -------
    str
        ``crashed``: an error block, or the output stops before the run ended without a final
        "convergence NOT achieved" (killed, or still running); ``out of time``: stopped at
        ``max_seconds`` (a clean stop to resume from; pw.x's exit code 255), also when the SCF
        had converged just before — pw.x then stops before the forces and the ionic step;
        ``converged``: SCF and, for a relaxation, the ionic minimisation converged (by the XML
        when there is one; exactly when the result record says ``converged``); ``not
        converged``: the rest (the run ended, or pw.x stopped on an unconverged SCF).
    """
    if text is None or text.errors:
        return CRASHED
    if text.max_time_exceeded:  # before the SCF verdict: a stop after a converged SCF skips the forces
        return OUT_OF_TIME
    # the text's ionic "not converged" wins over the XML's (pw.x 6.x records a BFGS it stopped as converged)
    if (xml.converged and text.ionic_converged is not False) if xml is not None else text.converged:
        return CONVERGED
    if xml is not None or text.end_stamp or text.job_done or text.scf_verdict == "not achieved":
        return NOT_CONVERGED
    return CRASHED


def with_xml(text: PwOutput, xml: PwXml | None) -> PwOutput:
    """The text output's record with the XML's numbers and convergence in place of the text's.

    Energies only when converged, as from the text; the moments per site, iteration counts,
    wall time and errors stay the text's.  Without an XML, ``text`` unchanged.
    """
    if xml is None:
        return text
    # the text's "not converged" wins: pw.x 6.x records a BFGS it stopped as converged
    ionic = False if text.ionic_converged is False else (
        xml.opt_converged if xml.opt_converged is not None else text.ionic_converged)
    converged = xml.converged and ionic is not False and not text.errors and not text.max_time_exceeded
    return replace(
        text,
        converged=converged,
        ionic_converged=ionic,
        energy_eV=xml.energy_eV if converged else None,
        fermi_eV=xml.fermi_eV,
        fermi_up_dw_eV=xml.fermi_up_dw_eV,
        total_magnetization_muB=xml.total_magnetization_muB if xml.lsda else text.total_magnetization_muB,
        absolute_magnetization_muB=xml.absolute_magnetization_muB if xml.lsda else text.absolute_magnetization_muB,
        forces_eV_per_A=xml.forces_eV_per_A,
        n_atoms=len(xml.labels) or text.n_atoms,
    )


def error_blocks(text: PwOutput | None) -> list[tuple[str, str]]:
    """``(routine, message)`` of every ``Error in routine`` block of a parsed text output.

    The record lists each block as ``"routine (code): message"``
    (:func:`tipsurf.engines.qe.outputs.parse_pw_text`; a routine name has no blank); this
    splits that form again, so that the blocks are found by the text reader's pattern alone.
    """
    blocks = []
    for entry in text.errors if text is not None else []:
        routine, _, rest = entry.partition(" (")
        blocks.append((routine, rest.partition("): ")[2]))
    return blocks


@dataclass(frozen=True)
class RunOutcome:
    """The verdict on one pw.x run (:func:`classify_outcome`) with the records it came from.

    Attributes
    ----------
    outcome
        One of :data:`OUTCOMES`.
    text
        The text output's record (None: no output, or not pw.x's).
    xml
        This run's XML output, if the folder holds it and it can be read.
    """

    outcome: str
    text: PwOutput | None
    xml: PwXml | None

    @property
    def errors(self) -> list[tuple[str, str]]:
        """``(routine, message)`` of the run's error blocks (:func:`error_blocks`)."""
        return error_blocks(self.text)

    @property
    def scf_not_converged(self) -> bool:
        """Not converged because the last SCF was not: its verdict "convergence NOT achieved".

        False for the other unconverged runs (a relaxation out of ionic steps after a converged
        SCF, a run with no SCF verdict) and for every other outcome.
        """
        if self.outcome != NOT_CONVERGED or self.text is None or self.text.scf_verdict != "not achieved":
            return False
        return self.xml is None or not self.xml.scf_converged


def read_outcome(directory: str | Path, output: str | Path, stderr: str | Path | None = None) -> RunOutcome:
    """The outcome of the pw.x run in ``directory`` whose text output is ``output``.

    Parameters
    ----------
    directory
        The calculation folder (its pw.x input names the XML output, :func:`run_xml`).
    output
        The run's text output (relative paths are taken in ``directory``).
    stderr
        The run's standard error, if any: read after ``output``, so that an error block which
        reached it (some MPI launchers) counts as the run's.

    Returns
    -------
    RunOutcome
        ``crashed`` with no records when ``output`` is missing or not pw.x's; an XML output
        that cannot be read (cut while written) counts as none.
    """
    folder = Path(directory)
    paths = [folder / output] + ([folder / stderr] if stderr is not None else [])
    if not paths[0].is_file():
        return RunOutcome(CRASHED, None, None)
    whole = "\n".join(p.read_text(errors="replace") for p in paths if p.is_file())
    try:
        text = parse_pw_text(whole, strict=False)
    except OutputError:
        return RunOutcome(CRASHED, None, None)
    try:
        xml = run_xml(folder, text)
    except OutputError:
        xml = None
    return RunOutcome(classify_outcome(text, xml), text, xml)


def pw_outcome(directory: str | Path, output: str | Path) -> str:
    """The outcome of the pw.x run in ``directory`` whose text output is ``output`` (crashed without one)."""
    return read_outcome(directory, output).outcome
