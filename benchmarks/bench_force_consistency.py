"""Do the tip's Hellmann-Feynman forces follow the energy?  Egg-box check of the demo model (real pw.x).

Computes the demo model's slab and tip fragments once, then the p junction at two distances
one density-grid spacing apart (default 5.45 and 5.55 A), two pw.x at a time, from the
superposed fragments; prints -dE/dd against the summed z-force on the tip at both distances.
When the forces jump by much more than -dE/dd changes, the energy depends on where the atoms
sit relative to the FFT grid (egg-box effect) and F_ex = F_ap - F_p cannot be trusted.
Not in CI (~10 min per cut-off on 2 cores).  Usage::

    python benchmarks/bench_force_consistency.py --ecutrho 200 --workdir /tmp/fc-200
    python benchmarks/bench_force_consistency.py --ecutrho 320 --workdir /tmp/fc-320
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RY_PER_BOHR_TO_EV_PER_A = 13.605693123 / 0.529177210903


def main() -> None:
    from tipsurf.cli.demo import load_demo_model
    from tipsurf.engines.presets import load_preset, merge_preset
    from tipsurf.engines.qe import QEEngine
    from tipsurf.engines.qe.superpose import DensityPart, calc_save_dir
    from tipsurf.structures.junction import junction_fragment
    from tipsurf.structures.specs import spec_from_dict
    from tipsurf.workflows.scan import fragment_preset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ecutrho", type=float, default=320.0)
    parser.add_argument("--distances", default="5.45,5.55")
    parser.add_argument("--workdir", type=Path, default=Path("bench-force-consistency"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    model = load_demo_model()
    d_max = max(model["distances_A"])
    preset = merge_preset(load_preset(model["preset"], "qe"), {"ecutrho_Ry": args.ecutrho})
    engine, work = QEEngine(), args.workdir.resolve()

    def build(d: float):
        return spec_from_dict({**model["junction"], "distance_A": d, "config": "p", "scan_d_max_A": d_max}).build()

    def run(folder: Path):
        return engine.run(folder)

    far = build(d_max)
    for role in ("surface", "tip"):
        engine.write_inputs(junction_fragment(far, role), fragment_preset(preset), work / role)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, [work / "surface", work / "tip"]))
    distances = [float(x) for x in args.distances.split(",")]
    for d in distances:
        parts = [DensityPart(calc_save_dir(work / "surface")), DensityPart(calc_save_dir(work / "tip"), d - d_max)]
        engine.write_inputs(build(d), preset, work / f"d{d:.3f}", start_density=parts)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, [work / f"d{d:.3f}" for d in distances]))
    rows = []
    for d, rec in zip(distances, results):
        tip = rec.metadata["tip_indices"]
        rows.append({"d_A": d, "energy_eV": rec.energy_eV, "n_scf": rec.n_scf,
                     "tip_Fz_eV_per_A": sum(rec.forces_eV_per_A[i][2] for i in tip)})
    (d1, d2), (e1, e2) = distances[:2], (rows[0]["energy_eV"], rows[1]["energy_eV"])
    print(json.dumps({"ecutrho_Ry": args.ecutrho, "points": rows, "minus_dE_dd_eV_per_A": -(e2 - e1) / (d2 - d1),
                      "tip_Fz_jump_eV_per_A": rows[1]["tip_Fz_eV_per_A"] - rows[0]["tip_Fz_eV_per_A"]}, indent=1))


if __name__ == "__main__":
    main()
