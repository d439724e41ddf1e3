"""The embedded launchpad under concurrency: 20 processes add or re-queue work at once.

Every attempt must either succeed (serialised by the file lock) or be refused with a clear,
one-line LaunchpadBusyError; afterwards the store must hold exactly the work of the
successful attempts (no lost write) and still be valid JSON.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

import pytest

N_PROCESSES = 20
N_RERUNNERS = 5


def _attempt(index: int, project: str, queue: "mp.Queue") -> None:
    """Child: add a one-point scan, re-queue failures or start a runner; report what happened."""
    from tipsurf.errors import LaunchpadBusyError, TipsurfError

    try:
        if index < N_PROCESSES - N_RERUNNERS:
            from tipsurf.structures.specs import MnW110Spec, TipSpec
            from tipsurf.api.campaigns import add_distance_scan

            report = add_distance_scan(MnW110Spec(size=(1, 1), w_layers=1), TipSpec(layers=1), "top",
                                       [4.0 + 0.1 * index], configs=["p"], name=f"c{index:02d}",
                                       project_dir=project)
            queue.put((index, "ok", report.campaign, [p["fingerprint"] for p in report.added]))
        elif index % 2:
            from tipsurf.workflows.runner import rerun_campaign

            rerun_campaign(None, project_dir=project)  # re-queue failed work (a write)
            queue.put((index, "ok", None, []))
        else:
            from tipsurf.workflows.runner import run_campaign

            run_campaign(None, project_dir=project, max_rockets=0)  # a runner taking the store (no pw.x)
            queue.put((index, "ok", None, []))
    except LaunchpadBusyError as err:
        queue.put((index, "busy", str(err), []))
    except TipsurfError as err:  # pragma: no cover - reported by the parent
        queue.put((index, "error", f"{type(err).__name__}: {err}", []))
    except BaseException as err:  # pragma: no cover
        queue.put((index, "crash", f"{type(err).__name__}: {err}", []))


def test_twenty_concurrent_writers_lose_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qe_pseudos) -> None:
    pytest.importorskip("tipsurf.workflows.scan")
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs fork")
    from tipsurf.workflows import store
    from tipsurf.workflows.launchpad import open_launchpad

    cfg = Path(os.environ["TIPSURF_CONFIG"])
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('qe_version: "6.7"\n')
    project = tmp_path / "proj"
    with open_launchpad(project_dir=project):  # create the store first
        pass

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    barrier_procs = [ctx.Process(target=_attempt, args=(i, str(project), queue)) for i in range(N_PROCESSES)]
    for proc in barrier_procs:
        proc.start()
    outcomes = [queue.get(timeout=120) for _ in barrier_procs]
    for proc in barrier_procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0

    bad = [o for o in outcomes if o[1] not in {"ok", "busy"}]
    assert not bad, f"attempts failed otherwise than 'busy': {bad}"
    busy = [o for o in outcomes if o[1] == "busy"]
    for _, _, message, _ in busy:
        assert "\n" not in message and "in use" in message and "launchpad" in message, message
    added = {o[2]: o[3] for o in outcomes if o[1] == "ok" and o[2]}
    assert len([o for o in outcomes if o[1] == "ok"]) >= 1

    json.loads((project / ".tipsurf" / "launchpad.json").read_text())  # still valid JSON
    with open_launchpad(project_dir=project) as handle:
        names = set(store.campaign_names(handle.db))
        fw_fps = {d["spec"].get("_tipsurf_fingerprint") for d in handle.lp.fireworks.find({}, {"spec": 1})}
        n_fws = handle.lp.fireworks.count_documents({})
    assert names == set(added), f"campaigns stored {sorted(names)} != successful adds {sorted(added)}"
    for name, fps in added.items():
        assert set(fps) <= fw_fps, f"Fireworks of {name} lost"
    # per successful add: its point and its two fragments (slab and tip alone, for the
    # superposed start) and one analysis Firework; nothing duplicated
    assert all(len(fps) == 3 for fps in added.values())
    assert n_fws == 4 * len(added)
    print(f"\nconcurrency: {N_PROCESSES} attempts, {len(outcomes) - len(busy)} serialised, {len(busy)} refused busy")


def test_a_claimed_fingerprint_makes_the_second_worker_wait_for_the_first() -> None:
    # two campaigns that share a point: the second worker to reach it must not start a second
    # pw.x in the same folder; it waits for the owner's block to end (then reuses its result)
    import threading

    from tipsurf.concurrency import claim

    order: list[str] = []
    inside = threading.Event()
    waited: list[bool] = []

    def owner() -> None:
        with claim("fp") as other:
            assert other is None
            inside.set()
            order.append("owner computes")
            threading.Event().wait(0.3)
            order.append("owner done")

    thread = threading.Thread(target=owner)
    thread.start()
    inside.wait(5)
    with claim("fp") as other:
        assert other is not None
        waited.append(other.wait(5))
        order.append("second reuses")
    thread.join()
    assert waited == [True] and order == ["owner computes", "owner done", "second reuses"]
    with claim("fp") as other:  # released again: the next claim succeeds
        assert other is None
