"""The numba kernel of the Bader weight method: one sweep over the grid in order of decreasing density.

The method and its units are described in :mod:`tipsurf.analysis.bader`, which prepares the
inputs (density order, Voronoi neighbours and flux weights) and turns the basin sums into
per-atom charges, moments and volumes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["weight_sweep"]


@njit(cache=True)
def _grow_2d_int(a: np.ndarray, new_rows: int) -> np.ndarray:
    out = np.zeros((new_rows, a.shape[1]), dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def _grow_2d_float(a: np.ndarray, new_rows: int) -> np.ndarray:
    out = np.zeros((new_rows, a.shape[1]), dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def _grow_1d_int(a: np.ndarray, new_size: int) -> np.ndarray:
    out = np.zeros(new_size, dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def _add_weight(basins: np.ndarray, weights: np.ndarray, n: int, basin: int, weight: float) -> int:
    """Add ``weight`` to ``basin`` among the first ``n`` entries (appended if new); the new count."""
    for q in range(n):
        if basins[q] == basin:
            weights[q] += weight
            return n
    basins[n] = basin
    weights[n] = weight
    return n + 1


@njit(cache=True)
def weight_sweep(rho, order, n1, n2, n3, offsets, alpha, fields, vac_threshold, cap, prune):  # pragma: no cover - numba
    """Yu–Trinkle sweep over the grid points in order of decreasing partition density.

    Parameters
    ----------
    rho
        Partition density, flattened (n1·n2·n3).
    order
        Flat indices by decreasing ``rho``.
    n1, n2, n3
        Grid shape.
    offsets, alpha
        Integer offsets of the Voronoi neighbours and their flux factors A_j/|R_j|.
    fields
        (n_fields, n_points) densities whose basin sums are wanted (charge, spin, volume).
    vac_threshold
        Points with ``rho`` below it go to the vacuum.
    cap, prune
        Most basins one boundary point may share, and the weight below which a share is dropped.

    Returns
    -------
    tuple
        Basin sums (k, n_fields), basin maxima (flat index), vacuum sums and the number of
        boundary points.
    """
    npts = rho.shape[0]
    nf = fields.shape[0]
    nnb = offsets.shape[0]
    label = np.full(npts, -1, dtype=np.int64)  # -1 unvisited, -2 vacuum, >=0 basin, <=-3 boundary row
    bnd_b = np.zeros((1024, cap), dtype=np.int64)
    bnd_w = np.zeros((1024, cap), dtype=np.float64)
    bnd_n = np.zeros(1024, dtype=np.int64)
    n_bnd = 0
    sums = np.zeros((64, nf), dtype=np.float64)
    maxima = np.zeros(64, dtype=np.int64)
    n_basins = 0
    vac = np.zeros(nf, dtype=np.float64)
    tmp_b = np.zeros(cap * nnb + 1, dtype=np.int64)
    tmp_w = np.zeros(cap * nnb + 1, dtype=np.float64)
    t = np.zeros(nnb, dtype=np.float64)
    nbr = np.zeros(nnb, dtype=np.int64)
    for r in range(npts):
        i = order[r]
        rho_i = rho[i]
        if rho_i < vac_threshold:
            label[i] = -2
            for f in range(nf):
                vac[f] += fields[f, i]
            continue
        c = i % n3
        b = (i // n3) % n2
        a = i // (n2 * n3)
        nvis = 0
        tsum = 0.0
        for m in range(nnb):
            aa = (a + offsets[m, 0]) % n1
            bb = (b + offsets[m, 1]) % n2
            cc = (c + offsets[m, 2]) % n3
            j = (aa * n2 + bb) * n3 + cc
            lj = label[j]
            if lj == -1 or lj == -2:
                continue
            tj = alpha[m] * (rho[j] - rho_i)
            if tj < 0.0:
                tj = 0.0
            nbr[nvis] = j
            t[nvis] = tj
            tsum += tj
            nvis += 1
        if nvis == 0:  # a new maximum
            if n_basins == sums.shape[0]:
                sums = _grow_2d_float(sums, 2 * n_basins)
                maxima = _grow_1d_int(maxima, 2 * n_basins)
            maxima[n_basins] = i
            label[i] = n_basins
            for f in range(nf):
                sums[n_basins, f] += fields[f, i]
            n_basins += 1
            continue
        if tsum <= 0.0:  # plateau: share equally among visited neighbours
            for m in range(nvis):
                t[m] = 1.0
            tsum = float(nvis)
        ntmp = 0
        for m in range(nvis):
            w = t[m] / tsum
            if w == 0.0:
                continue
            lj = label[nbr[m]]
            if lj >= 0:
                ntmp = _add_weight(tmp_b, tmp_w, ntmp, lj, w)
            else:
                row = -3 - lj
                for e in range(bnd_n[row]):
                    ntmp = _add_weight(tmp_b, tmp_w, ntmp, bnd_b[row, e], w * bnd_w[row, e])
        # prune negligible weights, keep at most `cap` entries, renormalise
        kept = 0
        for q in range(ntmp):
            if tmp_w[q] > prune:
                tmp_b[kept] = tmp_b[q]
                tmp_w[kept] = tmp_w[q]
                kept += 1
        if kept == 0:  # all tiny (cannot happen with a normalised sum, but stay safe)
            best = 0
            for q in range(ntmp):
                if tmp_w[q] > tmp_w[best]:
                    best = q
            tmp_b[0] = tmp_b[best]
            tmp_w[0] = 1.0
            kept = 1
        while kept > cap:  # drop the smallest
            small = 0
            for q in range(kept):
                if tmp_w[q] < tmp_w[small]:
                    small = q
            tmp_b[small] = tmp_b[kept - 1]
            tmp_w[small] = tmp_w[kept - 1]
            kept -= 1
        wsum = 0.0
        for q in range(kept):
            wsum += tmp_w[q]
        if kept == 1:
            label[i] = tmp_b[0]
            for f in range(nf):
                sums[tmp_b[0], f] += fields[f, i]
            continue
        if n_bnd == bnd_n.shape[0]:
            bnd_b = _grow_2d_int(bnd_b, 2 * n_bnd)
            bnd_w = _grow_2d_float(bnd_w, 2 * n_bnd)
            bnd_n = _grow_1d_int(bnd_n, 2 * n_bnd)
        for q in range(kept):
            w = tmp_w[q] / wsum
            bnd_b[n_bnd, q] = tmp_b[q]
            bnd_w[n_bnd, q] = w
            for f in range(nf):
                sums[tmp_b[q], f] += w * fields[f, i]
        bnd_n[n_bnd] = kept
        label[i] = -3 - n_bnd
        n_bnd += 1
    return sums[:n_basins], maxima[:n_basins], vac, n_bnd
