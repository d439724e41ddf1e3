"""PNG plots of analysis results (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tipsurf.atomic import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def plot_exchange(table: dict[str, Any], path: str | Path) -> Path:
    """Two panels against Δd: E_ex (meV) and F_ex (eV/Å), one line per (surface, site, tip).

    ``table`` is :meth:`ExchangeTable.as_dict` output; only valid points are drawn, and the
    finite-difference −dE_ex/dd is overlaid as open markers.
    """
    plt = _pyplot()
    fig, (ax_e, ax_f) = plt.subplots(2, 1, sharex=True, figsize=(5.5, 6.5))
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in table["rows"]:
        if row["valid"]:
            groups.setdefault((row["surface"], row["site"], row["tip"]), []).append(row)
    markers = "osD^v<>ph"
    for i, (key, rows) in enumerate(sorted(groups.items())):
        rows = sorted(rows, key=lambda r: r["d_A"])
        dd = [r["delta_d_A"] for r in rows]
        label = f"{key[2]} tip, {key[1]}"
        line, = ax_e.plot(dd, [r["E_ex_meV"] for r in rows], marker=markers[i % len(markers)], label=label)
        fx = [(r["delta_d_A"], r["F_ex_eV_per_A"]) for r in rows if r["F_ex_eV_per_A"] is not None]
        if fx:
            ax_f.plot(*zip(*fx), marker=markers[i % len(markers)], color=line.get_color(), label=label)
        fd = [(r["delta_d_A"], r["F_ex_fd_eV_per_A"]) for r in rows if r["F_ex_fd_eV_per_A"] is not None]
        if fd:
            ax_f.plot(*zip(*fd), linestyle="none", marker=markers[i % len(markers)], mfc="none",
                      color=line.get_color(), alpha=0.6)
    for ax in (ax_e, ax_f):
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.grid(alpha=0.3)
    ax_e.set_ylabel(r"$E_{ex} = E_{ap} - E_p$ (meV)")
    ax_f.set_ylabel(r"$F_{ex} = F_{ap} - F_p$ (eV/Å)")
    ax_f.set_xlabel(f"Δd = d − {table.get('d0_A', 5.0):g} Å (Å)")
    if groups:
        ax_e.legend(fontsize=8)
    ax_f.set_title("open markers: −dE_ex/dd (finite differences)", fontsize=8)
    return _save(fig, path)


def plot_gibbs(lines: Any, path: str | Path, pressure_Pa: float, dmu_range_eV: tuple[float, float] | None = None,
               marked_dmu_eV: float | None = None, temperature_ticks_K: Sequence[float] = (1, 10, 50, 100, 200, 300, 500, 1000),
               source: str = "auto") -> Path:
    """ΔG(x) lines against Δμ_H with a secondary temperature axis at pressure ``pressure_Pa``.

    ``lines`` is a :class:`tipsurf.analysis.gibbs.GibbsLines`.
    """
    from tipsurf.analysis.thermo import delta_mu_H

    plt = _pyplot()
    transitions = [t["delta_mu_H_eV"] for t in lines.transitions()]
    if dmu_range_eV is None:
        pts = transitions + ([marked_dmu_eV] if marked_dmu_eV is not None else []) + [0.0]
        lo, hi = min(pts) - 0.5, max(pts) + 0.5
    else:
        lo, hi = dmu_range_eV
    mu = np.linspace(lo, hi, 200)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for s, x, o in zip(lines.species, lines.x, lines.offset_eV):
        ax.plot(mu, o - x * mu, label=s)
    ax.plot(mu, [min(o - x * m for x, o in zip(lines.x, lines.offset_eV)) for m in mu], color="k", lw=2.5, alpha=0.25)
    for t in transitions:
        ax.axvline(t, color="0.6", ls=":", lw=0.8)
    if marked_dmu_eV is not None:
        ax.axvline(marked_dmu_eV, color="r", lw=1.0, label="Δμ_H(T, p)")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("Δμ_H (eV)")
    ax.set_ylabel("ΔG (eV)")
    if lines.label:
        ax.set_title(lines.label, fontsize=9)
    ax.legend(fontsize=8)
    ticks = [(T, delta_mu_H(T, pressure_Pa, source)) for T in temperature_ticks_K]
    kept: list[tuple[float, float]] = []
    for T, m in sorted(ticks, key=lambda t: -t[0]):  # keep high T first, drop crowded low-T ticks
        if lo <= m <= hi and all(abs(m - k) > 0.04 * (hi - lo) for _, k in kept):
            kept.append((T, m))
    ticks = kept
    top = ax.twiny()
    top.set_xlim(lo, hi)
    top.set_xticks([m for _, m in ticks])
    top.set_xticklabels([f"{T:g}" for T, _ in ticks], fontsize=8)
    top.set_xlabel(f"T (K) at p = {pressure_Pa:g} Pa")
    return _save(fig, path)


def plot_esr_map(result: dict[str, Any], path: str | Path, slice_mask: np.ndarray | None = None) -> Path:
    """f0(x, y) map (GHz) with the resonant slice outlined."""
    plt = _pyplot()
    x, y, f0 = result["x_A"], result["y_A"], result["f0_GHz"]
    fig, ax = plt.subplots(figsize=(5, 4.3))
    im = ax.pcolormesh(x, y, f0, shading="auto", cmap="viridis")
    fig.colorbar(im, ax=ax, label="f0 (GHz)")
    if slice_mask is not None and slice_mask.any():
        ax.contourf(x, y, slice_mask.astype(float), levels=[0.5, 1.5], colors="white", alpha=0.6)
    ax.set_aspect("equal")
    ax.set_xlabel("x (Å)")
    ax.set_ylabel("y (Å)")
    ax.set_title(f"{result['model']['mode']} tip field, z = {result['height_A']:g} Å", fontsize=9)
    return _save(fig, path)
