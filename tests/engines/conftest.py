"""Fixtures of the engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from potcar_files import write_test_potcars


@pytest.fixture(scope="session")
def test_potcar_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Test POTCARs Fe, Fe_pv and O in pymatgen's PMG_VASP_PSP_DIR layout (tests/potcar_files.py)."""
    return write_test_potcars(tmp_path_factory.mktemp("potcars"), ("Fe", "Fe_pv", "O"))


@pytest.fixture
def fake_potcar_dir(test_potcar_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pymatgen SETTINGS pointing at the test-written POTCARs (Fe, Fe_pv, O only)."""
    from pymatgen.core import SETTINGS

    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    monkeypatch.setitem(SETTINGS, "PMG_VASP_PSP_DIR", str(test_potcar_root))
    return test_potcar_root
