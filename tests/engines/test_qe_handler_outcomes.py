"""The error handlers act on the one verdict of a run (issue 13 item 3): :mod:`tipsurf.engines.qe.outcome`.

Each handler's ``check`` reads :func:`~tipsurf.engines.qe.outcome.read_outcome` instead of text
patterns of its own.  The outputs are edits of the real pw.x 6.7 FeCo output and of the pw.x 6.6
run with its XML in ../shared/refdata/qe; no program runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tipsurf.engines.qe.handlers import (
    DiagonalizationHandler,
    ScfConvergenceHandler,
    UnrecoverableErrorHandler,
    WalltimeHandler,
    default_handlers,
)
from tipsurf.engines.qe.outcome import CONVERGED, CRASHED, NOT_CONVERGED, OUT_OF_TIME, error_blocks, read_outcome
from tipsurf.engines.qe.outputs import parse_pw_text

FECO = ("qe", "local_pw67_feco_b2", "pw.out")
V66 = ("qe", "aiidaqe_tot_magnetization_v66")
PERCENT = " " + "%" * 78


def _block(routine: str, message: str) -> str:
    return f"\n{PERCENT}\n     Error in routine {routine} (1):\n     {message}\n{PERCENT}\n\n     stopping ...\n"


def _fired(folder: Path) -> list[str]:
    """Names of the post-run handlers whose check is true (the monitor reads the SCF accuracy, not the verdict)."""
    return [type(h).__name__ for h in default_handlers() if not h.is_monitor and h.check(str(folder))]


def _run(folder: Path, out: str, err: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pw.out").write_text(out)
    if err is not None:
        (folder / "pw.err").write_text(err)
    return folder


@pytest.fixture
def feco(refdata_dir: Path) -> str:
    return refdata_dir.joinpath(*FECO).read_text()


def test_each_outcome_goes_to_its_handler(feco: str, tmp_path: Path) -> None:
    killed = feco[: feco.index("iteration #  9")]
    cases = {
        "converged": (feco, CONVERGED, []),
        "unconverged": (feco.replace("convergence has been achieved", "convergence NOT achieved after 16 iterations: stopping"),
                        NOT_CONVERGED, ["ScfConvergenceHandler"]),
        "stopped": (feco[: feco.index("iteration #  4")] + "\n     Maximum CPU time exceeded\n\n     max_seconds     =       2.00\n",
                    OUT_OF_TIME, ["WalltimeHandler"]),
        "killed": (killed, CRASHED, []),
        "diagonalisation": (killed + _block("cdiaghg", "S matrix not positive definite"), CRASHED, ["DiagonalizationHandler"]),
        "input": (killed + _block("read_namelists", "bad line in namelist &system"), CRASHED, ["UnrecoverableErrorHandler"]),
        "not pw.x": ("convergence NOT achieved after 3 iterations\n     Maximum CPU time exceeded\n", CRASHED, []),
    }
    for name, (text, outcome, handlers) in cases.items():
        folder = _run(tmp_path / name.replace(" ", "_"), text)
        assert read_outcome(folder, "pw.out").outcome == outcome, name
        assert _fired(folder) == handlers, name


def test_error_blocks_are_the_text_readers_and_reach_the_messages(feco: str, tmp_path: Path) -> None:
    killed = feco[: feco.index("iteration #  9")]
    text = killed + _block("cdiaghg", "S matrix   not positive\n     definite") + _block("readpp", "file Fe.upf not found")
    assert error_blocks(parse_pw_text(text)) == [("cdiaghg", "S matrix not positive definite"), ("readpp", "file Fe.upf not found")]
    assert error_blocks(None) == [] and error_blocks(parse_pw_text(feco)) == []
    folder = _run(tmp_path / "two", text)
    diag, fatal = DiagonalizationHandler(), UnrecoverableErrorHandler()
    assert diag.check(str(folder)) and diag.error == "cdiaghg: S matrix not positive definite"
    assert fatal.check(str(folder)) and fatal.message == "missing or unreadable pseudopotential: pw.x error in readpp: file Fe.upf not found"
    assert fatal.correct(str(folder))["actions"] is None


def test_an_error_block_on_stderr_counts(feco: str, tmp_path: Path) -> None:
    killed = feco[: feco.index("iteration #  9")]
    folder = _run(tmp_path / "err", killed, err=_block("iosys", "wrong ibrav"))
    handler = UnrecoverableErrorHandler()
    assert handler.check(str(folder)) and handler.message == "bad pw.x input: pw.x error in iosys: wrong ibrav"
    assert read_outcome(folder, "pw.out", "pw.err").outcome == CRASHED
    assert read_outcome(folder, "pw.out").outcome == CRASHED and read_outcome(folder, "pw.out").errors == []
    _run(folder, killed, err="MPI_ABORT was invoked on rank 0\n")  # launcher noise is no error block
    assert _fired(folder) == []


def test_missing_output_is_crashed_and_fires_nothing(tmp_path: Path) -> None:
    result = read_outcome(tmp_path, "pw.out", "pw.err")
    assert result.outcome == CRASHED and result.text is None and result.errors == [] and not result.scf_not_converged
    assert _fired(tmp_path) == []


def _v66_folder(refdata_dir: Path, folder: Path, calculation: str = "scf") -> Path:
    src = refdata_dir.joinpath(*V66)
    (folder / "out" / "aiida.save").mkdir(parents=True)
    shutil.copy(src / "aiida.out", folder / "pw.out")
    shutil.copy(src / "data-file-schema.xml", folder / "out" / "aiida.save" / "data-file-schema.xml")
    (folder / "pw.in").write_text(f"&control\n  calculation = '{calculation}'\n  prefix = 'aiida'\n  outdir = './out/'\n/\n"
                                  "&system\n  ibrav = 0, nat = 2, ntyp = 1\n/\n&electrons\n/\n")
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_the_runs_xml_decides_with_the_text(refdata_dir: Path, tmp_path: Path) -> None:
    folder = _v66_folder(refdata_dir, tmp_path / "scf")
    result = read_outcome(folder, "pw.out")
    assert result.xml is not None and result.outcome == CONVERGED and _fired(folder) == []
    # the SCF not converged, in the text and in the XML of the same run
    _edit(folder / "pw.out", "convergence has been achieved in   4 iterations",
          "convergence NOT achieved after   4 iterations: stopping")
    xml = folder / "out" / "aiida.save" / "data-file-schema.xml"
    _edit(xml, "<convergence_achieved>true</convergence_achieved>", "<convergence_achieved>false</convergence_achieved>")
    result = read_outcome(folder, "pw.out")
    assert result.xml is not None and result.outcome == NOT_CONVERGED and result.scf_not_converged
    assert _fired(folder) == ["ScfConvergenceHandler"]
    # an XML cut while written counts as none: the text decides alone
    xml.write_text("<qes:espresso")
    result = read_outcome(folder, "pw.out")
    assert result.xml is None and result.outcome == NOT_CONVERGED and ScfConvergenceHandler().check(str(folder))


def test_a_relaxation_out_of_ionic_steps_is_no_scf_failure(refdata_dir: Path, tmp_path: Path) -> None:
    """SCF converged, ionic minimisation not (the XML's opt_conv): not converged, but not the SCF handler's case."""
    folder = _v66_folder(refdata_dir, tmp_path / "relax", calculation="relax")
    _edit(folder / "out" / "aiida.save" / "data-file-schema.xml", "    </convergence_info>",
          "      <opt_conv>\n        <convergence_achieved>false</convergence_achieved>\n"
          "        <n_opt_steps>50</n_opt_steps>\n      </opt_conv>\n    </convergence_info>")
    result = read_outcome(folder, "pw.out")
    assert result.outcome == NOT_CONVERGED and result.xml.opt_converged is False and not result.scf_not_converged
    assert _fired(folder) == [] and not WalltimeHandler().check(str(folder))


def test_a_stop_at_max_seconds_after_a_converged_scf_is_out_of_time(refdata_dir: Path, tmp_path: Path) -> None:
    """pw.x checks max_seconds right after the SCF: it stops there (exit 255) before the forces.

    Seen in CI: the resumed allocation converged its SCF as the budget ran out; read as converged,
    the point was taken without forces and without the wall-time correction on record.
    """
    folder = _v66_folder(refdata_dir, tmp_path / "late")
    text = (folder / "pw.out").read_text()
    cut = text.index("convergence has been achieved in   4 iterations")
    stop = "convergence has been achieved in   4 iterations\n\n     Maximum CPU time exceeded\n\n     max_seconds     =       9.00\n"
    (folder / "pw.out").write_text(text[:cut] + stop + text[text.index("     PWSCF        :"):])
    result = read_outcome(folder, "pw.out")
    assert result.xml is not None and result.xml.converged  # the XML pw.x writes at the stop says the SCF converged ...
    assert result.outcome == OUT_OF_TIME and _fired(folder) == ["WalltimeHandler"]  # ... the run is still out of time
    from tipsurf.engines.qe.result import read_result
    record = read_result(folder)
    assert not record.converged and record.energy_eV is None  # and no number that looks final
