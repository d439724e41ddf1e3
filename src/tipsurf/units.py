"""Unit conversions shared by the stages (stage-0 utility: it imports no stage)."""

from __future__ import annotations

__all__ = ["BOHR_A", "HARTREE_EV"]

HARTREE_EV = 27.211386245988
"""One hartree in eV (CODATA 2018)."""

BOHR_A = 0.529177210903
"""One bohr in Å (CODATA 2018)."""
