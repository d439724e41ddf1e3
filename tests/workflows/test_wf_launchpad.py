"""Embedded launchpad: persistence, the one-process lock, recovery of dead runs, FireWorks' lpad."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fireworks import Firework, ScriptTask, Workflow

from tipsurf.errors import LaunchpadBusyError
from tipsurf.workflows import store
from tipsurf.workflows.launchpad import open_launchpad

HOLDER = """
import sys, time
from tipsurf.workflows.launchpad import open_launchpad
with open_launchpad(project_dir=sys.argv[1]) as h:
    print("held", flush=True)
    time.sleep(60)
"""


def _wf(name: str, n: int = 2) -> Workflow:
    return Workflow([Firework(ScriptTask.from_str("true"), name=f"{name}-{i}") for i in range(n)], name=name)


def test_every_operation_is_saved_without_waiting_for_process_exit(tmp_path: Path) -> None:
    with open_launchpad(project_dir=tmp_path) as handle:
        handle.lp.add_wf(_wf("a"))
        handle.flush()
        # another reader sees the saved state while this process still holds the store
        saved = json.loads((tmp_path / ".tipsurf" / "launchpad.json").read_text())
        assert len(saved["tipsurf"]["fireworks"]["documents"]) == 2
        store.store_result(handle.db, {"fingerprint": "abc", "code": "qe", "energy_eV": -1.5, "converged": True}, campaign="c")
    with open_launchpad(project_dir=tmp_path) as handle:
        assert len(handle.lp.get_fw_ids()) == 2
        assert store.get_result(handle.db, "abc")["_campaigns"] == ["c"]


def test_second_process_is_refused_with_the_holder_pid(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(LaunchpadBusyError) as err:
            with open_launchpad(project_dir=tmp_path):
                pass
        message = str(err.value)
        assert f"process {proc.pid}" in message and "MongoDB" in message and "\n" not in message
        # status-like readers get the last saved state instead
        with open_launchpad(project_dir=tmp_path, read_only_ok=True) as handle:
            assert handle.read_only
    finally:
        proc.kill()
        proc.wait()
    with open_launchpad(project_dir=tmp_path) as handle:  # the lock died with the process
        assert not handle.read_only


def test_runs_of_a_dead_process_are_put_back_to_ready(tmp_path: Path) -> None:
    with open_launchpad(project_dir=tmp_path) as handle:
        handle.lp.add_wf(_wf("b", 1))
        fw_id = handle.lp.get_fw_ids()[0]
        fw, _ = handle.lp.checkout_fw(__import__("fireworks").FWorker(), str(tmp_path))
        assert fw.fw_id == fw_id
        handle.flush()  # the store now says RUNNING, as if the process were killed mid-run
    with open_launchpad(project_dir=tmp_path) as handle:
        assert handle.recovered == [fw_id]
        assert handle.lp.get_fw_by_id(fw_id).state == "READY"


def test_a_snapshot_read_touches_no_run(tmp_path: Path) -> None:
    with open_launchpad(project_dir=tmp_path) as handle:
        handle.lp.add_wf(_wf("c", 1))
        fw_id = handle.lp.get_fw_ids()[0]
        handle.lp.checkout_fw(__import__("fireworks").FWorker(), str(tmp_path))
        handle.flush()  # RUNNING, e.g. by an rlaunch that works on the store without tipsurf's lock
    before = (tmp_path / ".tipsurf" / "launchpad.json").read_bytes()
    with open_launchpad(project_dir=tmp_path, snapshot=True) as handle:  # what status/results use
        assert handle.read_only and handle.recovered == [] and handle.busy_message is None
        assert handle.lp.get_fw_by_id(fw_id).state == "RUNNING"
    assert (tmp_path / ".tipsurf" / "launchpad.json").read_bytes() == before  # nothing written
    assert not (tmp_path / ".tipsurf" / "launchpad.owner").exists()


def test_fireworks_lpad_sees_the_embedded_workflows(tmp_path: Path) -> None:
    with open_launchpad(project_dir=tmp_path) as handle:
        handle.lp.add_wf(_wf("visible-to-lpad"))
    state = tmp_path / ".tipsurf"
    env = {**os.environ, "FW_CONFIG_FILE": str(state / "FW_config.yaml")}
    out = subprocess.run(["lpad", "-l", str(state / "my_launchpad.yaml"), "get_wflows", "-d", "less"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "visible-to-lpad" in out.stdout
