"""Measuring how good a pw.x start was, shared by the warm-start tests."""

from __future__ import annotations

from pathlib import Path

KNOWN_GENERATED_WARM_START = (
    "measured 2026-12-01 with tipsurf's generated pseudopotentials: a neighbour's converged density starts these toys "
    "WORSE than atomic densities (first SCF error 2.2 vs 0.19 Ry FeCo, 2.7 vs 2.0 Ry Mn/Fe; 16 vs 15, 14 vs 10 "
    "iterations), not so with GBRV: an open defect of the generated set's starts"
)


def first_scf_error_Ry(folder: Path) -> float:
    """The estimated SCF accuracy after pw.x's first iteration (how good its starting density was)."""
    from tipsurf.engines.qe.outputs import scf_errors_Ry

    return scf_errors_Ry((folder / "pw.out").read_text())[0]
