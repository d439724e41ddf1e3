"""Is a scan's E_ex(d) physics?  Decay, decay length, F_ex against −dE_ex/dd, sign against a reference.

A p/ap distance scan is only worth fitting if its exchange energy decays to zero with
distance, decays on an electronic length scale (about an Ångström), and its exchange force —
computed independently by the code (Hellmann–Feynman) — is the derivative of its exchange
energy.  :func:`assess_exchange_scan` measures all three on the valid rows of one
(surface, site, tip) group of an exchange table and states the sign it finds next to the
regime of a reference study.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

#: |E_ex(farthest)| / |E_ex(nearest)| at most this: the exchange has decayed.
MAX_FAR_NEAR_RATIO = 0.25
#: Largest decay length (Å) of the exponential fit of |E_ex(d)| that is electronic.
MAX_DECAY_LENGTH_A = 1.5
#: F_ex agrees with −dE_ex/dd within max(relative, absolute) at interior distances.
FD_RELATIVE_TOL = 0.30
FD_ABSOLUTE_TOL_EV_PER_A = 0.01

SIGNS = ("ferromagnetic", "antiferromagnetic")


def coupling_sign(energies_eV: Sequence[float]) -> str:
    """``ferromagnetic`` (all E_ex > 0: p favoured), ``antiferromagnetic`` (all < 0) or ``mixed``."""
    values = np.asarray(energies_eV, dtype=float)
    if values.size and np.all(values > 0):
        return "ferromagnetic"
    if values.size and np.all(values < 0):
        return "antiferromagnetic"
    return "mixed"


def decay_length_A(d_A: Sequence[float], energies_eV: Sequence[float]) -> float | None:
    """λ of the least-squares fit ln|E_ex| = a − d/λ (None for < 2 nonzero points or no decay)."""
    d = np.asarray(d_A, dtype=float)
    e = np.abs(np.asarray(energies_eV, dtype=float))
    keep = e > 0
    if keep.sum() < 2:
        return None
    slope = float(np.polyfit(d[keep], np.log(e[keep]), 1)[0])
    return None if slope >= 0 else -1.0 / slope


def assess_exchange_scan(rows: list[dict[str, Any]], reference: dict[str, str] | None = None) -> dict[str, Any]:
    """Decay, decay length, force/energy consistency and sign of one group's valid rows.

    Parameters
    ----------
    rows
        Exchange-table rows of one (surface, site, tip) group (``d_A``, ``E_ex_eV``,
        ``F_ex_eV_per_A``, ``F_ex_fd_eV_per_A``, ``valid``).
    reference
        ``{"sign": "ferromagnetic"|"antiferromagnetic", "text": ...}``: the reference study's
        regime for this apex and site, or None.

    Returns
    -------
    dict
        ``sign``, ``far_near_ratio``, ``decays``, ``decay_length_A``, ``decay_length_ok``,
        ``force_checks`` (per interior d: F_ex, −dE/dd, tolerance, ok), ``forces_ok``,
        ``reference_sign``, ``matches_reference`` and ``lines`` (the statements, one per check).
    """
    valid = sorted((r for r in rows if r.get("valid") and r.get("E_ex_eV") is not None), key=lambda r: r["d_A"])
    out: dict[str, Any] = {"n_valid": len(valid), "lines": []}
    d = [r["d_A"] for r in valid]
    e = [r["E_ex_eV"] for r in valid]
    if len(valid) < 2:
        out["lines"].append(f"only {len(valid)} valid distance(s): no decay or force check possible")
        if valid:
            out["sign"] = coupling_sign(e)
            out.update(_reference_comparison(out["sign"], reference))
            out["lines"].append(out["reference_line"])
        return out
    out["sign"] = coupling_sign(e)
    near, far = abs(e[0]), abs(e[-1])
    out["far_near_ratio"] = far / near if near > 0 else math.inf
    out["decays"] = out["far_near_ratio"] <= MAX_FAR_NEAR_RATIO
    out["decay_length_A"] = decay_length_A(d, e)
    out["decay_length_ok"] = out["decay_length_A"] is not None and out["decay_length_A"] <= MAX_DECAY_LENGTH_A
    out["force_checks"] = [_force_check(r) for r in valid[1:-1]]
    out["forces_ok"] = all(c["ok"] for c in out["force_checks"]) if out["force_checks"] else None
    lam = out["decay_length_A"]
    out["lines"] += [
        f"|E_ex| at d = {d[-1]:.2f} A is {out['far_near_ratio']:.2f} x its value at d = {d[0]:.2f} A "
        f"({'decays' if out['decays'] else 'does NOT decay'}: limit {MAX_FAR_NEAR_RATIO})",
        f"exponential fit of |E_ex(d)|: decay length {'none (no decay)' if lam is None else f'{lam:.2f} A'} "
        f"({'ok' if out['decay_length_ok'] else 'too long'}: limit {MAX_DECAY_LENGTH_A} A)",
    ]
    for c in out["force_checks"]:
        out["lines"].append(
            f"d = {c['d_A']:.2f} A: F_ex {c['F_ex_eV_per_A']:+.4f} vs -dE_ex/dd {c['F_ex_fd_eV_per_A']:+.4f} eV/A "
            f"({'agree' if c['ok'] else 'DISAGREE'} within {c['tolerance_eV_per_A']:.4f})")
    out.update(_reference_comparison(out["sign"], reference))
    out["lines"].append(out["reference_line"])
    return out


def _force_check(row: dict[str, Any]) -> dict[str, Any]:
    f_ex, fd = row.get("F_ex_eV_per_A"), row.get("F_ex_fd_eV_per_A")
    if f_ex is None or fd is None:
        return {"d_A": row["d_A"], "F_ex_eV_per_A": f_ex, "F_ex_fd_eV_per_A": fd, "tolerance_eV_per_A": None, "ok": False}
    tol = max(FD_RELATIVE_TOL * abs(fd), FD_ABSOLUTE_TOL_EV_PER_A)
    return {"d_A": row["d_A"], "F_ex_eV_per_A": f_ex, "F_ex_fd_eV_per_A": fd, "tolerance_eV_per_A": tol,
            "ok": abs(f_ex - fd) <= tol}


def _reference_comparison(sign: str, reference: dict[str, str] | None) -> dict[str, Any]:
    found = {"ferromagnetic": "ferromagnetic (E_ex > 0) at every d", "antiferromagnetic": "antiferromagnetic (E_ex < 0) at every d",
             "mixed": "mixed (E_ex changes sign with d)"}[sign]
    if not reference:
        return {"reference_sign": None, "matches_reference": None, "reference_line": f"coupling found: {found}"}
    matches = sign == reference.get("sign")
    verdict = "matches" if matches else "does NOT match"
    return {"reference_sign": reference.get("sign"), "matches_reference": matches,
            "reference_line": f"coupling found: {found}; {verdict} the {reference.get('text', reference.get('sign'))}"}
