"""Builders of synthetic scan records for the analysis tests (energies from analytic laws)."""

from __future__ import annotations

import math
from typing import Any


def scan_record(d: float, config: str, energy: float | None, tip_force: float, *, site: str = "top", tip: str = "Fe",
                surface: str = "Mn/W(110)", apex_moment: float = 3.0, ref_moment: float = 3.5,
                converged: bool = True, tip_layers: str = "9-4-1") -> dict[str, Any]:
    """A CalcResult.as_dict()-shaped record of a 2-atom tip over a 2-atom surface.

    Atoms: 0 = surface reference Mn, 1 = other surface atom, 2 = tip base, 3 = apex.
    The tip z-force is split over the two tip atoms; the surface carries the reaction force.
    """
    apex = apex_moment if config == "p" else -apex_moment
    return {
        "code": "qe",
        "energy_eV": energy,
        "forces_eV_per_A": [[0.0, 0.0, -tip_force], [0.1, 0.0, 0.3], [0.0, 0.2, 0.25 * tip_force], [0.0, 0.0, 0.75 * tip_force]],
        "magmoms_muB": [ref_moment, -ref_moment, 2.5, apex],
        "converged": converged,
        "fingerprint": f"{surface}-{site}-{tip}-{d:.3f}-{config}",
        "metadata": {"site": site, "site_index": 0, "distance_A": d, "config": config, "apex_index": 3,
                     "tip_indices": [2, 3], "reference_indices": [0], "surface": surface, "tip": tip,
                     "tip_layers": tip_layers},
    }


def analytic_scan(distances: list[float], J0: float = 2.0, lam: float = 0.6, **kw: Any) -> list[dict[str, Any]]:
    """p/ap records with E_p = Morse-like background, E_ap = E_p + J0 exp(-d/lam); F = -dE/dd."""
    out = []
    for d in distances:
        e_bg = 0.5 * (math.exp(-2 * (d - 3.0)) - 2 * math.exp(-(d - 3.0)))
        f_bg = -0.5 * (-2 * math.exp(-2 * (d - 3.0)) + 2 * math.exp(-(d - 3.0)))
        e_ex = J0 * math.exp(-d / lam)
        f_ex = J0 / lam * math.exp(-d / lam)
        out.append(scan_record(d, "p", -100.0 + e_bg, f_bg, **kw))
        out.append(scan_record(d, "ap", -100.0 + e_bg + e_ex, f_bg + f_ex, **kw))
    return out
