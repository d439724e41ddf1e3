"""A real distance scan with pw.x through the embedded launchpad (tiny 5-atom junction).

Model: 1-atom Fe tip over a one-sided 1-W-layer Mn/W(110) c(2x2) cell, Gamma point,
20/160 Ry, 0.1 Ry smearing, conv_thr 1e-5 Ry: physically crude, but a real junction SCF that
exercises the whole chain (inputs -> custodian -> parse -> store -> E_ex/F_ex table).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from wf_helpers import require_pw, tiny_scan_kwargs

from tipsurf.workflows import store
from tipsurf.workflows.launchpad import open_launchpad
from tipsurf.workflows.runner import campaign_status, run_campaign
from tipsurf.api.campaigns import add_distance_scan

pytestmark = pytest.mark.pwx

RY_MEV = 13605.693
KILLER_RUN = "import sys; from tipsurf.workflows.runner import run_campaign; run_campaign(sys.argv[1], project_dir=sys.argv[2])"


@pytest.fixture(scope="module")
def tiny_env(tmp_path_factory: pytest.TempPathFactory, pseudo_provider: Any) -> Iterator[Path]:
    """../shared GBRV if present, else tipsurf's own ld1.x pseudopotentials (a clean clone)."""
    require_pw()
    home = tmp_path_factory.mktemp("wf-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIPSURF_CONFIG", str(home / "config.yaml"))
        mp.setenv("TIPSURF_CACHE_DIR", str(home / "cache"))
        pseudo_provider.usable(home / "cache").apply_env(mp)
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.delenv("TIPSURF_LAUNCHPAD", raising=False)
        yield home


@pytest.fixture(scope="module")
def warm_scan(tiny_env: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two distances x p/ap with warm start, run to the end by two workers with a progress callback."""
    project = tmp_path_factory.mktemp("scan-warm")
    add_distance_scan(distances="5.0,4.5", name="warm", project_dir=project, **tiny_scan_kwargs())
    events: list[dict[str, Any]] = []
    out = run_campaign("warm", progress=events.append, project_dir=project, workers=2)
    with open_launchpad(project_dir=project) as handle:
        records = store.campaign_records(handle.db, "warm")
        campaign = store.get_campaign(handle.db, "warm")
        launches = {d["fw_id"]: len(d.get("launches", [])) for d in handle.lp.fireworks.find({}, {"fw_id": 1, "launches": 1})}
    return {"project": project, "out": out, "events": events, "records": records, "campaign": campaign, "launches": launches}


def _points(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["metadata"].get("config") in ("p", "ap")]


def _by_point(records: list[dict[str, Any]]) -> dict[tuple[str, float], dict[str, Any]]:
    return {(r["metadata"]["config"], r["metadata"]["distance_A"]): r for r in _points(records)}


def test_scan_runs_end_to_end_and_stores_records_and_exchange_table(warm_scan: dict[str, Any]) -> None:
    status = warm_scan["out"]["status"]
    assert status["counts"]["done"] == 4 + 2 and status["counts"]["failed"] == 0  # points and fragments
    assert status["analysis_state"] == "COMPLETED"
    records = _by_point(warm_scan["records"])
    assert set(records) == {("p", 5.0), ("p", 4.5), ("ap", 5.0), ("ap", 4.5)}
    for rec in records.values():
        assert rec["converged"] and rec["energy_eV"] < 0
        assert rec["_campaigns"] == ["warm"]
        assert rec["_provenance"]["code_version"] and rec["_provenance"]["pseudopotentials"]["Fe"]["md5"]
        assert rec["_spec"]["kind"] == "junction"
        assert Path(rec["_calc_dir"]).name == rec["fingerprint"]
    table = warm_scan["campaign"]["analysis"]["table"]
    rows = {row["d_A"]: row for row in table["rows"]}
    assert set(rows) == {4.5, 5.0}
    for d, row in rows.items():
        if row["valid"]:
            assert row["E_ex_eV"] == pytest.approx(records[("ap", d)]["energy_eV"] - records[("p", d)]["energy_eV"], abs=1e-9)
        else:  # never a number from an invalid point
            assert row["E_ex_eV"] is None and row["flags"]
    # the progress callback saw every rocket start and finish
    starts = [e for e in warm_scan["events"] if e["event"] == "start"]
    assert len(starts) == 7 and warm_scan["events"][-1]["counts"]["done"] == 6


def test_two_workers_overlap_and_run_every_firework_once(warm_scan: dict[str, Any]) -> None:
    assert set(warm_scan["launches"].values()) == {1}  # 7 Fireworks, each launched exactly once
    running, most = 0, 0
    for event in warm_scan["events"]:
        running += {"start": 1, "done": -1}.get(event["event"], 0)
        most = max(most, running)
    assert most == 2  # two rockets (two pw.x) at once, never more


def test_points_start_from_fragments_and_neighbours_of_their_own_configuration(warm_scan: dict[str, Any]) -> None:
    records = _by_point(warm_scan["records"])
    fragments = {r["metadata"]["fragment"]: r for r in warm_scan["records"] if r["metadata"].get("kind") == "fragment"}
    assert set(fragments) == {"surface", "tip"} and all(f["converged"] for f in fragments.values())
    tip_save = str(Path(fragments["tip"]["_calc_dir"]) / "out" / "pwscf.save")
    for config in ("p", "ap"):
        far, near = records[(config, 5.0)], records[(config, 4.5)]
        assert far["_warm_start_from"] is None and far["extra"]["restart_method"] == "superposed"
        assert near["_warm_start_from"] == far["fingerprint"] and near["extra"]["restart_method"] == "neighbour-delta"
        assert "Starting wfcs from file" in (Path(near["_calc_dir"]) / "pw.out").read_text()  # the neighbour's states
        info = json.loads((Path(near["_calc_dir"]) / "tipsurf_calc.json").read_text())
        parts = info["restart_parts"]
        assert parts[0]["save_dir"].startswith(far["_calc_dir"])  # the neighbour of the same configuration
        assert [(p["save_dir"], p["shift_z_A"], p["weight"], p["flip_magnetization"]) for p in parts[1:]] == [
            (tip_save, 0.0, -1.0, config == "ap"), (tip_save, -0.5, 1.0, config == "ap")]


def test_resubmitting_a_finished_scan_adds_and_recomputes_nothing(warm_scan: dict[str, Any], pseudo_env: Path) -> None:
    project = warm_scan["project"]
    again = add_distance_scan(distances="5.0,4.5", name="warm", project_dir=project, **tiny_scan_kwargs())
    assert not again.added and {p["state"] for p in again.existing} == {"COMPLETED"}
    assert run_campaign("warm", project_dir=project)["rockets"] == 0


def _pw_processes_in(folder: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if str(Path(os.readlink(entry / "cwd"))).startswith(str(folder)):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _wait_for_scf(project: Path, timeout_s: float = 600) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        for out in (project / ".tipsurf" / "calcs").glob("*/pw.out"):
            if out.read_text(errors="replace").count("estimated scf accuracy") >= 2:
                return
        time.sleep(0.5)
    pytest.fail("pw.x did not start iterating in time")


@pytest.fixture(scope="module")
def cold_after_kill(warm_scan: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The p points of the same scan without warm start, killed (SIGKILL) mid-SCF and resumed."""
    project = tmp_path_factory.mktemp("killed")
    add_distance_scan(distances="5.0,4.5", configs=["p"], name="kill", warm_start=False, project_dir=project, **tiny_scan_kwargs())
    proc = subprocess.Popen([sys.executable, "-c", KILLER_RUN, "kill", str(project)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_scf(project)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for pid in _pw_processes_in(project):  # pw.x started by the killed run, if it outlived it
            os.kill(pid, signal.SIGKILL)
    # saved as RUNNING when it was killed; the next run (not a status query) puts it back to READY
    before = campaign_status("kill", project_dir=project)
    out = run_campaign("kill", project_dir=project)
    with open_launchpad(project_dir=project) as handle:
        cold_points = _by_point(store.campaign_records(handle.db, "kill"))
    return {"before": before, "out": out, "cold": cold_points[("p", 4.5)], "cold_points": cold_points}


def test_killed_run_is_recovered_and_resumed(cold_after_kill: dict[str, Any]) -> None:
    before, out = cold_after_kill["before"], cold_after_kill["out"]
    # a status query reads the saved state and touches nothing: the killed point still shows RUNNING ...
    assert before["recovered"] == [] and before["counts"]["running"] == 1 and before["counts"]["done"] == 0
    assert "in use by another process" not in before["launchpad"]  # ... and nobody holds the store
    assert len(out["recovered"]) == 1  # the next run puts it back to READY and computes it
    assert out["status"]["counts"]["done"] == 2 and out["status"]["analysis_state"] == "COMPLETED"
    assert cold_after_kill["cold"]["converged"]


def test_warm_and_cold_start_give_the_same_result(warm_scan: dict[str, Any], cold_after_kill: dict[str, Any]) -> None:
    cold_points = cold_after_kill["cold_points"]
    warm_points = _by_point(warm_scan["records"])
    agreed = 0
    for d in (5.0, 4.5):
        cold, warm = cold_points[("p", d)], warm_points[("p", d)]
        assert cold["fingerprint"] == warm["fingerprint"]  # the same calculation ...
        assert cold["_warm_start_from"] is None and warm["extra"]["restart_method"] in ("superposed", "neighbour-delta")
        apex = cold["metadata"]["apex_index"]
        assert abs(warm["magmoms_muB"][apex]) > 3.0  # the fragment starts keep the tip magnetic
        if abs(cold["magmoms_muB"][apex]) > 3.0:  # ... and where the cold start found the same state,
            assert abs(cold["energy_eV"] - warm["energy_eV"]) * 1e3 < 1.0  # the same energy (meV)
            agreed += 1
        else:  # measured at 4.5 A: from atoms the apex moment collapses (0.01 muB), 2.4 eV higher
            assert warm["energy_eV"] < cold["energy_eV"]
    assert agreed >= 1


def test_warm_start_saves_scf_iterations(warm_scan: dict[str, Any], cold_after_kill: dict[str, Any]) -> None:
    warm = _by_point(warm_scan["records"])
    cold = cold_after_kill["cold_points"]
    # measured: superposed fragments 9 vs 33 from atoms at 5.0 A, neighbour delta 6 vs 40 at 4.5 A
    assert sum(warm[("p", d)]["n_scf"] for d in (5.0, 4.5)) <= 0.5 * sum(cold[("p", d)]["n_scf"] for d in (5.0, 4.5))


def test_wall_time_stopped_point_resumes_in_the_next_allocation(tiny_env: Path, tmp_path: Path) -> None:
    """Issue 12 item 2: a point that needs two allocations goes on where it stopped."""
    # an allocation of about half the point's cold run time on this machine, measured first
    t0 = time.monotonic()
    add_distance_scan(distances="5.0", configs=["p"], name="probe", warm_start=False, project_dir=tmp_path / "probe",
                      **tiny_scan_kwargs())
    run_campaign("probe", project_dir=tmp_path / "probe")
    walltime_s = max(3.0, 0.5 * (time.monotonic() - t0))
    add_distance_scan(distances="5.0", configs=["p"], name="wall", warm_start=False, walltime_s=walltime_s,
                      project_dir=tmp_path, **tiny_scan_kwargs())
    allocations = 0
    for _ in range(20):  # each run_campaign is one allocation of 2 s of pw.x
        allocations += 1
        if run_campaign("wall", project_dir=tmp_path)["status"]["counts"]["done"] == 1:
            break
    with open_launchpad(project_dir=tmp_path) as handle:
        (record,) = [r for r in store.campaign_records(handle.db, "wall") if r["metadata"].get("config") == "p"]
    assert record["converged"] and allocations >= 2, allocations  # it did need more than one allocation
    walltime_stops = [c for c in record["corrections"] if c["handler"] == "WalltimeHandler"]
    assert len(walltime_stops) >= allocations - 1  # the corrections of every allocation survive
    folder = Path(record["_calc_dir"])
    assert "The initial density is read from file" in (folder / "pw.out").read_text()  # from the saved density
    stopped = [p for p in folder.glob("pw.out*") if "Maximum CPU time exceeded" in p.read_text()]
    assert stopped  # an earlier allocation's output is kept
