"""Helpers of the workflow tests: a tiny Mn/W(110) junction model and the shared pseudos."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest


TINY_OVERRIDES: dict[str, Any] = {
    "ecutwfc_Ry": 20,
    "ecutrho_Ry": 160,
    "kpoints": {"mesh": [1, 1, 1]},
    "conv_thr_Ry": 1.0e-5,
    "conv_thr_Ry_per_atom": None,
    "degauss_Ry": 0.1,
    "dipole_correction": False,
}


def tiny_scan_kwargs() -> dict[str, Any]:
    """1-atom Fe tip over a one-sided 1-W-layer Mn/W(110) c(2x2) cell: 5 atoms, Gamma only."""
    from tipsurf.structures.specs import MnW110Spec, TipSpec

    return {
        "surface": MnW110Spec(w_layers=1, size=(1, 1), one_sided=True, vacuum_A=5.0),
        "tip": TipSpec(apex="Fe", layers=1),
        "site": "top",
        "preset": "fast",
        "preset_overrides": dict(TINY_OVERRIDES),
        "vacuum_above_tip_A": 5.0,
    }


SHARED = Path(os.environ.get("TIPSURF_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))


def require_pw() -> str:
    """Path of pw.x, or skip."""
    found = shutil.which("pw.x")
    if not found:
        pytest.skip("needs pw.x on PATH (Debian quantum-espresso)")
    return found


def generated_pseudo_cache(provider: Any, cache_dir: Path) -> Any:
    """tipsurf's ld1.x set in ``cache_dir/pseudo`` (the engine's zero-configuration path), also
    when ../shared/pseudo is present: what the adsorbate demo uses on a machine without a library.

    ``provider`` is the session's ``conftest.PseudoProvider``; returns its ``PseudoSet``.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(provider), "shared", property(lambda self: False))
        return provider.usable(cache_dir)
