"""pw.x's XML output as the source of the record's numbers, and the one verdict on a run (issue 13 item 3).

The XML and its text output are pw.x 6.6's, from ../shared/refdata/qe (aiida-quantumespresso's
fixture of one run); the outcome cases are edits of the real pw.x 6.7 FeCo output there.  No
program runs here (a real pw.x 6.7 run's XML is checked in tests/analysis/test_ldos.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tipsurf.engines.qe import QEEngine
from tipsurf.engines.qe.outcome import CONVERGED, CRASHED, NOT_CONVERGED, OUT_OF_TIME, classify_outcome, pw_outcome
from tipsurf.engines.qe.outputs import RY_TO_EV, parse_pw_output, parse_pw_text
from tipsurf.engines.qe.xml_output import parse_pw_xml, run_xml
from tipsurf.errors import OutputError

V66 = ("qe", "aiidaqe_tot_magnetization_v66")


def _v66_folder(refdata_dir: Path, folder: Path) -> Path:
    """The v6.6 run laid out as pw.x left it: text output, pw.x input naming prefix/outdir, XML in the .save folder."""
    src = refdata_dir.joinpath(*V66)
    (folder / "out" / "aiida.save").mkdir(parents=True)
    shutil.copy(src / "aiida.out", folder / "pw.out")
    shutil.copy(src / "data-file-schema.xml", folder / "out" / "aiida.save" / "data-file-schema.xml")
    (folder / "pw.in").write_text("&control\n  calculation = 'scf'\n  prefix = 'aiida'\n  outdir = './out/'\n/\n"
                                  "&system\n  ibrav = 0, nat = 2, ntyp = 1, nspin = 2, tot_magnetization = 1\n/\n&electrons\n/\n")
    return folder


def test_pw66_xml_agrees_with_its_text_output(refdata_dir: Path) -> None:
    xml = parse_pw_xml(refdata_dir.joinpath(*V66, "data-file-schema.xml"))
    text = parse_pw_output(refdata_dir.joinpath(*V66, "aiida.out"))
    assert xml.code_version == "6.6" and xml.calculation == "scf" and xml.exit_status == 0
    assert xml.converged and xml.scf_converged and xml.opt_converged is None and xml.n_scf_steps == text.n_scf == 4
    assert xml.energy_eV == pytest.approx(-22.80554665 * RY_TO_EV, abs=2e-7)  # the text's 8 decimals of Ry
    assert xml.fermi_up_dw_eV == [pytest.approx(6.7565, abs=1e-4), pytest.approx(5.6206, abs=1e-4)]
    assert xml.lsda and xml.total_magnetization_muB == pytest.approx(1.0, abs=1e-6)
    assert xml.forces_eV_per_A is None and text.forces_eV_per_A is None  # no tprnfor in that run
    assert xml.symbols == ["Si", "Si"] and xml.positions_A[1] == [pytest.approx(1.3575, abs=1e-4)] * 3
    assert xml.end_stamp == text.end_stamp == "13:35:24 10Feb2023"


def test_record_takes_the_runs_xml_and_not_another_runs(refdata_dir: Path, tmp_path: Path) -> None:
    folder = _v66_folder(refdata_dir, tmp_path / "calc")
    record = QEEngine().parse(folder)
    xml = parse_pw_xml(folder / "out" / "aiida.save" / "data-file-schema.xml")
    assert record.extra["xml_output"] == str(folder.resolve() / "out" / "aiida.save" / "data-file-schema.xml")
    assert record.extra["outcome"] == CONVERGED and record.converged
    assert record.energy_eV == xml.energy_eV and record.total_magnetization_muB == xml.total_magnetization_muB
    assert record.magmoms_muB == [pytest.approx(0.2056), pytest.approx(0.2056)]  # per site: the text's
    assert record.symbols == ["Si", "Si"] and record.positions_A[1] == [pytest.approx(1.3575, abs=1e-4)] * 3
    # the same file left by an earlier run in the folder (created before this run started): not this run's
    path = folder / "out" / "aiida.save" / "data-file-schema.xml"
    path.write_text(path.read_text().replace('TIME="13:35:24"', 'TIME="09:00:00"'))
    old = QEEngine().parse(folder)
    assert old.extra["xml_output"] is None and old.extra["outcome"] == CONVERGED
    assert old.energy_eV == pytest.approx(record.energy_eV, abs=2e-7)  # from the text instead


def test_xml_without_output_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "data-file-schema.xml"
    path.write_text("<qes:espresso xmlns:qes='http://www.quantum-espresso.org/ns/qes/qes-1.0'><input/></qes:espresso>")
    with pytest.raises(OutputError, match="no <output>") as info:
        parse_pw_xml(path)
    assert "\n" not in str(info.value)
    path.write_text("<qes:espresso")  # cut while written
    with pytest.raises(OutputError, match="cannot read"):
        parse_pw_xml(path)


def test_one_verdict_per_run_from_the_text_when_there_is_no_xml(refdata_dir: Path, tmp_path: Path) -> None:
    text = (refdata_dir / "qe" / "local_pw67_feco_b2" / "pw.out").read_text()
    assert classify_outcome(parse_pw_text(text)) == CONVERGED
    unconverged = text.replace("convergence has been achieved", "convergence NOT achieved after 16 iterations: stopping")
    assert classify_outcome(parse_pw_text(unconverged)) == NOT_CONVERGED
    stopped = text[: text.index("iteration #  4")] + "\n     Maximum CPU time exceeded\n\n     max_seconds     =       2.00\n"
    assert classify_outcome(parse_pw_text(stopped)) == OUT_OF_TIME
    killed = text[: text.index("iteration #  9")]
    assert classify_outcome(parse_pw_text(killed, strict=False)) == CRASHED
    error = killed + "\n %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%\n     Error in routine cdiaghg (21):\n     problems computing cholesky\n %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%\n"
    assert classify_outcome(parse_pw_text(error)) == CRASHED
    (tmp_path / "pw.out").write_text(killed)
    assert pw_outcome(tmp_path, tmp_path / "pw.out") == CRASHED  # no XML, truncated text
    assert pw_outcome(tmp_path, tmp_path / "missing.out") == CRASHED
    assert run_xml(tmp_path, parse_pw_text(text)) is None  # no pw.x input, hence no XML to look for
