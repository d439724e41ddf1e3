"""Fixtures of the reliability suite: a scratch project with a real embedded launchpad.

``project`` is a folder (also the current directory) holding input files the bad-input cases
need and, when the workflows layer is installed, an embedded launchpad that already holds one
campaign, so that "no database write" can be checked by comparing file snapshots.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from tipsurf.cli import main

from reliability_helpers import CliResult


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``tipsurf ARGS`` in-process; an uncaught exception (a traceback) fails the test."""

    def _run(*argv: str) -> CliResult:
        capsys.readouterr()
        rc = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliResult(rc, captured.out, captured.err)

    return _run


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch project folder (cwd) with a pinned QE version and, if possible, a launchpad.

    ``qe_version`` is pinned in the (isolated) config file so that no test here depends on
    probing the pw.x banner; the probe itself is tested in test_paths.py.
    """
    cfg = Path(os.environ["TIPSURF_CONFIG"])
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('qe_version: "6.7"\n')
    monkeypatch.chdir(tmp_path)
    try:
        from tipsurf.workflows import store
        from tipsurf.workflows.launchpad import open_launchpad
    except ImportError:
        return tmp_path
    with open_launchpad(project_dir=tmp_path) as handle:
        store.register_campaign(handle.db, "existing", "distance_scan", {"note": "fixture"},
                                [{"fingerprint": "f" * 24, "label": "fixture point", "metadata": {}}])
        handle.flush()
    return tmp_path
