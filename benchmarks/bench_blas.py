"""Benchmark: pw.x with OpenBLAS against Debian's reference BLAS/LAPACK on one junction point.

Why ``tipsurf`` set-up installs OpenBLAS: Debian's ``pw.x`` links ``libblas.so.3`` and
``liblapack.so.3`` through the Debian alternatives system; with ``libopenblas0-pthread``
installed they point at OpenBLAS (priority 100), otherwise at the reference Netlib libraries.

The script writes ONE pw.x input with tipsurf itself (Fe tip over one-sided Mn/W(110), preset
``demo`` if tipsurf ships it, else ``fast``; SCF limited to a few iterations) and runs it twice,
serially (``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1``):

* ``OpenBLAS``:  as installed (the default alternative);
* ``reference``: with ``LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack``,
  where Debian's ``libblas3``/``liblapack3`` put the Netlib libraries.  The loader finds
  ``libblas.so.3``/``liblapack.so.3`` there first, and OpenBLAS's ``libopenblas.so.0`` (needed
  only by the OpenBLAS ``libblas.so.3`` wrapper) is then not loaded at all.  The script checks
  this twice: with ``ldd`` before the run, and in ``/proc/<pid>/maps`` of the running pw.x.

It compares the CPU seconds per SCF iteration (CPU time of pw.x's SCF loop, ``electrons`` in
its final timing report, divided by the iterations; the set-up, ``init_run``, is shown
separately) and the WALL time.  pw.x 6.7's "total cpu time spent up to now" lines are wall-clock
time, hence not used.  The machine may be shared: the 1-minute load average is printed with each run.

Usage::

    python benchmarks/bench_blas.py                       # needs libblas3 and liblapack3
    python benchmarks/bench_blas.py --maxstep 5           # more SCF iterations (default 3)
    python benchmarks/bench_blas.py --install-reference-blas   # apt-get install them first (root)

Installing ``libblas3 liblapack3`` does not change the default: OpenBLAS keeps the higher
alternatives priority (check with ``update-alternatives --display libblas.so.3-x86_64-linux-gnu``).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
REF_DIRS = [LIBDIR / "blas", LIBDIR / "lapack"]
APT_COMMAND = ["apt-get", "install", "-y", "libblas3", "liblapack3"]
SHARED_PSEUDO = Path(__file__).resolve().parents[2] / "shared" / "pseudo"  # ../shared beside the repository


def reference_blas_present() -> bool:
    """True if Debian's reference libblas.so.3 and liblapack.so.3 are installed."""
    return (REF_DIRS[0] / "libblas.so.3").exists() and (REF_DIRS[1] / "liblapack.so.3").exists()


def ensure_reference_blas(install: bool) -> None:
    """Install libblas3/liblapack3 if asked; otherwise exit with the apt command to run."""
    if reference_blas_present():
        return
    if not install:
        print("Debian's reference BLAS/LAPACK are not installed. Install them with\n"
              f"    {' '.join(APT_COMMAND)}\n"
              "(as root; OpenBLAS stays the default) or rerun with --install-reference-blas.", file=sys.stderr)
        sys.exit(2)
    print(f"installing: {' '.join(APT_COMMAND)}")
    subprocess.run(APT_COMMAND, check=True)
    if not reference_blas_present():
        sys.exit(f"{' '.join(APT_COMMAND)} did not provide {REF_DIRS[0]}/libblas.so.3")


def linked_libs(env: dict[str, str]) -> dict[str, str]:
    """``ldd pw.x`` entries for BLAS/LAPACK under ``env``."""
    pw = shutil.which("pw.x") or "pw.x"
    text = subprocess.run(["ldd", pw], env=env, capture_output=True, text=True, check=True).stdout
    out = {}
    for line in text.splitlines():
        if re.search(r"blas|lapack", line, re.I) and "=>" in line:
            name, target = line.split("=>", 1)
            out[name.strip()] = os.path.realpath(target.split("(")[0].strip())
    return out


def write_input(folder: Path, maxstep: int, distance_A: float) -> tuple[str, int]:
    """Write pw.in with tipsurf; return (preset name, number of atoms)."""
    from tipsurf.engines.presets import known_presets, load_preset, merge_preset
    from tipsurf.engines.qe import QEEngine
    from tipsurf.structures.specs import JunctionSpec, MnW110Spec, TipSpec

    name = "demo" if "demo" in known_presets() else "fast"
    preset = merge_preset(load_preset(name, "qe"), {"electron_maxstep": maxstep})
    spec = JunctionSpec(surface=MnW110Spec(w_layers=2, size=(1, 1), one_sided=True), tip=TipSpec(layers=1),
                        distance_A=distance_A)
    atoms = spec.build()
    QEEngine().write_inputs(atoms, preset, folder)
    return name, len(atoms)


def mapped_blas(pid: int) -> set[str]:
    """BLAS/LAPACK shared objects mapped into a running process."""
    try:
        text = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return set()
    return {line.split()[-1] for line in text.splitlines() if re.search(r"blas|lapack", line.split()[-1], re.I)}


def _seconds(text: str) -> float:
    """pw.x clock text ('1m 0.19s', '54.82s', '1h 2m 3.00s') in seconds."""
    total = 0.0
    for value, unit in re.findall(r"([\d.]+)\s*([hms])", text):
        total += float(value) * {"h": 3600.0, "m": 60.0, "s": 1.0}[unit]
    return total


def pw_clock(text: str, routine: str) -> tuple[float, float]:
    """(CPU s, WALL s) of one routine in pw.x's final timing report (nan if absent)."""
    match = re.search(rf"^\s*{routine}\s*:\s*(.+?)CPU\s+(.+?)WALL", text, re.M)
    if not match:
        return float("nan"), float("nan")
    return _seconds(match.group(1)), _seconds(match.group(2))


ROUTINES = ("calbec", "s_psi", "add_vuspsi", "cdiaghg", "cegterg", "h_psi", "vloc_psi", "fftw", "sum_band", "newd")


def print_routines(texts: dict[str, str]) -> None:
    """CPU seconds of pw.x routines in each run (BLAS-bound ones first, FFT-bound ones after)."""
    labels = list(texts)
    head = f"{'routine (CPU s)':<16}" + "".join(f"{label:>20}" for label in labels) + f"{'ratio':>8}"
    print(head)
    print("-" * len(head))
    for routine in ROUTINES:
        cpu = [pw_clock(texts[label], routine)[0] for label in labels]
        ratio = cpu[-1] / cpu[0] if cpu[0] > 0 else float("nan")
        print(f"{routine:<16}" + "".join(f"{c:>20.2f}" for c in cpu) + f"{ratio:>7.1f}x")


def run_pw(folder: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run pw.x in ``folder``; return CPU and wall timings, libraries mapped into it and the load."""
    load_before = os.getloadavg()[0]
    out_path = folder / "pw.out"
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(folder / "pw.in") as stdin, open(out_path, "w") as stdout:
        proc = subprocess.Popen(["pw.x"], cwd=folder, env=env, stdin=stdin, stdout=stdout, stderr=subprocess.STDOUT)
        seen: set[str] = set()
        while proc.poll() is None:
            seen |= mapped_blas(proc.pid)
            time.sleep(0.5)
    wall_measured = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = out_path.read_text(errors="replace")
    iterations = len(re.findall(r"^\s*iteration #\s*\d+", text, re.M))
    init_cpu, _ = pw_clock(text, "init_run")
    scf_cpu, scf_wall = pw_clock(text, "electrons")
    total_cpu, total_wall = pw_clock(text, "PWSCF")
    return {
        "returncode": proc.returncode,
        "iterations": iterations,
        "init_cpu_s": init_cpu,
        "per_iter_cpu_s": scf_cpu / iterations if iterations else float("nan"),
        "per_iter_wall_s": scf_wall / iterations if iterations else float("nan"),
        "pw_cpu_s": total_cpu,
        "pw_wall_s": total_wall,
        "rusage_cpu_s": (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime),
        "wall_s": wall_measured,
        "libs": sorted(seen),
        "load": (load_before + os.getloadavg()[0]) / 2,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--maxstep", type=int, default=3, help="SCF iterations per run (electron_maxstep), default 3")
    parser.add_argument("--distance", type=float, default=4.5, help="tip-surface distance in Angstrom, default 4.5")
    parser.add_argument("--install-reference-blas", action="store_true",
                        help=f"run '{' '.join(APT_COMMAND)}' if the reference libraries are missing")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    args = parser.parse_args(argv)
    if shutil.which("pw.x") is None:
        sys.exit("pw.x not found on PATH; install Debian's quantum-espresso")
    ensure_reference_blas(args.install_reference_blas)
    if not os.environ.get("TIPSURF_PSEUDO_DIR") and SHARED_PSEUDO.is_dir():
        os.environ["TIPSURF_PSEUDO_DIR"] = str(SHARED_PSEUDO)
    pseudo_note = os.environ.get("TIPSURF_PSEUDO_DIR") or "generated by tipsurf (ld1.x)"

    base = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    base.pop("LD_LIBRARY_PATH", None)
    ref = dict(base, LD_LIBRARY_PATH=":".join(str(d) for d in REF_DIRS))
    cases = [("OpenBLAS (default)", base), ("reference (Netlib)", ref)]

    root = Path(tempfile.mkdtemp(prefix="tipsurf-bench-blas-"))
    rows = []
    preset_name, n_atoms = "?", 0
    for label, env in cases:
        folder = root / label.split()[0].lower()
        folder.mkdir()
        preset_name, n_atoms = write_input(folder, args.maxstep, args.distance)
        ldd = linked_libs(env)
        print(f"[{label}] ldd: " + ", ".join(f"{k} -> {v}" for k, v in ldd.items()), flush=True)
        result = run_pw(folder, env)
        print(f"[{label}] mapped at run time: {', '.join(result['libs']) or '?'}", flush=True)
        rows.append((label, result))

    reference_used = all("openblas" not in lib for lib in rows[1][1]["libs"]) and any(
        str(REF_DIRS[0]) in lib for lib in rows[1][1]["libs"])
    print()
    print(f"pw.x BLAS benchmark: Fe1 tip over mnw110-w2-1x1-1s at d = {args.distance} A ({n_atoms} atoms), "
          f"preset '{preset_name}', electron_maxstep {args.maxstep}, serial")
    print(f"pseudopotentials: {pseudo_note}")
    print()
    head = (f"{'BLAS':<20} {'SCF iters':>9} {'set-up CPU s':>12} {'CPU s per SCF iter':>18} "
            f"{'wall s per SCF iter':>19} {'pw.x CPU s':>10} {'pw.x WALL s':>11} {'speed-up':>9} {'load 1m':>8}")
    print(head)
    print("-" * len(head))
    ref_iter = rows[1][1]["per_iter_cpu_s"]
    for label, r in rows:
        per = r["per_iter_cpu_s"]
        speed = ref_iter / per if per == per and per > 0 else float("nan")
        print(f"{label:<20} {r['iterations']:>9d} {r['init_cpu_s']:>12.1f} {per:>18.2f} {r['per_iter_wall_s']:>19.2f} "
              f"{r['pw_cpu_s']:>10.1f} {r['pw_wall_s']:>11.1f} {speed:>8.2f}x {r['load']:>8.2f}")
    print()
    print("CPU s per SCF iteration = CPU time of pw.x's 'electrons' (the SCF loop) / iterations, from its timing")
    print("report; speed-up = reference CPU s per SCF iteration / this row's. Wall times depend on the load.")
    print("(pw.x 6.7's 'total cpu time spent up to now' lines are wall-clock, so they are not used.)")
    print("CPU s of the pw.x processes from getrusage: " + ", ".join(
        f"{label} {r['rusage_cpu_s']:.1f}" for label, r in rows))
    print()
    print_routines({label: (root / label.split()[0].lower() / "pw.out").read_text(errors="replace") for label, _ in rows})
    print("ratio = reference / OpenBLAS. calbec, s_psi, add_vuspsi and the dense algebra in cegterg are BLAS")
    print("(ZGEMM); vloc_psi/fftw are FFTs, unaffected by the BLAS.  The share of BLAS work, hence the overall")
    print("speed-up, grows with the number of atoms (projectors) and bands.")
    if not reference_used:
        print("WARNING: the reference run did not map the Netlib libblas.so.3 only; the comparison is not valid.")
    for label, r in rows:
        if r["iterations"] == 0 or r["init_cpu_s"] != r["init_cpu_s"]:
            print(f"note: pw.x ({label}) exited with code {r['returncode']} after {r['iterations']} iterations without a timing report")
    if args.keep:
        print(f"run folders kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if reference_used else 1


if __name__ == "__main__":
    sys.exit(main())
