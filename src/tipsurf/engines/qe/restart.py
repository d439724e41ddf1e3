"""Whether a calculation can start from another one's converged density, and how.

:func:`plan_restart` decides: the same cell (copy the density), a junction whose cell height
changed with the tip-surface distance (move the density across the gap,
:mod:`tipsurf.engines.qe.gvectors`), or a cold start with the reason.  Carrying the plan out
is :func:`tipsurf.engines.qe.starts.prepare_restart`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from tipsurf.engines.qe.gvectors import CELL_TOLERANCE_A, check_cells
from tipsurf.errors import InputError

__all__ = ["POSITION_TOLERANCE_A", "RESTART_METHODS", "RestartPlan", "plan_restart"]

#: How a calculation was started: no restart, plain copy, shifted density, cold start instead.
RESTART_METHODS: tuple[str, ...] = ("none", "copy", "shifted", "cold-fallback")
#: Atom positions must follow the split-and-shift rule within this length (Angstrom).
POSITION_TOLERANCE_A = 1e-3


@dataclass(frozen=True)
class RestartPlan:
    """How to start a calculation from another one.

    Attributes
    ----------
    method
        One of :data:`RESTART_METHODS` (``copy``, ``shifted`` or ``cold-fallback`` here).
    z_split_A
        Plane above which the density moves (``shifted`` only), Angstrom.
    delta_z_A
        Change of the cell height and shift of the upper part (``shifted`` only), Angstrom.
    note
        Why this method was chosen (empty for a plain copy of the same cell).
    """

    method: str
    z_split_A: float | None = None
    delta_z_A: float | None = None
    note: str = ""


def _positions_follow_shift(old: Atoms, new: Atoms, z_split_A: float, delta_A: float) -> bool:
    """Atoms below the split plane stay, atoms above move up by delta (fractional x, y unchanged)."""
    if len(old) != len(new) or old.get_chemical_symbols() != new.get_chemical_symbols():
        return False
    c_old_A = float(old.cell[2, 2])
    z_old = np.mod(old.positions[:, 2], c_old_A)
    expected = old.positions.copy()
    expected[:, 2] = np.where(z_old < z_split_A, z_old, z_old + delta_A)
    diff = new.positions - expected
    diff[:, 2] -= np.round(diff[:, 2] / float(new.cell[2, 2])) * float(new.cell[2, 2])
    frac = np.linalg.solve(new.cell.array.T, diff.T).T
    frac[:, :2] -= np.round(frac[:, :2])
    return bool(np.abs(frac @ new.cell.array).max() < POSITION_TOLERANCE_A)


def plan_restart(old_atoms: Atoms | None, old_metadata: dict[str, Any], new_atoms: Atoms) -> RestartPlan:
    """Choose how to start ``new_atoms`` from a converged calculation of ``old_atoms``.

    * same cell (within 1e-6 Å) → ``copy`` (reuse the density file);
    * unknown old structure → ``cold-fallback``: a density of another cell would arrive
      scrambled (pw.x reads it against its own G list);
    * only the cell height differs, both are junctions (``distance_A`` and
      ``reference_indices`` in the metadata), Δc = d_new − d_old and the atoms follow the
      split-and-shift rule → ``shifted`` at z_split = mean z of the reference atoms + d_old/2;
    * anything else → ``cold-fallback`` (``startingpot='atomic'``) with a note.

    Parameters
    ----------
    old_atoms
        Structure of the old calculation (None if unknown).
    old_metadata
        ``info`` metadata of the old calculation.
    new_atoms
        The structure to compute, with its ``info``.

    Returns
    -------
    RestartPlan
    """
    if old_atoms is None:
        return RestartPlan("cold-fallback", note="structure of the source calculation unknown: its density may belong to another cell")
    old_cell, new_cell = old_atoms.cell.array, new_atoms.cell.array
    if np.abs(old_cell - new_cell).max() <= CELL_TOLERANCE_A:
        return RestartPlan("copy")
    new_meta = dict(new_atoms.info)
    keys = ("distance_A", "reference_indices")
    if not all(k in old_metadata for k in keys) or not all(k in new_meta for k in keys):
        return RestartPlan("cold-fallback", note="cell differs and the structures are not tip-surface junctions")
    if np.abs(old_cell[:2] - new_cell[:2]).max() > CELL_TOLERANCE_A:
        return RestartPlan("cold-fallback", note="in-plane cell differs from the source calculation")
    try:
        check_cells(np.asarray(old_cell, float), np.asarray(new_cell, float))
    except InputError as err:
        return RestartPlan("cold-fallback", note=str(err))
    d_old_A, d_new_A = float(old_metadata["distance_A"]), float(new_meta["distance_A"])
    delta_A = float(new_cell[2, 2] - old_cell[2, 2])
    if abs(delta_A - (d_new_A - d_old_A)) > POSITION_TOLERANCE_A:
        return RestartPlan(
            "cold-fallback",
            note=f"cell height changes by {delta_A:.4f} A but the distance by {d_new_A - d_old_A:.4f} A",
        )
    refs = [int(i) for i in old_metadata["reference_indices"]]
    z_ref_A = float(np.mean(old_atoms.positions[refs, 2]))
    z_split_A = float(np.mod(z_ref_A + 0.5 * d_old_A, old_cell[2, 2]))
    if not _positions_follow_shift(old_atoms, new_atoms, z_split_A, delta_A):
        return RestartPlan("cold-fallback", note="atoms do not follow a rigid shift of the tip side; cannot map the density")
    return RestartPlan(
        "shifted",
        z_split_A=z_split_A,
        delta_z_A=delta_A,
        note=f"density above z = {z_split_A:.3f} A moved by {delta_A:+.3f} A (d {d_old_A:g} -> {d_new_A:g} A)",
    )
