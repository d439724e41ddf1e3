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


@pytest.mark.pwx
def test_real_relaxation_takes_its_final_structure_and_forces_from_the_xml(tmp_path: Path, pseudo_provider) -> None:
    """pw.x 6.7 relaxation of FeCo (Co pushed 0.1 Å along z): the record's positions are the XML's
    final ones, the same as the text output's last ATOMIC_POSITIONS (ASE's reader), and its
    forces the XML's, the same as the text's last force block."""
    import numpy as np
    from ase import Atoms
    from ase.io import read as ase_read

    from tipsurf.engines.presets import load_preset, merge_preset

    if shutil.which("pw.x") is None:
        pytest.skip("needs pw.x on PATH (Debian quantum-espresso)")
    pseudos = pseudo_provider.usable(tmp_path / "cache")
    cfg = pseudos.config()
    atoms = Atoms("FeCo", positions=[[0, 0, 0], [1.425, 1.425, 1.525]], cell=[2.85] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([3.0, 2.0])
    preset = merge_preset(load_preset("fast"), {"kpoints": {"mesh": [3, 3, 3]}, "ecutwfc_Ry": 25, "ecutrho_Ry": 200})
    engine = QEEngine()
    engine.write_inputs(atoms, preset, tmp_path / "relax", config=cfg, calculation="relax")
    record = engine.run(tmp_path / "relax", config=cfg)
    assert record.converged and record.extra["outcome"] == CONVERGED and record.extra["xml_output"]
    xml = parse_pw_xml(record.extra["xml_output"])
    assert xml.calculation == "relax" and xml.opt_converged is True
    np.testing.assert_allclose(record.positions_A, xml.positions_A, atol=1e-9)
    final = ase_read(str(tmp_path / "relax" / "pw.out"), format="espresso-out", index=-1)
    np.testing.assert_allclose(record.positions_A, final.get_positions(), atol=1e-5)
    assert abs(record.positions_A[1][2] - 1.525) > 1e-3  # it moved
    text = parse_pw_output(tmp_path / "relax" / "pw.out")
    np.testing.assert_allclose(record.forces_eV_per_A, text.forces_eV_per_A, atol=1e-5)
    assert record.energy_eV == pytest.approx(text.energy_eV, abs=2e-7)
