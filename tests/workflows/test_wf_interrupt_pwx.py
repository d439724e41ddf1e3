"""Stopping a run (issue 15): Ctrl-C and SIGTERM stop pw.x at once and leave every point resumable.

Real ``tipsurf run`` processes (two workers) on the tiny 5-atom scan with tipsurf's own
pseudopotentials (no ../shared needed): the signal arrives while pw.x iterates; the run must
end within seconds with one line and exit code 128 + signal, leave no pw.x behind, keep the
partial output, queue the point again, and the next run must finish the campaign without
computing a finished point twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from wf_helpers import require_pw, tiny_scan_kwargs

from tipsurf.workflows.launchpad import open_launchpad
from tipsurf.workflows.runner import campaign_status, run_campaign
from tipsurf.api.campaigns import add_distance_scan

pytestmark = pytest.mark.pwx


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    require_pw()
    home = tmp_path_factory.mktemp("interrupt-home")
    values = {"TIPSURF_CONFIG": str(home / "config.yaml"), "TIPSURF_CACHE_DIR": str(home / "cache"), "OMP_NUM_THREADS": "1"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in values.items():
            mp.setenv(key, value)
        mp.delenv("TIPSURF_PSEUDO_DIR", raising=False)  # tipsurf generates its own (ld1.x)
        mp.delenv("TIPSURF_LAUNCHPAD", raising=False)
        yield {k: v for k, v in os.environ.items() if k != "TIPSURF_PSEUDO_DIR"}


def _pw_in(folder: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(Path(os.readlink(entry / "cwd"))).startswith(str(folder)) and "pw.x" in (entry / "cmdline").read_text():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _start_and_signal(project: Path, env: dict[str, str], sig: int, to_group: bool) -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, "-m", "tipsurf.cli", "run", "--name", "stop", "--project", str(project)],
                            env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        outs = list((project / ".tipsurf" / "calcs").glob("*/pw.out"))
        if any(p.read_text(errors="replace").count("estimated scf accuracy") >= 2 for p in outs):
            break
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("pw.x did not start iterating")
    t0 = time.monotonic()
    (os.killpg if to_group else os.kill)(proc.pid, sig)  # Ctrl-C in a terminal signals the whole group
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return {"rc": proc.returncode, "took_s": time.monotonic() - t0, "stdout": out, "stderr": err,
            "left": _pw_in(project)}


@pytest.fixture(scope="module")
def stopped(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = tmp_path_factory.mktemp("stop-project")
    add_distance_scan(distances="5.0,4.5", configs=["p", "ap"], name="stop", project_dir=project, **tiny_scan_kwargs())
    ctrl_c = _start_and_signal(project, env, signal.SIGINT, to_group=True)
    after_ctrl_c = campaign_status("stop", project_dir=project)
    term = _start_and_signal(project, env, signal.SIGTERM, to_group=False)  # what a scheduler sends tipsurf
    after_term = campaign_status("stop", project_dir=project)
    final = run_campaign("stop", project_dir=project, workers=2)
    with open_launchpad(project_dir=project) as handle:
        launches = list(handle.lp.launches.find({}, {"fw_id": 1, "state": 1}))
    return {"project": project, "ctrl_c": ctrl_c, "term": term, "after_ctrl_c": after_ctrl_c,
            "after_term": after_term, "final": final, "launches": launches}


@pytest.mark.parametrize("which, code", [("ctrl_c", 130), ("term", 128 + signal.SIGTERM)])
def test_signal_stops_pw_at_once_with_one_line(stopped: dict[str, Any], which: str, code: int) -> None:
    run = stopped[which]
    assert run["rc"] == code and run["took_s"] < 20
    assert run["left"] == [], "a pw.x outlived tipsurf"
    lines = [line for line in run["stderr"].splitlines() if line.strip() and not line.startswith(("running", "campaign"))]
    assert "Traceback" not in run["stderr"]
    assert [line for line in lines if line.startswith("error:")] == lines[-1:]
    assert "queued again" in lines[-1] and "run the same command to resume" in lines[-1]


@pytest.mark.parametrize("which", ["after_ctrl_c", "after_term"])
def test_interrupted_points_are_queued_not_failed_and_keep_their_output(stopped: dict[str, Any], which: str) -> None:
    counts = stopped[which]["counts"]
    assert counts["failed"] == 0 and counts["running"] == 0 and counts["ready"] >= 1
    assert list((stopped["project"] / ".tipsurf" / "calcs").glob("*/pw.out.interrupted"))


def test_next_run_finishes_without_recomputing_finished_points(stopped: dict[str, Any]) -> None:
    status = stopped["final"]["status"]
    assert status["counts"]["done"] == status["total"] == 6 and status["analysis_state"] == "COMPLETED"
    completed = [launch["fw_id"] for launch in stopped["launches"] if launch["state"] == "COMPLETED"]
    assert len(completed) == len(set(completed))  # no Firework completed twice


def _signal_when_iterating(cmd: list[str], folder: Path, env: dict[str, str], sig: int) -> dict[str, Any]:
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.read_text(errors="replace").count("estimated scf accuracy") >= 1 for p in folder.rglob("pw.out")):
            break
        time.sleep(0.3)
    t0 = time.monotonic()
    os.killpg(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    return {"rc": proc.returncode, "took_s": time.monotonic() - t0, "stderr": err, "left": _pw_in(folder)}


def test_ctrl_c_stops_the_demo_and_its_pw_x(env: dict[str, str], tmp_path: Path) -> None:
    run = _signal_when_iterating([sys.executable, "-m", "tipsurf.cli", "demo", "--quick", "-o", str(tmp_path / "demo")],
                                 tmp_path / "demo", env, signal.SIGINT)
    assert run["rc"] == 130 and run["took_s"] < 20 and run["left"] == []
    assert "Traceback" not in run["stderr"] and "run the same command to resume" in run["stderr"]
    status = campaign_status(None, project_dir=tmp_path / "demo")["campaigns"][0]["counts"]
    assert status["running"] == 0 and status["failed"] == 0


def test_sigterm_stops_run_calc_and_its_pw_x(env: dict[str, str], tmp_path: Path) -> None:
    from wf_helpers import TINY_OVERRIDES

    from tipsurf.engines.presets import load_preset, merge_preset
    from tipsurf.engines.qe import QEEngine
    from tipsurf.structures.specs import JunctionSpec

    kwargs = tiny_scan_kwargs()
    atoms = JunctionSpec(kwargs["surface"], kwargs["tip"], "top", 0, 4.5, "p", vacuum_above_tip_A=5.0).build()
    QEEngine().write_inputs(atoms, merge_preset(load_preset("fast"), TINY_OVERRIDES), tmp_path / "calc")
    run = _signal_when_iterating([sys.executable, "-m", "tipsurf.cli", "run-calc", "--code", "qe", str(tmp_path / "calc")],
                                 tmp_path / "calc", env, signal.SIGTERM)
    assert run["rc"] != 0 and run["took_s"] < 20 and run["left"] == []
    assert "Traceback" not in run["stderr"] and run["stderr"].strip().startswith("error:")
    assert (tmp_path / "calc" / "pw.out.interrupted").is_file()


def test_injected_crash_pw_command_false_gets_one_line_and_is_retried_by_the_next_run(env: dict[str, str], tmp_path: Path) -> None:
    add_distance_scan(distances="5.0", configs=["p"], name="retry", warm_start=False, project_dir=tmp_path,
                      **tiny_scan_kwargs())
    broken = {**env, "TIPSURF_PW_COMMAND": "false"}  # pw.x 'crashes' at once (exit 1, no output)
    cmd = [sys.executable, "-m", "tipsurf.cli", "run", "--name", "retry", "--project", str(tmp_path)]
    first = subprocess.run(cmd, env=broken, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in first.stderr
    failed = [line for line in first.stderr.splitlines() if line.startswith("failed")]
    assert len(failed) == 1 and "log:" in failed[0] and "rocket_errors.log" in failed[0]
    assert campaign_status("retry", project_dir=tmp_path)["counts"]["failed"] == 1
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)  # the cause is gone
    assert second.returncode == 0 and "retrying 1 point(s)" in second.stderr
    assert campaign_status("retry", project_dir=tmp_path)["counts"]["done"] == 1
