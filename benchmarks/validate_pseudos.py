"""Validate tipsurf's generated pseudopotentials against GBRV (../shared/pseudo) with the real pw.x.

Runs (serial pw.x, OMP_NUM_THREADS=1), for the generated set and for GBRV:

* bcc Fe: E(V) at 3 lattice constants (k 8x8x8) -> a0, moment at 2.83 A;
* bcc W: E(V) at 3 lattice constants -> a0;
* c(2x2) AFM Mn/W(110): 2 W layers + 1 Mn layer, rectangular cell a x a*sqrt(2) (a = 3.17 A),
  two Mn species with starting magnetization +-0.6, 8 A vacuum, k 4x3 -> Mn moments.
  Takes several minutes per pseudopotential set on a 2-core machine.

Usage::

    python benchmarks/validate_pseudos.py [--skip-slab] [--workdir DIR]

Prints a table; not collected by pytest.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tipsurf.config import Config
from tipsurf.engines.qe.pseudo_gen import ensure_pseudopotentials

SHARED = Path(__file__).resolve().parents[2] / "shared" / "pseudo"
GBRV = {"Fe": "fe_pbe_v1.5.uspp.F.UPF", "Mn": "mn_pbe_v1.5.uspp.F.UPF", "W": "w_pbe_v1.2.uspp.F.UPF"}


def pw_input(species: list[tuple[str, str, float]], cell_A, positions, pseudo_dir: Path, kpts, ecut_Ry, degauss_Ry=0.02,
             beta=0.3, conv=1e-8, mixing="plain") -> str:
    """Hand-written pw.x input; ``species`` = [(label, upf, starting_magnetization fraction)]."""
    magnetic = any(m for _, _, m in species)
    spin = "nspin=2, " + ", ".join(f"starting_magnetization({i})={m}" for i, (_, _, m) in enumerate(species, 1)) if magnetic else "nspin=1"
    cell = "\n".join(" %.8f %.8f %.8f" % tuple(v) for v in cell_A)
    pos = "\n".join(" %s %.8f %.8f %.8f" % (lab, *xyz) for lab, xyz in positions)
    spec = "\n".join(f" {lab} 1.0 {upf}" for lab, upf, _ in species)
    return f"""&control
 calculation='scf', prefix='v', outdir='./out', pseudo_dir='{pseudo_dir}'
/
&system
 ibrav=0, nat={len(positions)}, ntyp={len(species)}, ecutwfc={ecut_Ry[0]}, ecutrho={ecut_Ry[1]},
 occupations='smearing', smearing='mv', degauss={degauss_Ry}, {spin}
/
&electrons
 conv_thr={conv}, mixing_beta={beta}, mixing_mode='{mixing}', electron_maxstep=150
/
ATOMIC_SPECIES
{spec}
CELL_PARAMETERS angstrom
{cell}
ATOMIC_POSITIONS angstrom
{pos}
K_POINTS automatic
 {kpts[0]} {kpts[1]} {kpts[2]} 0 0 0
"""


def run_pw(text: str) -> dict:
    """Run pw.x in a temporary folder; energy (Ry), site moments (muB, 'magn:' label), wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "pw.in").write_text(text)
        start = time.perf_counter()
        proc = subprocess.run(["pw.x", "-in", "pw.in"], cwd=tmp, capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        wall = time.perf_counter() - start
    out = proc.stdout
    energies = re.findall(r"^!\s+total energy\s+=\s+(-?\d+\.\d+) Ry", out, re.M)
    if not energies or "convergence has been achieved" not in out:
        return {"energy_Ry": None, "moments_muB": [], "wall_s": wall}
    nat = int(re.search(r"number of atoms/cell\s+=\s+(\d+)", out).group(1))
    moments = [float(x) for x in re.findall(r"atom:\s+\d+\s+charge:\s+\S+\s+magn:\s+(-?\d+\.\d+)", out)][-nat:]
    iters = re.search(r"convergence has been achieved in\s+(\d+)", out)
    return {"energy_Ry": float(energies[-1]), "moments_muB": moments, "wall_s": wall, "iterations": int(iters.group(1))}


def bcc_scan(upf: str, folder: Path, element: str, a_list, mag: float, ecut):
    results = []
    for a in a_list:
        cell = 0.5 * a * np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
        text = pw_input([(element, upf, mag)], cell, [(element, (0.0, 0.0, 0.0))], folder, (8, 8, 8), ecut)
        results.append(run_pw(text))
    volumes = np.array(a_list) ** 3 / 2
    c2, c1, _ = np.polyfit(volumes, [r["energy_Ry"] for r in results], 2)
    a0 = (2 * (-c1 / (2 * c2))) ** (1 / 3)
    return a0, results


def mn_w110(files: dict[str, str], folder: Path, ecut, a_A=3.17, n_w=2, dz_mn_A=2.10, vacuum_A=8.0, kpts=(4, 3, 1)):
    b = a_A * math.sqrt(2)
    d = a_A / math.sqrt(2)
    positions = []
    for layer in range(n_w + 1):
        shift = 0.0 if layer % 2 == 0 else a_A / 2
        z = layer * d if layer < n_w else (n_w - 1) * d + dz_mn_A
        labels = ("W", "W") if layer < n_w else ("Mn1", "Mn2")
        positions += [(labels[0], (shift, 0.0, z)), (labels[1], ((shift + a_A / 2) % a_A, b / 2, z))]
    cell = [[a_A, 0, 0], [0, b, 0], [0, 0, positions[-1][1][2] + vacuum_A]]
    species = [("W", files["W"], 0.0), ("Mn1", files["Mn"], 0.6), ("Mn2", files["Mn"], -0.6)]
    text = pw_input(species, cell, positions, folder, kpts, ecut, degauss_Ry=0.03, beta=0.2, conv=1e-6, mixing="local-TF")
    return run_pw(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-slab", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.mkdtemp(prefix="tipsurf_pseudo_")))
    args = parser.parse_args()
    start = time.perf_counter()
    gen_dir, gen_files = ensure_pseudopotentials(["Fe", "Mn", "W"], Config(), cache_dir=args.workdir, progress=print)
    print(f"generation: {time.perf_counter() - start:.1f} s")
    sets = {"tipsurf (35/280 Ry)": (gen_dir, gen_files, (35, 280))}
    if SHARED.is_dir():
        sets["GBRV (30/240 Ry)"] = (SHARED, GBRV, (30, 240))
    for name, (folder, files, ecut) in sets.items():
        a_fe, fe = bcc_scan(files["Fe"], folder, "Fe", [2.77, 2.83, 2.89], 0.4, ecut)
        a_w, w = bcc_scan(files["W"], folder, "W", [3.11, 3.17, 3.23], 0.0, ecut)
        print(f"{name}: bcc Fe a0 = {a_fe:.3f} A, m(2.83 A) = {fe[1]['moments_muB'][0]:.2f} muB, "
              f"{sum(r['wall_s'] for r in fe):.0f} s; bcc W a0 = {a_w:.3f} A, {sum(r['wall_s'] for r in w):.0f} s")
        if not args.skip_slab:
            slab = mn_w110(files, folder, ecut)
            print(f"{name}: Mn/W(110) c(2x2) AFM moments {slab['moments_muB']} muB, "
                  f"{slab.get('iterations')} iterations, {slab['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
