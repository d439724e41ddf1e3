"""Fault injection with the real pw.x: kill-and-resume scans, induced SCF failures, spin flips.

Usage::

    TIPSURF_PSEUDO_DIR=../shared/pseudo python benchmarks/fault_injection.py [--trials 10]
        [--scf-cases 10] [--flip-cases 5] [--parts kill,scf,flip] [--workdir DIR]

Parts (each prints a table of trials and a one-line verdict):

kill
    A small tip-over-Mn/W(110) distance scan (tiny cell, cheap "fault-injection" settings - the
    numbers are not physics) is run once undisturbed (reference).  Then, per trial, the same
    scan is run in a fresh project and, at a random moment, either pw.x alone is SIGKILLed
    (odd trials: custodian sees a crashed job, the point fizzles) or the whole runner process
    group is (even trials: a node dies; the embedded launchpad recovers the RUNNING point when
    it is opened again).  The scan is then resumed (``rerun`` + ``run``) until it is complete.
    Checked: every point has exactly one converged result and one COMPLETED Firework (none lost,
    none duplicated) and the stored E_ex/F_ex table equals the reference within the SCF
    tolerance.
scf
    SCF non-convergence induced for real on a 2-atom bcc Fe cell: too few SCF steps
    (electron_maxstep 2..6) and/or a hostile mixing (plain, beta 0.9-0.95).  Recovered means:
    converged, and the corrections custodian took are stored in the result record.
flip
    A spin flip forced for real: an ``ap`` start (+m/-m) under a fixed total moment that only a
    ferromagnetic state can carry; the exchange analysis must flag every case.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCAN_DISTANCES_A = [4.0]  # one distance x (p, ap): the smallest scan with an E_ex/F_ex table
SCAN_OVERRIDES: dict[str, Any] = {
    # Deliberately cheap and very smeared so a 5-atom junction converges in seconds; NOT physics.
    "ecutwfc_Ry": 12, "ecutrho_Ry": 96, "kpoints": {"mesh": [1, 1, 1], "gamma_centred": True},
    "conv_thr_Ry_per_atom": 1e-5, "degauss_Ry": 0.1, "smearing": "gaussian", "mixing_beta": 0.2,
    "electron_maxstep": 100,
}
ENERGY_TOL_EV = 2 * 1e-5 * 5 * 13.605693  # 2 x conv_thr of the 5-atom cell (1e-5 Ry/atom), in eV
FORCE_TOL_EV_PER_A = 2e-2
RUNNER = (
    "import sys\n"
    "from tipsurf.workflows.runner import run_campaign, rerun_campaign\n"
    "name, project = sys.argv[1], sys.argv[2]\n"
    "if len(sys.argv) > 3: rerun_campaign(name, project_dir=project)\n"
    "run_campaign(name, project_dir=project)\n"
)


# ----------------------------------------------------------------------------- helpers


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _children(pid: int) -> list[Any]:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _pw_pids(pid: int) -> list[int]:
    return [p.pid for p in _children(pid) if p.name().startswith("pw.x")]


def _add_scan(project: Path, name: str) -> None:
    from tipsurf.structures.specs import MnW110Spec, TipSpec
    from tipsurf.api.campaigns import add_distance_scan

    add_distance_scan(
        MnW110Spec(size=(1, 1), w_layers=1, one_sided=True, vacuum_A=6.0), TipSpec(layers=1), "top",
        SCAN_DISTANCES_A, preset="fast", preset_overrides=SCAN_OVERRIDES, name=name, vacuum_above_tip_A=4.0,
        project_dir=project,
    )


def _run(project: Path, name: str, rerun: bool = False, timeout_s: float = 1800) -> subprocess.Popen:
    args = [sys.executable, "-c", RUNNER, name, str(project)] + (["rerun"] if rerun else [])
    return subprocess.Popen(args, cwd=project, env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _scan_state(project: Path, name: str) -> dict[str, Any]:
    from tipsurf.workflows import store
    from tipsurf.workflows.launchpad import open_launchpad
    from tipsurf.workflows.runner import status_from_handle

    with open_launchpad(project_dir=project, read_only_ok=True) as handle:
        status = status_from_handle(handle, name)
        campaign = store.get_campaign(handle.db, name)
        fps = [p["fingerprint"] for p in campaign["points"]]
        results = list(handle.db[store.RESULTS].find({"fingerprint": {"$in": fps}}))
        fws = list(handle.lp.fireworks.find({"spec._tipsurf_campaign": name}, {"state": 1, "spec": 1, "fw_id": 1}))
        launches = handle.lp.launches.count_documents({})
    per_fp_results: dict[str, int] = {}
    for r in results:
        per_fp_results[r["fingerprint"]] = per_fp_results.get(r["fingerprint"], 0) + 1
    completed: dict[str, int] = {}
    for fw in fws:
        fp = fw["spec"].get("_tipsurf_fingerprint")
        if fp and fw["state"] == "COMPLETED":
            completed[fp] = completed.get(fp, 0) + 1
    return {
        "status": status, "points": fps, "results": per_fp_results, "completed": completed,
        "converged": {r["fingerprint"] for r in results if r.get("converged")},
        "energies": {r["fingerprint"]: r.get("energy_eV") for r in results if r.get("converged")},
        "raw_ex": _raw_exchange(results),
        "analysis": campaign.get("analysis"), "launches": launches,
    }


def _raw_exchange(results: list[dict[str, Any]]) -> dict[float, tuple[float | None, float | None]]:
    """E_ap - E_p and F_ap - F_p per distance straight from the records (also where the analysis
    flags the point, e.g. because the cheap settings quench the moments)."""
    by_d: dict[float, dict[str, dict[str, Any]]] = {}
    for r in results:
        meta = r.get("metadata") or {}
        if r.get("converged") and meta.get("distance_A") is not None:
            by_d.setdefault(round(float(meta["distance_A"]), 4), {})[meta.get("config")] = r
    out = {}
    for d, pair in by_d.items():
        if "p" in pair and "ap" in pair:
            def fz(rec):
                tip = (rec.get("metadata") or {}).get("tip_indices") or []
                forces = rec.get("forces_eV_per_A")
                return sum(forces[i][2] for i in tip) if forces and tip else None
            e = pair["ap"]["energy_eV"] - pair["p"]["energy_eV"]
            fa, fp = fz(pair["ap"]), fz(pair["p"])
            out[d] = (e, None if fa is None or fp is None else fa - fp)
    return out


def _table(analysis: dict[str, Any] | None) -> dict[float, tuple[float | None, float | None]]:
    rows = (analysis or {}).get("rows") or (analysis or {}).get("table", {}).get("rows") or []
    return {round(float(r["d_A"]), 4): (r.get("E_ex_eV"), r.get("F_ex_eV_per_A")) for r in rows}


def _max_diff(a: dict[float, tuple], b: dict[float, tuple]) -> tuple[float, float]:
    de = dfx = 0.0
    for d, (e_ref, f_ref) in a.items():
        e, f = b.get(d, (None, None))
        if e_ref is None or e is None:
            de = float("inf") if (e_ref is None) != (e is None) else de
        else:
            de = max(de, abs(e - e_ref))
        if f_ref is not None and f is not None:
            dfx = max(dfx, abs(f - f_ref))
    if set(a) != set(b):
        de = float("inf")
    return de, dfx


def _compare(ref: dict[str, Any], trial: dict[str, Any]) -> tuple[float, float]:
    """Largest difference in the stored table, the raw E_ex/F_ex and the per-point energies."""
    de, dfx = _max_diff(_table(ref["analysis"]), _table(trial["analysis"]))
    de2, dfx2 = _max_diff(ref["raw_ex"], trial["raw_ex"])
    de3 = max((abs(trial["energies"][fp] - e) if fp in trial["energies"] else float("inf")
               for fp, e in ref["energies"].items()), default=float("inf"))
    valid_ref = [r for r in ((ref["analysis"] or {}).get("table") or {}).get("rows", []) if r.get("valid")]
    valid_trial = [r for r in ((trial["analysis"] or {}).get("table") or {}).get("rows", []) if r.get("valid")]
    if len(valid_ref) != len(valid_trial):
        de = float("inf")
    return max(de, de2, de3), max(dfx, dfx2)


def report_kill(workdir: Path) -> None:
    """Re-read finished kill trials (after the fact) and print the comparison table."""
    name = "fault-scan"
    ref_state = _scan_state(workdir / "reference", name)
    print(f"reference: raw E_ex/F_ex {ref_state['raw_ex']}, table {_table(ref_state['analysis'])}, "
          f"energies {sorted(ref_state['energies'].values())}")
    print(f"{'trial':>5} {'points':>6} {'done':>4} {'lost':>4} {'dup':>3} {'launches':>8} {'max|dE|_eV':>10} {'max|dFex|':>9} {'ok':>3}")
    n = n_ok = 0
    for project in sorted(workdir.glob("trial*")):
        try:
            state = _scan_state(project, name)
        except Exception as exc:  # noqa: BLE001
            print(f"{project.name}: unreadable ({exc})")
            continue
        if state["status"]["analysis_state"] != "COMPLETED":
            print(f"{project.name:>5}: not finished ({state['status']['counts']})")
            continue
        n += 1
        lost = [fp for fp in state["points"] if fp not in state["converged"]]
        dup = [fp for fp in state["points"] if state["results"].get(fp, 0) > 1 or state["completed"].get(fp, 0) > 1]
        de, dfx = _compare(ref_state, state)
        ok = not lost and not dup and de <= ENERGY_TOL_EV and dfx <= FORCE_TOL_EV_PER_A
        n_ok += ok
        print(f"{project.name:>5} {len(state['points']):>6} {state['status']['counts']['done']:>4} {len(lost):>4} {len(dup):>3} "
              f"{state['launches']:>8} {de:10.2e} {dfx:9.2e} {'yes' if ok else 'NO':>3}")
    print(f"kill-and-resume (re-read): {n_ok}/{n} finished trials equal the reference, no point lost or duplicated")


def _finish(project: Path, name: str, max_resumes: int = 6) -> tuple[int, str]:
    """Resume (rerun failed + run) until the campaign is complete; return resumes used."""
    for resume in range(1, max_resumes + 1):
        proc = _run(project, name, rerun=True)
        _, err = proc.communicate()
        state = _scan_state(project, name)
        counts = state["status"]["counts"]
        if counts["done"] == state["status"]["total"] and state["status"]["analysis_state"] == "COMPLETED":
            return resume, ""
        if proc.returncode not in (0,):
            last = [l for l in (err or "").splitlines() if l.strip()][-1:] or [""]
            note = f"runner rc={proc.returncode}: {last[0][:120]}"
        else:
            note = f"counts {counts}"
    return max_resumes, note


# ----------------------------------------------------------------------------- part: kill


def _run_and_kill(project: Path, name: str, mode: str, at: float) -> bool:
    """Start the scan and SIGKILL pw.x (mode 'pw.x') or the whole runner at ``at`` seconds."""
    proc = _run(project, name)
    start = time.monotonic()
    killed = False
    while proc.poll() is None and time.monotonic() - start < at:
        time.sleep(0.1)
    if proc.poll() is None:
        if mode == "pw.x":
            deadline = time.monotonic() + 30  # wait briefly for a pw.x so the kill hits the code itself
            while proc.poll() is None and not _pw_pids(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            for pid in _pw_pids(proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                except ProcessLookupError:
                    pass
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
    proc.communicate()
    return killed


def part_kill(workdir: Path, trials: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    name = "fault-scan"
    ref = workdir / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    _add_scan(ref, name)
    proc = _run(ref, name)
    _, err = proc.communicate()
    ref_time = time.monotonic() - t0
    _finish(ref, name)  # an undisturbed run that still needed a resume would show up in the note below
    ref_state = _scan_state(ref, name)
    ref_table = _table(ref_state["analysis"])
    print(f"reference scan: {len(ref_state['points'])} points, {ref_time:.0f} s, "
          f"done {ref_state['status']['counts']['done']}/{ref_state['status']['total']}, table {ref_table}")
    if not ref_table:
        print("reference scan produced no table; stderr tail:", (err or "")[-400:])
    rows = []
    header = f"{'trial':>5} {'kill':>8} {'at_s':>6} {'killed':>6} {'resumes':>7} {'points':>6} {'lost':>4} {'dup':>3} {'max|dEex|_eV':>12} {'max|dFex|':>9} {'ok':>3}  note"
    print(header)
    for trial in range(1, trials + 1):
        mode = "pw.x" if trial % 2 else "runner"
        for attempt in range(3):  # the scan may finish before the drawn moment: draw again
            project = workdir / f"trial{trial:02d}" if attempt == 0 else workdir / f"trial{trial:02d}-{attempt}"
            project.mkdir(parents=True, exist_ok=True)
            _add_scan(project, name)
            at = rng.uniform(0.05, 0.6) * ref_time
            killed = _run_and_kill(project, name, mode, at)
            if killed:
                break
        resumes, note = _finish(project, name)
        state = _scan_state(project, name)
        lost = [fp for fp in state["points"] if fp not in state["converged"]]
        dup = [fp for fp in state["points"] if state["results"].get(fp, 0) > 1 or state["completed"].get(fp, 0) > 1]
        de, dfx = _compare(ref_state, state)
        ok = bool(killed and not lost and not dup and ref_table and de <= ENERGY_TOL_EV and dfx <= FORCE_TOL_EV_PER_A)
        rows.append({"trial": trial, "mode": mode, "at_s": at, "killed": killed, "resumes": resumes,
                     "points": len(state["points"]), "lost": len(lost), "dup": len(dup), "dE": de, "dF": dfx, "ok": ok,
                     "note": note})
        print(f"{trial:>5} {mode:>8} {at:6.1f} {str(killed):>6} {resumes:>7} {len(state['points']):>6} {len(lost):>4} "
              f"{len(dup):>3} {de:12.2e} {dfx:9.2e} {'yes' if ok else 'NO':>3}  {note}", flush=True)
    n_ok = sum(r["ok"] for r in rows)
    print(f"kill-and-resume: {n_ok}/{len(rows)} trials resumed with no point lost or duplicated and the reference table")
    return {"reference_s": ref_time, "rows": rows, "ok": n_ok}


# ----------------------------------------------------------------------------- part: scf


SCF_CASES = [  # (electron_maxstep, mixing_mode, mixing_beta)
    (2, "plain", 0.7), (3, "plain", 0.9), (4, "plain", 0.95), (5, "local-TF", 0.9), (6, "plain", 0.9),
    (3, "local-TF", 0.95), (2, "plain", 0.95), (4, "local-TF", 0.7), (5, "plain", 0.95), (3, "plain", 0.7),
]


def _fe2(start_up: float, start_dn: float) -> Any:
    from ase import Atoms

    a_A = 2.85
    atoms = Atoms("Fe2", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[a_A] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([start_up, start_dn])
    return atoms


def _fe2_preset(extra: dict[str, Any]) -> dict[str, Any]:
    from tipsurf.engines.presets import load_preset, merge_preset

    base = {"kpoints": {"mesh": [3, 3, 3], "gamma_centred": True}, "ecutwfc_Ry": 25, "ecutrho_Ry": 200,
            "dipole_correction": False}
    return merge_preset(load_preset("fast", "qe"), {**base, **extra})


def part_scf(workdir: Path, n_cases: int) -> dict[str, Any]:
    from tipsurf.engines.base import get_engine
    from tipsurf.errors import TipsurfError

    engine = get_engine("qe")
    print(f"{'case':>4} {'maxstep':>7} {'mixing':>9} {'beta':>5} {'induced':>7} {'recovered':>9} {'n_corr':>6} {'stored':>6} {'E_eV':>14} {'s':>5}  corrections")
    rows = []
    for i, (maxstep, mode, beta) in enumerate(SCF_CASES[:n_cases], start=1):
        folder = workdir / f"scf{i:02d}"
        preset = _fe2_preset({"electron_maxstep": maxstep, "mixing_mode": mode, "mixing_beta": beta})
        engine.write_inputs(_fe2(2.5, 2.5), preset, folder)
        t0 = time.monotonic()
        error = ""
        try:
            rec = engine.run(folder, max_errors=5).as_dict()
        except TipsurfError as err:
            rec, error = {}, str(err)
        took = time.monotonic() - t0
        corrections = rec.get("corrections") or []
        stored = {}
        result_file = folder / "tipsurf_result.json"
        if result_file.is_file():
            stored = json.loads(result_file.read_text())
        induced = bool(corrections) or bool(error)
        recovered = bool(rec.get("converged")) and rec.get("energy_eV") is not None and bool(corrections)
        stored_ok = bool(stored.get("corrections")) and stored.get("corrections") == corrections
        summary = "; ".join(json.dumps(c.get("actions", c), sort_keys=True)[:60] for c in corrections)[:110]
        rows.append({"case": i, "induced": induced, "recovered": recovered, "stored": stored_ok,
                     "n_corrections": len(corrections), "error": error, "seconds": took})
        energy = rec.get("energy_eV")
        print(f"{i:>4} {maxstep:>7} {mode:>9} {beta:5.2f} {str(induced):>7} {str(recovered):>9} {len(corrections):>6} "
              f"{str(stored_ok):>6} {energy if energy is None else f'{energy:14.5f}':>14} {took:5.0f}  {summary or error[:100]}", flush=True)
    induced = [r for r in rows if r["induced"]]
    n_rec = sum(r["recovered"] and r["stored"] for r in induced)
    print(f"SCF recovery: {n_rec}/{len(induced)} induced non-convergences recovered with the corrections stored "
          f"({len(rows) - len(induced)} cases converged without a correction and do not count)")
    return {"rows": rows, "induced": len(induced), "recovered": n_rec}


# ----------------------------------------------------------------------------- part: flip


FLIP_CASES = [(2.5, 4.4), (1.0, 4.4), (3.0, 4.0), (2.0, 4.6), (1.5, 4.2)]  # (|start| muB, tot_magnetization)


def part_flip(workdir: Path, n_cases: int) -> dict[str, Any]:
    import copy

    from tipsurf.analysis.exchange import configuration_problem, exchange_table
    from tipsurf.engines.base import get_engine
    from tipsurf.errors import TipsurfError

    engine = get_engine("qe")
    print(f"{'case':>4} {'start':>6} {'M_tot':>6} {'m_ref':>7} {'m_apex':>7} {'flipped':>7} {'flagged':>7}  flag")
    rows = []
    for i, (start, total) in enumerate(FLIP_CASES[:n_cases], start=1):
        folder = workdir / f"flip{i:02d}"
        engine.write_inputs(_fe2(start, -start), _fe2_preset({"extra": {"system": {"tot_magnetization": total}}}), folder)
        try:
            rec = engine.run(folder).as_dict()
        except TipsurfError as err:
            print(f"{i:>4} {start:6.2f} {total:6.2f}  run failed: {err}")
            rows.append({"case": i, "flipped": False, "flagged": False})
            continue
        rec["metadata"] = {"surface": "fe2-bcc", "site": "top", "tip": "Fe", "distance_A": 2.468, "config": "ap",
                           "apex_index": 1, "reference_indices": [0], "tip_indices": [1]}
        m = rec["magmoms_muB"]
        flipped = m[0] * m[1] > 0
        p = copy.deepcopy(rec)
        p["metadata"]["config"] = "p"
        table = exchange_table([p, rec])
        flag = table.rows[0]["flags"] if table.rows else ""
        flagged = (configuration_problem(rec) or "").startswith("spin flip") and not table.rows[0]["valid"]
        rows.append({"case": i, "flipped": flipped, "flagged": flagged})
        print(f"{i:>4} {start:6.2f} {total:6.2f} {m[0]:7.2f} {m[1]:7.2f} {str(flipped):>7} {str(flagged):>7}  {flag[:70]}", flush=True)
    flips = [r for r in rows if r["flipped"]]
    n_flag = sum(r["flagged"] for r in flips)
    print(f"spin flips: {n_flag}/{len(flips)} real flips flagged by the exchange analysis")
    return {"rows": rows, "flips": len(flips), "flagged": n_flag}


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--scf-cases", type=int, default=10)
    parser.add_argument("--flip-cases", type=int, default=5)
    parser.add_argument("--parts", default="scf,flip,kill")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if not os.environ.get("TIPSURF_PSEUDO_DIR"):
        print("set TIPSURF_PSEUDO_DIR to a folder with the GBRV pseudopotentials (../shared/pseudo)")
        return 2
    import tempfile

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="tipsurf-faults-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {workdir}")
    summary: dict[str, Any] = {}
    for part in [p.strip() for p in args.parts.split(",") if p.strip()]:
        print(f"\n=== {part}")
        t0 = time.monotonic()
        if part == "kill-report":
            report_kill(workdir / "kill")
            continue
        if part == "kill":
            summary[part] = part_kill(workdir / "kill", args.trials, args.seed)
        elif part == "scf":
            summary[part] = part_scf(workdir / "scf", args.scf_cases)
        elif part == "flip":
            summary[part] = part_flip(workdir / "flip", args.flip_cases)
        else:
            print(f"unknown part {part!r}")
            return 2
        print(f"({part}: {time.monotonic() - t0:.0f} s)")
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
