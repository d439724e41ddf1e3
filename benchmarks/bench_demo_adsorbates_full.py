"""The full version of ``tipsurf demo adsorbates``: the isolated adsorbate the demo cannot afford.

Runs ``tipsurf demo adsorbates --model ti-mgo-ag100-full`` (templates/demo_adsorbates/
ti-mgo-ag100-full.yaml: 2x2 cell of a = 4.15 A with Ti-Ti 8.30 A, 4 Ag(100) layers, 2 ML MgO,
52/580 Ry, k 3x3, dipole correction) in a project folder and reports its wall and CPU time.
Extra arguments go to the command (e.g. ``--set hubbard_u_eV.Ti=3.5``).  Interrupt it and run it
again: finished points are reused.  Not collected by pytest.

Usage::

    python benchmarks/bench_demo_adsorbates_full.py [-o DIR] [--workers N] [-- --set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("tipsurf-demo-adsorbates-full"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="further arguments of tipsurf demo adsorbates")
    args = parser.parse_args()
    extra = [a for a in args.rest if a != "--"]
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tipsurf.cli", "demo", "adsorbates", "--model", "ti-mgo-ag100-full",
                           "-o", str(args.output), "--workers", str(args.workers), *extra], check=False)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"full adsorbate demo: exit {proc.returncode}, {time.monotonic() - t0:.0f} s wall, "
          f"{usage.ru_utime + usage.ru_stime:.0f} s CPU")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
