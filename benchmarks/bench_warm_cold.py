"""Benchmark: warm-started against cold-started distance scan (real pw.x runs).

The same distance scan (p and ap chains, farthest distance first) is added with
``add_distance_scan(..., warm_start=True)`` and ``warm_start=False`` to two separate temporary
projects and run with ``run_campaign``.  With warm start every point starts from the converged
charge density of its farther neighbour of the same configuration (the first point of each
chain starts cold in both scans).  The per-point SCF iteration counts (``n_scf``) and pw.x wall
times come from the stored result records (``load_campaign_records``); the total wall time of
each scan is measured around ``run_campaign``.

Targets: warm ≤ 0.5x the SCF iterations of cold (over the points after the first of each
chain, which start cold in both scans), energies of the two scans within 1 meV.

Note: ``n_scf`` counts the iterations of a point's last pw.x run; a point that needed an SCF
recovery restart (column ``fixes`` > 0) ran more iterations than that in total — the wall
time of the scan includes them.

Usage::

    python benchmarks/bench_warm_cold.py                 # demo model and preset if tipsurf ships them
    python benchmarks/bench_warm_cold.py --distances 4.0,4.5,5.0,5.5 --configs p --kmesh 2 2 1
    # the warm scan is a finished 'tipsurf demo -o OUT' (same model and preset): cold scan only
    python benchmarks/bench_warm_cold.py --model demo --warm-project OUT --distances 5.0

The machine may be shared: the 1-minute load average is printed with each scan.
Expected time: several minutes of pw.x per scan (two scans).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SHARED_PSEUDO = Path(__file__).resolve().parents[2] / "shared" / "pseudo"  # ../shared beside the repository
FALLBACK_DISTANCES = "4.0,4.5,5.0,5.5"
EV_TO_MEV = 1000.0


def demo_setup() -> dict[str, Any] | None:
    """The model of ``tipsurf demo`` (``templates/demo``), if tipsurf ships one this code can use."""
    import inspect

    try:
        from tipsurf.cli.demo import load_demo_model
        from tipsurf.api.campaigns import add_distance_scan

        model = dict(load_demo_model())
    except Exception:  # noqa: BLE001  (the demo is optional for this benchmark)
        return None
    junction = dict(model.get("junction") or {})
    surface = model.get("surface", junction.pop("surface", None))
    tip = model.get("tip", junction.pop("tip", None))
    setup: dict[str, Any] = {
        "surface": surface, "tip": tip, "site": model.get("site", junction.pop("site", "top")),
        "distances": model.get("distances_A"), "preset": model.get("preset", "demo"),
        "source": f"tipsurf demo model '{model.get('name')}', preset '{model.get('preset', 'demo')}'",
        "scan_kwargs": {"site_index": int(model.get("site_index", junction.pop("site_index", 0)))},
    }
    junction.pop("kind", None)
    if "vacuum_above_tip_A" in junction:
        setup["scan_kwargs"]["vacuum_above_tip_A"] = float(junction.pop("vacuum_above_tip_A"))
    options = dict(model.get("junction_options") or {}, **junction)
    if options:
        if "junction_options" not in inspect.signature(add_distance_scan).parameters:
            return None  # this tipsurf cannot build the demo junction yet
        setup["scan_kwargs"]["junction_options"] = options
    if surface is None or tip is None or not setup["distances"]:
        return None
    return setup


def fallback_setup(kmesh: list[int] | None) -> dict[str, Any]:
    """Small Fe tip over one-sided 2-layer Mn/W(110), preset 'fast' with a coarse k mesh."""
    from tipsurf.structures.specs import MnW110Spec, TipSpec

    overrides: dict[str, Any] = {"kpoints": {"mesh": list(kmesh or [2, 2, 1]), "gamma_centred": True}}
    return {
        "surface": MnW110Spec(w_layers=2, size=(1, 1), one_sided=True),
        "tip": TipSpec(layers=1),
        "site": "top",
        "distances": FALLBACK_DISTANCES,
        "preset": "fast",
        "preset_overrides": overrides,
        "source": "fallback model (Fe1 tip over mnw110-w2-1x1-1s), preset 'fast' with k mesh "
                  f"{overrides['kpoints']['mesh']}",
    }


def tiny_setup() -> dict[str, Any]:
    """5-atom junction with cheap, heavily smeared settings: converges in about a minute of CPU.

    Not physics (12/96 Ry, Gamma point only, 0.1 Ry Gaussian smearing); it measures the
    mechanics of warm starting on a shared machine in minutes.
    """
    from tipsurf.structures.specs import MnW110Spec, TipSpec

    overrides = {"ecutwfc_Ry": 12, "ecutrho_Ry": 96, "kpoints": {"mesh": [1, 1, 1], "gamma_centred": True},
                 "conv_thr_Ry_per_atom": 1e-7, "degauss_Ry": 0.1, "smearing": "gaussian", "mixing_beta": 0.2,
                 "electron_maxstep": 150}
    return {
        "surface": MnW110Spec(size=(1, 1), w_layers=1, one_sided=True, vacuum_A=6.0),
        "tip": TipSpec(layers=1),
        "site": "top",
        "distances": FALLBACK_DISTANCES,
        "preset": "fast",
        "preset_overrides": overrides,
        "scan_kwargs": {"vacuum_above_tip_A": 4.0},
        "source": "tiny model (Fe1 tip over mnw110-w1-1x1-1s-v6, 5 atoms), preset 'fast' with cheap settings "
                  "(12/96 Ry, Gamma only, gaussian 0.1 Ry, conv_thr 1e-7 Ry/atom): not physics",
    }


def run_scan(setup: dict[str, Any], configs: list[str], warm: bool, project: Path) -> dict[str, Any]:
    """Add and run one scan; return its records, wall time and load average."""
    from tipsurf.workflows.runner import run_campaign
    from tipsurf.api.campaigns import add_distance_scan
    from tipsurf.workflows.store import load_campaign_records

    name = f"bench-{'warm' if warm else 'cold'}"
    report = add_distance_scan(
        setup["surface"], setup["tip"], setup["site"], setup["distances"], configs=configs,
        preset=setup["preset"], preset_overrides=setup.get("preset_overrides"), name=name,
        warm_start=warm, launchpad=project, project_dir=project, **setup.get("scan_kwargs", {}),
    )

    def progress(event: dict[str, Any]) -> None:
        if event.get("event") in ("start", "done"):
            print(f"  [{name}] {event['event']:<5} {event.get('label')} {event.get('state') or ''} "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    run_campaign(name, progress, launchpad=project, project_dir=project, workers=setup.get("workers", 2))
    wall = time.perf_counter() - t0
    records = load_campaign_records(name, launchpad=project, project_dir=project)
    return {"records": records, "wall_s": wall, "load": (load0 + os.getloadavg()[0]) / 2,
            "added": len(report.added)}


def finished_scan(project: Path, name: str | None) -> dict[str, Any]:
    """The records of a scan already run (e.g. by ``tipsurf demo``) in ``project``, as :func:`run_scan` returns them."""
    from tipsurf.workflows.launchpad import open_launchpad
    from tipsurf.workflows.store import campaign_names, load_campaign_records

    if name is None:
        with open_launchpad(project, project, snapshot=True) as handle:
            names = campaign_names(handle.db)
        if len(names) != 1:
            sys.exit(f"{project} holds {len(names)} campaigns ({', '.join(names)}); name one with --warm-name")
        name = names[0]
    records = load_campaign_records(name, launchpad=project, project_dir=project)
    walls = [r.get("walltime_s") or 0.0 for r in records]
    return {"records": records, "wall_s": float(sum(walls)), "load": float("nan"), "added": 0, "reused": name}


def by_point(records: list[dict[str, Any]]) -> dict[tuple[str, float], dict[str, Any]]:
    """Records keyed by (config, distance)."""
    out = {}
    for rec in records:
        meta = rec.get("metadata") or {}
        if meta.get("distance_A") is None or meta.get("config") is None:  # fragments are listed apart
            continue
        out[(meta.get("config"), round(float(meta["distance_A"]), 4))] = rec
    return out


def _point_key(rec: dict[str, Any]) -> tuple[str, float] | None:
    meta = rec.get("metadata") or {}
    if meta.get("distance_A") is None or meta.get("config") is None:
        return None
    return meta["config"], round(float(meta["distance_A"]), 4)


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "-"


def report(warm: dict[str, Any], cold: dict[str, Any], configs: list[str]) -> bool:
    """Print the per-point table and totals; True if every point converged in both scans."""
    w, c = by_point(warm["records"]), by_point(cold["records"])
    keys = sorted(set(w) | set(c), key=lambda k: (configs.index(k[0]) if k[0] in configs else 9, -k[1]))
    head = (f"{'config':<6} {'d_A':>6} {'n_scf cold':>10} {'n_scf warm':>10} {'fixes c/w':>9} "
            f"{'wall cold s':>11} {'wall warm s':>11} {'E_cold eV':>16} {'E_warm-E_cold meV':>18} {'warm from':>10}")
    print(head)
    print("-" * len(head))
    tot = {"cold": 0, "warm": 0, "cold_rest": 0, "warm_rest": 0}
    max_dE = 0.0
    all_ok = True
    first_of_chain = {cfg: max((k[1] for k in keys if k[0] == cfg), default=None) for cfg in configs}
    for key in keys:
        rc, rw = c.get(key, {}), w.get(key, {})
        ok = bool(rc.get("converged")) and bool(rw.get("converged"))
        all_ok &= ok
        dE = (rw["energy_eV"] - rc["energy_eV"]) * EV_TO_MEV if ok else None
        if dE is not None:
            max_dE = max(max_dE, abs(dE))
        nc, nw = rc.get("n_scf") or 0, rw.get("n_scf") or 0
        tot["cold"] += nc
        tot["warm"] += nw
        if key[1] != first_of_chain.get(key[0]):
            tot["cold_rest"] += nc
            tot["warm_rest"] += nw
        fixes = f"{len(rc.get('corrections') or [])}/{len(rw.get('corrections') or [])}"
        src = "yes" if rw.get("_warm_start_from") else "cold"
        print(f"{key[0]:<6} {key[1]:>6.2f} {_fmt(rc.get('n_scf'), 'd'):>10} {_fmt(rw.get('n_scf'), 'd'):>10} {fixes:>9} "
              f"{_fmt(rc.get('walltime_s'), '.1f'):>11} {_fmt(rw.get('walltime_s'), '.1f'):>11} "
              f"{_fmt(rc.get('energy_eV'), '.6f'):>16} {_fmt(dE, '+.3f'):>18} {src:>10}"
              + ("" if ok else "   NOT CONVERGED"))
    fragments = [r for r in warm["records"] if (r.get("metadata") or {}).get("kind") == "fragment"]
    for rec in fragments:  # the superposed start's own cost counts against the warm scan
        tot["warm"] += rec.get("n_scf") or 0
        print(f"fragment {rec['metadata'].get('fragment'):<8} n_scf {rec.get('n_scf')} wall {_fmt(rec.get('walltime_s'), '.1f')} s "
              "(counted in the warm total)")
    print()
    ratio = tot["warm"] / tot["cold"] if tot["cold"] else float("nan")
    ratio_rest = tot["warm_rest"] / tot["cold_rest"] if tot["cold_rest"] else float("nan")
    print(f"{'scan':<6} {'SCF iterations':>14} {'excl. 1st of chain':>19} {'wall s (run_campaign)':>22} {'load 1m':>8}")
    print(f"{'cold':<6} {tot['cold']:>14d} {tot['cold_rest']:>19d} {cold['wall_s']:>22.1f} {cold['load']:>8.2f}")
    print(f"{'warm':<6} {tot['warm']:>14d} {tot['warm_rest']:>19d} {warm['wall_s']:>22.1f} {warm['load']:>8.2f}")
    print()
    points_warm = tot["warm"] - sum(rec.get("n_scf") or 0 for rec in fragments)
    print(f"warm/cold SCF iterations: {ratio:.2f} (all points, the fragments counted in warm), "
          f"{points_warm / tot['cold'] if tot['cold'] else float('nan'):.2f} (the points alone), "
          f"{ratio_rest:.2f} (excluding the first point of each chain); target <= 0.5")
    print(f"warm/cold wall time: {warm['wall_s'] / cold['wall_s']:.2f}")
    print(f"largest |E_warm - E_cold|: {max_dE:.3f} meV; target <= 1 meV")
    return all_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--distances", help="override the distances, e.g. 4.0,4.5,5.0,5.5 (Angstrom)")
    parser.add_argument("--configs", default="p,ap", help="configurations, default p,ap")
    parser.add_argument("--kmesh", type=int, nargs=3, help="k mesh of the fallback model (default 2 2 1)")
    parser.add_argument("--model", choices=["auto", "demo", "fallback", "tiny"], default="auto",
                        help="auto: the demo model if usable, else the fallback; tiny: 5-atom cheap check")
    parser.add_argument("--parallel", action="store_true",
                        help="run the cold and the warm scan at the same time (two processes)")
    parser.add_argument("--keep", action="store_true", help="keep the two project folders")
    parser.add_argument("--warm-project", type=Path,
                        help="a project with the warm scan already run (e.g. the folder of tipsurf demo -o OUT); "
                             "only the cold scan runs, on --distances (default: all of the model's)")
    parser.add_argument("--warm-name", help="the warm scan's campaign name in --warm-project (default: its only scan)")
    parser.add_argument("--pseudos", choices=("shared", "generated"), default="shared",
                        help="GBRV from ../shared/pseudo (default) or tipsurf's own ld1.x set (what the demo uses on a fresh machine)")
    args = parser.parse_args(argv)
    if args.pseudos == "generated":
        os.environ.pop("TIPSURF_PSEUDO_DIR", None)
    elif not os.environ.get("TIPSURF_PSEUDO_DIR") and SHARED_PSEUDO.is_dir():
        os.environ["TIPSURF_PSEUDO_DIR"] = str(SHARED_PSEUDO)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    setup = demo_setup() if args.model in ("auto", "demo") else None
    if setup is None and args.model == "demo":
        sys.exit("tipsurf has no usable demo model yet (templates/demo); use --model fallback or tiny")
    if setup is None:
        setup = tiny_setup() if args.model == "tiny" else fallback_setup(args.kmesh)
    if args.distances:
        if args.warm_project:  # the cold points in the warm scan's cell (set by its largest distance)
            from tipsurf.workflows.scan import parse_distances

            setup.setdefault("scan_kwargs", {})["scan_d_max_A"] = max(parse_distances(setup["distances"]))
        setup["distances"] = args.distances
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    print(f"model: {setup.get('source', 'tipsurf demo scan')}; distances {setup['distances']}; configs {configs}")
    print(f"pseudopotentials: {os.environ.get('TIPSURF_PSEUDO_DIR') or 'generated by tipsurf (ld1.x)'}")
    root = Path(tempfile.mkdtemp(prefix="tipsurf-bench-warmcold-"))
    reused = finished_scan(args.warm_project, args.warm_name) if args.warm_project else None
    warm_modes = (False,) if reused else (False, True)
    jobs = [(setup, configs, warm, root / ("warm" if warm else "cold")) for warm in warm_modes]
    for job in jobs:
        job[3].mkdir()
        print(f"{'warm' if job[2] else 'cold'}-started scan in {job[3]}", flush=True)
    if args.parallel:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=2) as pool:
            out = list(pool.map(run_scan, *zip(*jobs)))
    else:
        out = [run_scan(*job) for job in jobs]
    results = {"cold": out[0], "warm": reused or out[1]}
    if reused:
        cold_keys = set(by_point(out[0]["records"]))
        kept = [r for r in reused["records"] if _point_key(r) in cold_keys or _point_key(r) is None]
        results["warm"] = {**reused, "records": kept, "wall_s": float(sum(r.get("walltime_s") or 0.0 for r in kept))}
        print(f"warm scan: '{reused['reused']}' in {args.warm_project} (already run; its wall time is the sum of "
              "its points' pw.x wall times, fragments included)")
    print(f"scans run {'at the same time' if args.parallel else 'one after the other'}")
    print()
    ok = report(results["warm"], results["cold"], configs)
    if args.keep:
        print(f"projects kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
