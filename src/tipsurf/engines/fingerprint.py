"""Deterministic fingerprints of calculations.

Two calculations with the same structure, magnetic configuration, code, parameters and
pseudopotential checksums get the same fingerprint, so resubmitting a campaign adds no work.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
from ase import Atoms

_DECIMALS_A = 6
_DECIMALS_MUB = 4


def _canonical(obj: Any) -> Any:
    """Turn numpy types into Python ones and round floats so the JSON is stable."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _canonical(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return round(float(obj), 8)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def structure_payload(atoms: Atoms) -> dict[str, Any]:
    """What of an Atoms object determines a calculation: species, positions, cell, moments, fixes."""
    fixed: list[int] = []
    for constraint in atoms.constraints:
        fixed.extend(int(i) for i in getattr(constraint, "index", []))
    return {
        "symbols": atoms.get_chemical_symbols(),
        "positions_A": np.round(atoms.get_positions(), _DECIMALS_A).tolist(),
        "cell_A": np.round(np.asarray(atoms.get_cell()), _DECIMALS_A).tolist(),
        "pbc": [bool(p) for p in atoms.get_pbc()],
        "magmoms_muB": np.round(atoms.get_initial_magnetic_moments(), _DECIMALS_MUB).tolist(),
        "fixed": sorted(set(fixed)),
    }


def fingerprint(atoms: Atoms, code: str, parameters: dict[str, Any], pseudo_md5: dict[str, str]) -> str:
    """Return a 24-hex-digit fingerprint of a calculation.

    Parameters
    ----------
    atoms
        The structure with initial magnetic moments and constraints.
    code
        ``"qe"`` or ``"vasp"``.
    parameters
        Every code parameter that changes the result (preset after overrides).  Keys that only
        steer execution (commands, walltime, restart sources) must be left out by the caller.
    pseudo_md5
        ``{element: md5}`` of the pseudopotentials / POTCARs.
    """
    payload = {
        "structure": structure_payload(atoms),
        "code": code,
        "parameters": parameters,
        "pseudo_md5": pseudo_md5,
    }
    blob = json.dumps(_canonical(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:24]
