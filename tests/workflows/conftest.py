"""Fixtures of the workflow tests (helpers live in wf_helpers.py: conftest modules share one name)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wf_helpers import SHARED, require_pw


@pytest.fixture
def pseudo_env(monkeypatch: pytest.MonkeyPatch) -> Path:
    """TIPSURF_PSEUDO_DIR -> ../shared/pseudo (GBRV); needs pw.x for the version banner."""
    path = SHARED / "pseudo"
    if not path.is_dir():
        pytest.skip(f"needs the shared pseudopotentials in {path}")
    require_pw()
    monkeypatch.setenv("TIPSURF_PSEUDO_DIR", str(path))
    return path
