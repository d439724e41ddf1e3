"""Benchmark: tipsurf's Bader weight method against pybader's near-grid method.

Test density: two overlapping periodic Gaussians of different weight and width on a line
along x (the asymmetric case of tests/analysis/test_bader.py), whose exact Bader charge and
moment are known from steepest-ascent integration of the axisymmetric density (independent
of any grid).  Both codes partition the same charge grid and integrate the same spin grid
over the charge basins; both run single-threaded.

Usage::

    python benchmarks/bench_bader.py            # ~100³ and ~200³
    python benchmarks/bench_bader.py --small    # quick check (60×90×90)

Needs the optional ``pybader`` (``pip install pybader``); without it only tipsurf is timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.analysis.test_bader import _AxisymmetricPair  # noqa: E402  (exact reference)
from tipsurf.analysis.bader import bader_analysis  # noqa: E402
from tipsurf.analysis.volumetric import VolumetricGrid, periodic_gaussian_density  # noqa: E402

PERIOD, SIDE = 8.0, 12.0
XS = np.array([2.0, 6.0])
Q, SQ = np.array([8.0, 4.0]), np.array([1.0, 0.8])
M, SM = np.array([3.0, -2.0]), np.array([0.6, 1.0])


def build(shape: tuple[int, int, int]) -> VolumetricGrid:
    """The two-Gaussian test grid."""
    cell = np.diag([PERIOD, SIDE, SIDE])
    centres = np.array([[XS[0], SIDE / 2, SIDE / 2], [XS[1], SIDE / 2, SIDE / 2]])
    return VolumetricGrid(["Fe", "Co"], centres, cell,
                          periodic_gaussian_density(cell, shape, centres, Q, SQ),
                          periodic_gaussian_density(cell, shape, centres, M, SM))


def run_tipsurf(grid: VolumetricGrid) -> tuple[np.ndarray, np.ndarray]:
    res = bader_analysis(grid, vacuum_threshold_e_per_bohr3=None)
    return res.charge_e, res.moment_muB


def run_pybader(grid: VolumetricGrid) -> tuple[np.ndarray, np.ndarray]:
    import contextlib
    import io

    from pybader.interface import Bader

    # pybader sums density × voxel volume, so it is given densities per Å³ here.
    bader = Bader({"charge": grid.total_e_per_A3, "spin": grid.spin_muB_per_A3},
                  grid.cell_A, grid.positions_A,
                  {"filename": "bench", "file_type": "none", "prefix": "", "voxel_offset": np.zeros(3), "write": None},
                  method="neargrid", refine_method="neargrid", output="none", threads=1, spin_flag=True)
    with contextlib.redirect_stdout(io.StringIO()):
        bader()
    return np.asarray(bader.atoms_charge), np.asarray(bader.atoms_spin)


def timed(fn, grid: VolumetricGrid, repeats: int) -> tuple[float, float, tuple[np.ndarray, np.ndarray]]:
    t0 = time.perf_counter()
    out = fn(grid)  # warm-up (JIT compile or cache load)
    warm = time.perf_counter() - t0
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(grid)
        best = min(best, time.perf_counter() - t0)
    return warm, best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="one small grid only")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shapes = [(60, 90, 90)] if args.small else [(80, 120, 120), (160, 240, 240)]
    ref = _AxisymmetricPair(PERIOD, XS, Q, SQ)
    qa, ma = ref.basin_integral_a(Q, SQ), ref.basin_integral_a(M, SM)
    exact_q, exact_m = np.array([qa, Q.sum() - qa]), np.array([ma, M.sum() - ma])
    print(f"exact Bader charges {exact_q.round(6)} e, moments {exact_m.round(6)} muB")
    methods = [("tipsurf weight", run_tipsurf)]
    try:
        import pybader  # noqa: F401

        methods.append(("pybader near-grid", run_pybader))
    except ImportError:
        print("pybader not installed: timing tipsurf only (pip install pybader)")
    header = f"{'grid':>14s} {'points':>9s}  {'method':<18s} {'warm-up s':>9s} {'best s':>8s} {'max dq e':>10s} {'max dm muB':>10s}"
    print(header)
    print("-" * len(header))
    for shape in shapes:
        grid = build(shape)
        for name, fn in methods:
            warm, best, (q, m) = timed(fn, grid, args.repeats if np.prod(shape) < 4e6 else max(1, args.repeats - 1))
            dq = np.abs(q - exact_q).max()
            dm = np.abs(m - exact_m).max()
            label = "x".join(map(str, shape))
            print(f"{label:>14s} {int(np.prod(shape)):>9d}  {name:<18s} {warm:9.2f} {best:8.2f} {dq:10.2e} {dm:10.2e}", flush=True)


if __name__ == "__main__":
    main()
