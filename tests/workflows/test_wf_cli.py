"""The campaign commands: scan adds (and reports) points, status/results/submit read them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tipsurf.cli import main

TINY = ["--tip", "Fe", "--site", "top", "--tip-layers", "1", "--w-layers", "1", "--size", "1x1", "--one-sided",
        "--slab-vacuum", "5", "--vacuum-above-tip", "5", "--set", "ecutwfc_Ry=20", "--set", "ecutrho_Ry=160",
        "--set", "kpoints={mesh: [1, 1, 1]}", "--set", "conv_thr_Ry=1e-5", "--set", "conv_thr_Ry_per_atom=null",
        "--set", "degauss_Ry=0.1", "--set", "dipole_correction=false"]


def test_scan_status_submit_results_commands(tmp_path: Path, pseudo_env, capsys: pytest.CaptureFixture[str]) -> None:
    project = ["--project", str(tmp_path)]
    assert main(["scan", *TINY, "--distances", "4.5:5.0:0.5", "--name", "cli", "--json", *project]) == 0
    added = json.loads(capsys.readouterr().out)
    assert len(added["added"]) == 4 + 2 and added["existing"] == []  # points, slab and tip fragments
    assert main(["scan", *TINY, "--distances", "4.5,5.0", "--name", "cli", *project]) == 0
    text = capsys.readouterr().out
    assert "added: 0 calculation(s)" in text and "already present: 6" in text
    assert main(["status", "--name", "cli", "--json", *project]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"]["ready"] == 2 and status["counts"]["waiting"] == 4 and status["total"] == 6
    assert main(["submit", "--queue", "slurm", "--name", "cli", "--dry-run", "--account", "acc1", "--nodes", "4",
                 "--walltime", "00:30:00", "--json", *project]) == 0
    script = Path(json.loads(capsys.readouterr().out)["scripts"][0]).read_text()
    assert "#SBATCH --account=acc1" in script and "#SBATCH --nodes=4" in script and "TIPSURF_WALLTIME_S=1800" in script
    assert main(["results", "--name", "cli", "--json", *project]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["records"] == [] and results["analysis"] is None


def test_user_errors_are_one_line_and_write_nothing(tmp_path: Path, pseudo_env, capsys: pytest.CaptureFixture[str]) -> None:
    project = ["--project", str(tmp_path)]
    assert main(["scan", *TINY, "--distances", "5:4:0.5", "--name", "bad", *project]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert main(["results", "--name", "nope", *project]) != 0
    assert "no campaign named 'nope'" in capsys.readouterr().err
    assert not (tmp_path / ".tipsurf" / "calcs").exists()
