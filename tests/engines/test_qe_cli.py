"""`tipsurf inputs / run-calc / parse` with the QE engine: contract and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ase import Atoms
from ase.io import write

from tipsurf.cli import main


def _structure(tmp_path: Path) -> Path:
    atoms = Atoms("FeCo", positions=[[0, 0, 0], [1.425, 1.425, 1.5]], cell=[2.85] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([3.0, 2.0])
    path = tmp_path / "feco.xyz"
    write(str(path), atoms, format="extxyz")
    return path


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err)
    return errors[0]


def test_inputs_then_parse_replay(
    refdata_dir: Path, shared_pseudo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replays the real pw.x output of ../shared/refdata, computed with the GBRV files of ../shared/pseudo."""
    monkeypatch.setenv("TIPSURF_PSEUDO_DIR", str(shared_pseudo_dir))
    (tmp_path / "config.yaml").write_text('qe_version: "6.7"\n')
    monkeypatch.setenv("TIPSURF_CONFIG", str(tmp_path / "config.yaml"))
    calc = tmp_path / "calc"
    code = main(["inputs", "--code", "qe", "--preset", "fast", str(_structure(tmp_path)), "-o", str(calc), "--set", "kpoints.mesh=[2,2,2]"])
    assert code == 0
    assert "K_POINTS automatic\n  2 2 2" in (calc / "pw.in").read_text()
    capsys.readouterr()
    # replay: a real pw.x 6.7 output of the same system stands in for the run
    shutil.copy(refdata_dir / "qe" / "local_pw67_feco_b2" / "pw.out", calc / "pw.out")
    assert main(["parse", "--code", "qe", str(calc)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["magmoms_muB"] == [2.993, 1.9751] and record["n_scf"] == 16
    assert record["fingerprint"] and record["pseudopotentials"]["Co"]["md5"] == "9fda54d901f50e82d506ae79c0131cba"


def test_unknown_preset_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["inputs", "--code", "qe", "--preset", "nope", str(_structure(tmp_path)), "-o", str(tmp_path / "c")])
    assert code != 0
    assert "unknown preset 'nope'" in _one_line_error(capsys) and not (tmp_path / "c").exists()


def test_missing_pseudopotential_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty_pseudo"
    empty.mkdir()
    monkeypatch.setenv("TIPSURF_PSEUDO_DIR", str(empty))
    code = main(["inputs", "--code", "qe", "--preset", "fast", str(_structure(tmp_path)), "-o", str(tmp_path / "c")])
    assert code != 0
    assert "not found" in _one_line_error(capsys) and not (tmp_path / "c" / "pw.in").exists()


def test_pw_not_installed_one_line(
    qe_pseudos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.yaml").write_text('qe_version: "6.7"\ncommands:\n  pw: [/nonexistent/pw.x]\n')
    monkeypatch.setenv("TIPSURF_CONFIG", str(tmp_path / "config.yaml"))
    calc = tmp_path / "c"
    assert main(["inputs", "--code", "qe", "--preset", "fast", str(_structure(tmp_path)), "-o", str(calc), "--set", "kpoints.mesh=[1,1,1]"]) == 0
    capsys.readouterr()
    assert main(["run-calc", "--code", "qe", str(calc)]) != 0
    assert "/nonexistent/pw.x" in _one_line_error(capsys)
    assert not (calc / "pw.out").exists()


def test_parse_missing_output_and_unknown_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--code", "qe", str(tmp_path)]) != 0
    assert "no pw.x output" in _one_line_error(capsys)
    assert main(["parse", "--code", "abinit", str(tmp_path)]) != 0
    assert "unknown code" in _one_line_error(capsys)
