"""Fixtures of the workflow tests (helpers live in wf_helpers.py: conftest modules share one name)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wf_helpers import require_pw


@pytest.fixture
def pseudo_env(pseudo_provider, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - conftest.PseudoSet
    """Pseudopotentials for the tiny Mn/W(110) scan models; needs pw.x for the version banner.

    ../shared/pseudo (GBRV) as TIPSURF_PSEUDO_DIR when present, else no TIPSURF_PSEUDO_DIR and
    tipsurf's ld1.x set in this test's cache (the engine's zero-configuration path).
    """
    require_pw()
    chosen = pseudo_provider.usable(Path(os.environ["TIPSURF_CACHE_DIR"]))
    chosen.apply_env(monkeypatch)
    return chosen


@pytest.fixture
def pseudo_library_env(pseudo_provider, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - conftest.PseudoSet
    """An explicit TIPSURF_PSEUDO_DIR covering every preset element, Ag included (without
    ../shared: tipsurf's generated set, Ag included); pass ``.preset_overrides()`` to the
    campaign.  Needs pw.x for the banner."""
    require_pw()
    chosen = pseudo_provider.library()
    chosen.apply_env(monkeypatch)
    return chosen
