"""The demo model under other settings (not in CI): which of them moves E_ex(d), real pw.x.

Runs the ``tipsurf demo`` model (``templates/demo/mn-w110-fe-floating.yaml``) through the same
path as the demo -- ``add_distance_scan`` (fragments, superposed / neighbour-delta starts, p and
ap chains) and ``run_campaign(workers=2)`` -- at the distances asked for, with preset overrides
and either tipsurf's generated pseudopotentials (the demo's, 25/320 Ry) or the GBRV set of
``../shared/pseudo`` at its own cut-off (40/320 Ry).  It prints E_ex(d), F_ex(d), the moments
and the scan's checks, so the sign and size of E_ex can be compared between settings.  Usage::

    python benchmarks/bench_demo_levers.py --workdir /tmp/lever-gbrv --distances 5.0,4.5 --pseudos shared
    python benchmarks/bench_demo_levers.py --workdir /tmp/lever-mv01 --distances 5.0,4.5 --set degauss_Ry=0.01
    python benchmarks/bench_demo_levers.py --workdir /tmp/lever-relax --distances 4.5 --relax tip,slab
    python benchmarks/bench_demo_levers.py --workdir /tmp/lever-mn --distances 6.5,5.0,4.0,3.0 --apex Mn
    python benchmarks/bench_demo_levers.py --workdir /tmp/lever-fm --distances 4.5,3.5 --mn-order ferro

``--relax`` relaxes the isolated tip (apex and the atoms below it) and/or the slab (Mn and the
top W layer) before the coupled points, as the reference protocol does (the demo skips it).
``--apex Mn`` puts a Mn apex on the Fe support (antiparallel to it, as in the study) and
compares the sign with the study's Mn regime (E_ex > 0 far, < 0 below Delta d ~ -1.6 A).
``--mn-order ferro`` starts the Mn layer ferromagnetic: with the c(2x2) AFM scan at the same d it
separates the apex's coupling to the Mn atom under it (J0, plus the two parallel next-nearest,
J2) from that to its four antiparallel nearest neighbours (J1):
E_ex(AFM) + E_ex(FM) = -4 (J0 + 2 J2) and E_ex(FM) - E_ex(AFM) = -16 J1, with E = J s_tip s_Mn
per pair.  There is no study regime for it (a diagnostic, not the ground state).

Each setting needs its own ``--workdir`` (a campaign's points are reused when run again).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

SHARED_PSEUDO = Path(__file__).resolve().parents[2] / "shared" / "pseudo"
#: GBRV's recommended wave-function cut-off; the density cut-off stays the demo's 320 Ry (egg-box).
GBRV_ECUTWFC_RY = 40


def main() -> None:
    from tipsurf.analysis.report import write_exchange_report
    from tipsurf.api.campaigns import add_distance_scan
    from tipsurf.cli.demo import load_demo_model
    from tipsurf.cli.overrides import parse_set_options
    from tipsurf.errors import InputError
    from tipsurf.workflows.runner import run_campaign
    from tipsurf.workflows.scan import paired_scan_records
    from tipsurf.workflows.store import load_campaign_records

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--distances", default="5.0,4.5")
    parser.add_argument("--pseudos", choices=("generated", "shared"), default="generated")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--relax", default="", metavar="tip,slab",
                        help="relax these parts alone before the coupled points (the reference protocol's step)")
    parser.add_argument("--apex", choices=("Fe", "Mn"), default="Fe",
                        help="apex element on the demo's Fe support (Mn: antiparallel to it, as in the study)")
    parser.add_argument("--mn-order", choices=("c2x2-afm", "ferro"), default="c2x2-afm",
                        help="starting order of the Mn layer (ferro: the diagnostic reference above)")
    args = parser.parse_args()
    relax = {part for part in args.relax.split(",") if part}
    if relax - {"tip", "slab"}:
        raise SystemExit(f"bench_demo_levers: --relax takes tip, slab or tip,slab, got {args.relax!r}")
    try:
        overrides = parse_set_options(args.overrides)
    except InputError as error:
        raise SystemExit(f"bench_demo_levers: {error}") from None
    if args.pseudos == "shared":
        if not SHARED_PSEUDO.is_dir():
            raise SystemExit(f"bench_demo_levers: --pseudos shared needs {SHARED_PSEUDO}")
        os.environ["TIPSURF_PSEUDO_DIR"] = str(SHARED_PSEUDO)
        overrides.setdefault("ecutwfc_Ry", GBRV_ECUTWFC_RY)
    else:
        os.environ.pop("TIPSURF_PSEUDO_DIR", None)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    model = load_demo_model()
    junction = model["junction"]
    reference = model.get("reference_regime")
    if args.apex != "Fe":
        from bench_validation_tip import REFERENCE  # the study's regime per apex, stated once

        junction = {**junction, "tip": {**junction["tip"], "apex": args.apex}}
        reference = REFERENCE[args.apex]
    if args.mn_order != "c2x2-afm":
        junction = {**junction, "surface": {**junction["surface"], "mn_order": args.mn_order}}
        reference = None  # the ferromagnetic layer is a diagnostic: the study has no regime for it
    project = args.workdir.resolve()
    name = "levers"
    distances = [float(d) for d in args.distances.split(",")]
    print(f"pseudopotentials: {args.pseudos}; overrides {overrides}; distances {distances}; "
          f"relaxed first: {', '.join(sorted(relax)) or 'nothing'}; apex {args.apex}; Mn {args.mn_order}", flush=True)
    report = add_distance_scan(
        junction["surface"], junction["tip"], junction["site"], distances, preset=model["preset"],
        preset_overrides=overrides or None, name=name, site_index=int(junction.get("site_index", 0)),
        vacuum_above_tip_A=float(junction["vacuum_above_tip_A"]), d0_A=float(model["d0_A"]), project_dir=project,
        relax_tip="tip" in relax, relax_slab="slab" in relax,
    )
    print(f"{len(report.added)} calculations added to {project}", flush=True)
    t0 = time.monotonic()
    run_campaign(name, progress=lambda e: print(json.dumps({k: e.get(k) for k in ("event", "label", "state")}), flush=True)
                 if e.get("event") in ("start", "done") else None, project_dir=project, workers=2)
    print(f"wall {time.monotonic() - t0:.0f} s")
    records, _ = paired_scan_records(load_campaign_records(name, project_dir=project))
    table, _ = write_exchange_report(records, project / "results", d0_A=float(model["d0_A"]),
                                     reference=reference)
    for row in table["rows"]:
        print(json.dumps({k: row.get(k) for k in ("d_A", "E_ex_meV", "F_ex_eV_per_A", "F_ex_fd_eV_per_A",
                                                  "m_apex_p_muB", "m_apex_ap_muB")}))
    for checks in table["checks"]:
        for line in checks["lines"]:
            print(line)


if __name__ == "__main__":
    main()
