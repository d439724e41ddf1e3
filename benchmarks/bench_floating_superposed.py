"""Floating tip over Mn/W(110): SCF from superposed fragment densities (real pw.x, not in CI).

Model (demo grade, 13 atoms): one-sided c(2x2) AFM Mn/W(110) in the 2x1 rectangular cell
(6.34 x 4.48 A, so the apex is 4.48 A from its nearest periodic image), ``--w-layers`` W layers
(default 1) under the Mn layer; the tip is an Fe apex under a pseudomorphic 4-atom Fe(110)
layer (its support) 2.0 A higher, apex at the bcc stacking site of that layer, floating with
8 A of vacuum between the tip's back and the slab's periodic image at the largest distance.
One cell for every distance (the slab stays where it is, the tip moves), so fragments
computed once serve every point:

* slab alone and tip alone (tip at the largest distance) in the junction's cell;
* each junction point starts from slab + tip translated to its d (ap: tip magnetisation
  negated), ``--start superposed``; or, with ``--start neighbour``, from the converged
  neighbour of the same configuration minus its tip fragment plus the tip at the new d.

Two pw.x runs at a time (the p and ap chains).  Prints iterations, first SCF error, wall time,
E_ex = E_ap - E_p and F_ex = F_ap - F_p per distance.  Usage::

    python benchmarks/bench_floating_superposed.py --workdir /tmp/bench-float --distances 6.5,5.5,4.5,4.0
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from ase import Atoms

from tipsurf.engines.presets import load_preset, merge_preset
from tipsurf.engines.qe import QEEngine
from tipsurf.engines.qe.pw_input import set_pw_parameter
from tipsurf.engines.qe.superpose import DensityPart, write_superposed_density
from tipsurf.structures.junction import build_junction
from tipsurf.structures.mn_w110 import _layer_xy, build_mn_w110

A_W = 3.17
SUPPORT_SPACING_A = 2.0
VACUUM_A = 8.0
RY_EV = 13.605693123


def supported_tip(nx: int, ny: int) -> Atoms:
    """Fe apex under a pseudomorphic Fe(110) layer of the nx x ny c(2x2) supercell."""
    layer = _layer_xy(nx, ny, A_W, A_W / 2.0)
    positions = [[0.0, 0.0, 0.0]] + [[x, y, SUPPORT_SPACING_A] for x, y in layer]
    tip = Atoms(["Fe"] * len(positions), positions=positions, pbc=True, cell=[nx * A_W, ny * A_W * np.sqrt(2), 20.0])
    tip.set_initial_magnetic_moments([3.0] * len(positions))
    tip.info.update(kind="tip", apex_index=0, tip="Fe", tip_base="Fe", tip_layers=2, a_A=A_W, tip_shape="bcc110")
    return tip


def junction(slab: Atoms, d_A: float, config: str, d_max_A: float) -> Atoms:
    """Junction in the scan's fixed cell with the slab at a fixed height."""
    atoms = build_junction(slab, supported_tip(2, 1), "top", 0, d_A, config, vacuum_above_tip_A=VACUUM_A + (d_max_A - d_A))
    atoms.positions[:, 2] += 0.5 * (d_A - d_max_A)  # undo the re-centring: slab fixed, tip moves
    return atoms


def run_pw(folder: Path) -> dict:
    """Run pw.x serially in ``folder``; iterations, first error, energy, tip Fz, wall time."""
    t0 = time.monotonic()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(folder / "pw.out", "w") as out:
        subprocess.run(["pw.x", "-in", "pw.in"], cwd=folder, stdout=out, stderr=subprocess.DEVNULL, env=env, check=False)
    text = (folder / "pw.out").read_text()
    errors = [float(x) for x in re.findall(r"estimated scf accuracy\s+<\s+(\S+)", text)]
    energy = re.findall(r"^!\s+total energy\s+=\s+(\S+)", text, re.M)
    forces = [float(m[2]) for m in re.findall(r"atom\s+\d+\s+type\s+\d+\s+force =\s+(\S+)\s+(\S+)\s+(\S+)", text)]
    return {"converged": "convergence has been achieved" in text, "iterations": len(errors),
            "first_error_Ry": errors[0] if errors else None, "energy_eV": float(energy[-1]) * RY_EV if energy else None,
            "forces_z_Ry_per_bohr": forces, "wall_s": time.monotonic() - t0}


def prepare(atoms: Atoms, preset: dict, folder: Path, parts: list[DensityPart] | None) -> Path:
    QEEngine().write_inputs(atoms, preset, folder)
    if parts:
        write_superposed_density(parts, folder / "out" / "pwscf.save")
        set_pw_parameter(folder / "pw.in", "electrons", "startingpot", "file")
        set_pw_parameter(folder / "pw.in", "electrons", "startingwfc", "atomic+random")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("bench-floating"))
    parser.add_argument("--distances", default="6.5,5.5,4.5,4.0")
    parser.add_argument("--w-layers", type=int, default=1)
    parser.add_argument("--start", choices=("superposed", "neighbour"), default="neighbour")
    parser.add_argument("--overrides", default="{}", help="JSON preset overrides, e.g. '{\"conv_thr_Ry\": 1e-9}'")
    parser.add_argument("--fragments-from", type=Path, default=None, help="reuse the slab/tip fragments of an earlier workdir")
    args = parser.parse_args()
    distances = sorted((float(x) for x in args.distances.split(",")), reverse=True)
    d_max = distances[0]
    preset = merge_preset(load_preset("fast", "qe"), {"ecutwfc_Ry": 25, "ecutrho_Ry": 200, "conv_thr_Ry": 1e-6, "electron_maxstep": 80,
                                                        **json.loads(args.overrides)})
    preset.pop("conv_thr_Ry_per_atom", None)
    slab = build_mn_w110(w_layers=args.w_layers, size=(2, 1), a_A=A_W, one_sided=True, vacuum_A=5.0, mn_w_spacing_A=2.10)
    n_slab = len(slab)
    far = junction(slab, d_max, "p", d_max)
    work = args.workdir.resolve()
    fragments = {"slab": far[:n_slab], "tip": far[n_slab:]}
    for frag in fragments.values():
        frag.info = dict(far.info)
    frag_root = args.fragments_from.resolve() if args.fragments_from else work
    if args.fragments_from:
        frag_runs = {"reused_from": str(frag_root)}
    else:
        with ThreadPoolExecutor(2) as pool:
            frag_runs = dict(zip(fragments, pool.map(lambda kv: run_pw(prepare(kv[1], preset, work / kv[0], None)), fragments.items())))
    save = {name: str(frag_root / name / "out" / "pwscf.save") for name in fragments}
    apex_z_far = float(far.positions[far.info["apex_index"], 2])

    def chain(config: str) -> list[dict]:
        rows, previous = [], None
        for d in distances:
            atoms = junction(slab, d, config, d_max)
            dz = float(atoms.positions[atoms.info["apex_index"], 2]) - apex_z_far
            flip = config == "ap"
            if args.start == "neighbour" and previous is not None:
                parts = [DensityPart(previous[1]), DensityPart(save["tip"], previous[0], -1.0, flip), DensityPart(save["tip"], dz, 1.0, flip)]
            else:
                parts = [DensityPart(save["slab"]), DensityPart(save["tip"], dz, 1.0, flip)]
            folder = prepare(atoms, preset, work / f"{config}-d{d:.3f}", parts)
            result = run_pw(folder)
            tip_fz = sum(result["forces_z_Ry_per_bohr"][n_slab:len(atoms)]) * RY_EV / 0.529177210903
            rows.append({"d_A": d, "config": config, **{k: v for k, v in result.items() if k != "forces_z_Ry_per_bohr"}, "tip_Fz_eV_per_A": tip_fz})
            previous = (dz, str(folder / "out" / "pwscf.save"))
            print(json.dumps(rows[-1]), flush=True)
        return rows

    with ThreadPoolExecutor(2) as pool:
        p_rows, ap_rows = pool.map(chain, ("p", "ap"))
    table = []
    for p, ap in zip(p_rows, ap_rows):
        ok = p["converged"] and ap["converged"]
        table.append({"d_A": p["d_A"], "E_ex_meV": 1000 * (ap["energy_eV"] - p["energy_eV"]) if ok else None,
                      "F_ex_eV_per_A": ap["tip_Fz_eV_per_A"] - p["tip_Fz_eV_per_A"] if ok else None,
                      "iterations_p_ap": [p["iterations"], ap["iterations"]], "wall_s_p_ap": [round(p["wall_s"]), round(ap["wall_s"])]})
    summary = {"fragments": frag_runs, "points": p_rows + ap_rows, "exchange": table, "start": args.start}
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    for row in table:
        print(row)


if __name__ == "__main__":
    main()
