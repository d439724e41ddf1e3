"""Do the tip's Hellmann-Feynman forces follow the energy?  Egg-box and k-point check of the demo model (real pw.x).

Computes the demo model's slab and tip fragments once, then the junction at two distances
one density-grid spacing apart (default 5.45 and 5.55 A) in each configuration asked for,
two pw.x at a time, from the superposed fragments (the ap tip with its magnetisation
flipped); prints -dE/dd against the summed z-force on the tip per configuration and, with
p and ap, E_ex = E_ap - E_p and F_ex = F_ap - F_p at both distances against -dE_ex/dd.
When the forces jump by much more than -dE/dd changes, the energy depends on where the atoms
sit relative to the FFT grid (egg-box effect); when E_ex changes with the k-mesh, the mesh is
too coarse for the exchange.  Not in CI (~10 min per cut-off and configuration at 2 k-points,
~3.4x that at 4x4).  Usage::

    python benchmarks/bench_force_consistency.py --ecutrho 200 --workdir /tmp/fc-200
    python benchmarks/bench_force_consistency.py --ecutrho 320 --workdir /tmp/fc-320
    python benchmarks/bench_force_consistency.py --configs p,ap --kmesh 4 4 --workdir /tmp/fc-k44
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
    parser.add_argument("--configs", default="p", help="p, ap or p,ap (E_ex and F_ex)")
    parser.add_argument("--kmesh", type=int, nargs=2, default=None, metavar=("KX", "KY"),
                        help="shifted in-plane Monkhorst-Pack mesh instead of the demo preset's")
    parser.add_argument("--workdir", type=Path, default=Path("bench-force-consistency"))
    args = parser.parse_args()
    configs = [c for c in args.configs.split(",") if c in ("p", "ap")]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    model = load_demo_model()
    d_max = max(model["distances_A"])
    overrides: dict = {"ecutrho_Ry": args.ecutrho}
    if args.kmesh:
        overrides["kpoints"] = {"mesh": [*args.kmesh, 1], "gamma_centred": False}
    preset = merge_preset(load_preset(model["preset"], "qe"), overrides)
    engine, work = QEEngine(), args.workdir.resolve()

    def build(d: float, config: str = "p"):
        return spec_from_dict({**model["junction"], "distance_A": d, "config": config, "scan_d_max_A": d_max}).build()

    def run(folder: Path):
        return engine.run(folder)

    far = build(d_max)
    for role in ("surface", "tip"):
        engine.write_inputs(junction_fragment(far, role), fragment_preset(preset), work / role)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, [work / "surface", work / "tip"]))
    distances = [float(x) for x in args.distances.split(",")][:2]
    jobs = [(c, d) for c in configs for d in distances]
    for c, d in jobs:
        parts = [DensityPart(calc_save_dir(work / "surface")),
                 DensityPart(calc_save_dir(work / "tip"), d - d_max, 1.0, c == "ap")]
        engine.write_inputs(build(d, c), preset, work / f"{c}-d{d:.3f}", start_density=parts)
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(jobs, pool.map(run, [work / f"{c}-d{d:.3f}" for c, d in jobs])))
    out: dict = {"ecutrho_Ry": args.ecutrho, "kpoints": preset["kpoints"], "configs": {}}
    for c in configs:
        rows = []
        for d in distances:
            rec = results[(c, d)]
            tip = rec.metadata["tip_indices"]
            rows.append({"d_A": d, "energy_eV": rec.energy_eV, "n_scf": rec.n_scf,
                         "tip_Fz_eV_per_A": sum(rec.forces_eV_per_A[i][2] for i in tip)})
        (d1, d2), (e1, e2) = distances, (rows[0]["energy_eV"], rows[1]["energy_eV"])
        out["configs"][c] = {"points": rows, "minus_dE_dd_eV_per_A": -(e2 - e1) / (d2 - d1),
                             "tip_Fz_jump_eV_per_A": rows[1]["tip_Fz_eV_per_A"] - rows[0]["tip_Fz_eV_per_A"]}
    if set(configs) == {"p", "ap"}:
        p, ap = out["configs"]["p"]["points"], out["configs"]["ap"]["points"]
        e_ex = [1000.0 * (a["energy_eV"] - b["energy_eV"]) for a, b in zip(ap, p)]
        out["exchange"] = {"d_A": distances, "E_ex_meV": e_ex,
                           "F_ex_eV_per_A": [a["tip_Fz_eV_per_A"] - b["tip_Fz_eV_per_A"] for a, b in zip(ap, p)],
                           "minus_dE_ex_dd_eV_per_A": -(e_ex[1] - e_ex[0]) / 1000.0 / (distances[1] - distances[0])}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
