"""Shared test fixtures: the ../shared data folder, real-program markers, isolated config."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TIPSURF_SHARED", REPO.parent / "shared"))
PSEUDO_DIR = SHARED / "pseudo"
REFDATA = SHARED / "refdata"


def require_shared(sub: str = "") -> Path:
    """Return ``../shared/<sub>`` or skip the test with the reason."""
    path = SHARED / sub
    if not path.exists():
        pytest.skip(f"needs the shared data folder {path} (a checkout of ../shared beside the repo)")
    return path


def require_program(name: str) -> str:
    """Return the path of an installed program or skip the test with the reason."""
    found = shutil.which(name)
    if not found:
        pytest.skip(f"needs {name} on PATH (install Debian quantum-espresso: bash scripts/install.sh)")
    return found


@pytest.fixture
def shared_pseudo_dir() -> Path:
    """``../shared/pseudo`` (GBRV ultrasoft + some pslibrary PAW)."""
    return require_shared("pseudo")


@pytest.fixture
def refdata_dir() -> Path:
    """``../shared/refdata`` (real VASP and QE outputs)."""
    return require_shared("refdata")


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the user's config file, cache and launchpad."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("TIPSURF_CONFIG", str(home / "config.yaml"))
    monkeypatch.setenv("TIPSURF_CACHE_DIR", str(home / "cache"))
    monkeypatch.delenv("TIPSURF_PSEUDO_DIR", raising=False)
    monkeypatch.delenv("TIPSURF_LAUNCHPAD", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
