"""Run campaigns locally (one or more rockets at a time), report their status, re-queue failures.

:func:`run_campaign` is FireWorks' rapidfire loop made explicit so that the embedded store is
saved after every rocket and a progress callback sees every step: it pulls the next READY
Firework of the campaign (an ``FWorker`` whose query selects the campaign), runs it in a fresh
launcher folder under ``.tipsurf/launches`` and saves.  Killing it loses at most the running
points, which the next ``tipsurf run`` starts again (see :mod:`tipsurf.workflows.launchpad`).

With ``workers=2`` two such loops run in two threads of this process on the one launchpad
(e.g. the p and ap chains of a scan at once).  They take turns on the store under
:data:`tipsurf.concurrency.STATE_LOCK`: picking and checking out a Firework, the task's store
work and every save happen under it, and only the external code's run is outside it, so a
Firework is checked out exactly once and no point is lost or run twice.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from tipsurf.concurrency import STOP_REQUESTED, holding_state, stop_children
from tipsurf.workflows import store
from tipsurf.workflows.common import SPEC_CAMPAIGN, SPEC_FINGERPRINT, SPEC_POINT, SPEC_ROLE
from tipsurf.errors import InputError, RunInterrupted
from tipsurf.workflows.launchpad import LaunchpadHandle, open_launchpad

STATE_GROUPS = {
    "COMPLETED": "done",
    "READY": "ready",
    "WAITING": "waiting",
    "RESERVED": "running",
    "RUNNING": "running",
    "FIZZLED": "failed",
    "DEFUSED": "paused",
    "PAUSED": "paused",
    "ARCHIVED": "paused",
}
ROCKET_LOG = "rocket_errors.log"
COUNT_KEYS = ("done", "ready", "waiting", "running", "failed", "paused", "missing")

ProgressCallback = Callable[[dict[str, Any]], None]


def _campaign_query(name: str | None) -> dict[str, Any]:
    return {f"spec.{SPEC_CAMPAIGN}": name} if name else {f"spec.{SPEC_CAMPAIGN}": {"$exists": True}}


def status_from_handle(handle: LaunchpadHandle, name: str) -> dict[str, Any]:
    """Status of one campaign from an open launchpad (see :func:`campaign_status`)."""
    campaign = store.get_campaign(handle.db, name)
    fws: dict[str, dict[str, Any]] = {}
    analysis_state = None
    for doc in handle.lp.fireworks.find({f"spec.{SPEC_CAMPAIGN}": name}, {"fw_id": 1, "state": 1, "spec": 1}):
        if doc["spec"].get(SPEC_ROLE) == "analysis":
            if analysis_state is None or doc["state"] != "COMPLETED":
                analysis_state = doc["state"]
            continue
        fws[doc["spec"].get(SPEC_FINGERPRINT)] = doc
    fingerprints = [p["fingerprint"] for p in campaign.get("points", [])]
    others = {d["spec"][SPEC_FINGERPRINT]: d for d in handle.lp.fireworks.find(
        {f"spec.{SPEC_FINGERPRINT}": {"$in": [f for f in fingerprints if f not in fws]}}, {"fw_id": 1, "state": 1, "spec": 1})}
    results = {d["fingerprint"]: d for d in handle.db[store.RESULTS].find(
        {"fingerprint": {"$in": fingerprints}}, {"fingerprint": 1, "converged": 1, "energy_eV": 1, "n_scf": 1, "_warm_start_from": 1})}
    counts = dict.fromkeys(COUNT_KEYS, 0)
    points = []
    for point in campaign.get("points", []):
        fp = point["fingerprint"]
        doc = fws.get(fp) or others.get(fp)
        result = results.get(fp) or {}
        if result.get("converged"):
            group = "done"
        elif doc is not None:
            group = STATE_GROUPS.get(doc["state"], "waiting")
        else:
            group = "missing"
        counts[group] += 1
        points.append({
            "label": point.get("label"), "fingerprint": fp, "state": group,
            "fw_id": None if doc is None else doc["fw_id"], "metadata": point.get("metadata", {}),
            "energy_eV": result.get("energy_eV"), "n_scf": result.get("n_scf"),
            "warm_start_from": result.get("_warm_start_from"),
        })
    return {
        "campaign": name,
        "kind": campaign.get("kind"),
        "launchpad": handle.describe() + (" (last saved state; in use by another process)" if handle.busy_message else ""),
        "total": len(points),
        "counts": counts,
        "analysis_state": analysis_state,
        "analysis_stored": bool(campaign.get("analysis")),
        "recovered": list(handle.recovered),
        "points": points,
    }


def campaign_status(
    name: str | None = None, launchpad: str | Path | None = None, project_dir: str | Path | None = None
) -> dict[str, Any]:
    """Counts of points done / ready / waiting / running / failed, per campaign.

    Parameters
    ----------
    name
        One campaign, or None for every campaign of the launchpad (``{"campaigns": [...]}``).
    launchpad, project_dir
        See :func:`tipsurf.workflows.launchpad.open_launchpad`; a busy embedded store is read
        in its last saved state.
    """
    with open_launchpad(launchpad, project_dir, snapshot=True) as handle:
        if name:
            return status_from_handle(handle, name)
        return {
            "launchpad": handle.describe(),
            "campaigns": [status_from_handle(handle, n) for n in store.campaign_names(handle.db)],
        }


def _quiet_fireworks_console() -> None:
    """Keep FireWorks' INFO chatter in its log files, off the console (tipsurf shows progress)."""
    import logging

    import fireworks.core.rocket as rocket

    rocket.ROCKET_STREAM_LOGLEVEL = "WARNING"
    for name in ("rocket.launcher", "launchpad"):
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler:
                handler.setLevel(logging.WARNING)


def _next_launcher_dir(root: Path) -> Path:
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d-%H-%M-%S-%f")
    path = root / f"launcher_{stamp}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def run_campaign(
    name: str | None = None,
    progress: ProgressCallback | None = None,
    *,
    launchpad: str | Path | None = None,
    project_dir: str | Path | None = None,
    max_rockets: int | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Run the READY Fireworks of a campaign (or of all campaigns) here, ``workers`` at a time.

    Parameters
    ----------
    name
        Campaign to run; None runs every tipsurf Firework of the launchpad.
    progress
        Called with a dict (``campaign``, ``event`` = ``start``/``done``/``finished``,
        ``label``, ``fw_id``, ``state``, ``counts``, ``total``) before and after every rocket.
    max_rockets
        Stop after this many rockets (default: until nothing is ready).
    workers
        Rockets run at once (threads sharing the launchpad; 2 uses both cores of a small
        machine for two serial pw.x runs).

    Returns
    -------
    dict
        ``{"rockets": n, "recovered": [...], "status": campaign_status(...)}``.

    Raises
    ------
    LaunchpadBusyError
        The embedded launchpad is held by another process.
    """
    from fireworks import FWorker

    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 16:
        raise InputError(f"workers must be an integer 1..16 (rockets at once), got {workers!r}")
    fworker = FWorker(name="tipsurf-local", query=_campaign_query(name))
    with open_launchpad(launchpad, project_dir) as handle:
        if name:
            store.get_campaign(handle.db, name)  # clear error for an unknown name
        names = [name] if name else store.campaign_names(handle.db)
        requeued = _requeue_failed(handle, name)
        loop = _RocketLoop(handle, fworker, names, name, progress, max_rockets)
        loop.notify("begin", recovered=handle.recovered, requeued=requeued)
        _quiet_fireworks_console()
        home = os.getcwd()
        STOP_REQUESTED.clear()
        try:
            loop.run_threads(workers)
        finally:
            os.chdir(home)
        loop.notify("finished")
        status = status_from_handle(handle, name) if name else {
            "campaigns": [status_from_handle(handle, n) for n in names]}
        return {"rockets": loop.rockets, "recovered": handle.recovered, "requeued": requeued, "status": status}


def _requeue_failed(handle: LaunchpadHandle, name: str | None) -> list[int]:
    """Put the campaign's FIZZLED Fireworks back to READY: a new run retries what failed before."""
    fizzled = [int(d["fw_id"]) for d in handle.lp.fireworks.find({**_campaign_query(name), "state": "FIZZLED"}, {"fw_id": 1})]
    for fw_id in fizzled:
        handle.lp.rerun_fw(fw_id, rerun_duplicates=False)
    if fizzled:
        handle.flush()
    return fizzled


def _failure_line(handle: LaunchpadHandle, fw_id: int) -> str | None:
    """The one-line reason of a fizzled Firework (last line of its stored stack trace)."""
    doc = handle.lp.launches.find_one({"fw_id": fw_id}, {"action": 1}, sort=[("launch_id", -1)]) or {}
    trace = ((((doc.get("action") or {}).get("stored_data") or {}).get("_exception") or {}).get("_stacktrace") or "")
    last = [line for line in trace.strip().splitlines() if line.strip()][-1:] or [""]
    return last[0].split(": ", 1)[-1] or None


class _Stop(BaseException):
    """Raised in the main thread by a stop signal (SIGINT, SIGTERM, SIGHUP)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _stop_signals_handled_by(handler: Any) -> Iterator[None]:
    """Inside the block SIGINT/SIGTERM/SIGHUP go to ``handler`` (main thread only; restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop(signum)


@contextmanager
def _thread_errors_to(path: Path) -> Iterator[None]:
    """Uncaught exceptions of helper threads (e.g. FireWorks' ping of a launch that a stop just
    queued again) go to ``path``, never as a traceback on the console."""
    import traceback

    def hook(args: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as log:
            log.write(f"thread {args.thread.name if args.thread else '?'}:\n")
            log.write("".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    old = threading.excepthook
    threading.excepthook = hook
    stopped = False
    try:
        yield
    except BaseException:
        stopped = True  # daemon threads of the stopped rockets may still fail on the way out: keep the hook
        raise
    finally:
        if not stopped:
            threading.excepthook = old


class _RocketLoop:
    """The pull-run-save loop of :func:`run_campaign`, shared by its worker threads."""

    def __init__(self, handle: LaunchpadHandle, fworker: Any, names: list[str], name: str | None,
                 progress: ProgressCallback | None, max_rockets: int | None) -> None:
        self.handle, self.fworker, self.names, self.name = handle, fworker, names, name
        self.progress, self.max_rockets = progress, max_rockets
        self.rockets = 0
        self.busy = 0
        self.errors: list[BaseException] = []
        self.running: dict[Any, str] = {}
        self.interrupted: dict[Any, str] = {}

    def notify(self, event: str, **extra: Any) -> None:
        if self.progress is None:
            return
        counts = dict.fromkeys(COUNT_KEYS, 0)
        total = 0
        for n in self.names:
            status = status_from_handle(self.handle, n)
            total += status["total"]
            for key, value in status["counts"].items():
                counts[key] += value
        self.progress({"campaign": self.name, "event": event, "counts": counts, "total": total, **extra})

    def _next(self) -> dict[str, Any] | None | str:
        """The next READY Firework; ``"wait"`` if none is ready but a running one may free some."""
        if STOP_REQUESTED.is_set() or (self.max_rockets is not None and self.rockets >= self.max_rockets):
            return None
        nxt = self.handle.lp.fireworks.find_one({"state": "READY", **self.fworker.query}, {"fw_id": 1, "name": 1, "spec": 1},
                                                sort=[("spec._priority", -1), ("fw_id", 1)])
        if nxt is None:
            return "wait" if self.busy else None
        return nxt

    def _launch(self, nxt: dict[str, Any]) -> None:
        """One rocket (called holding the state lock; pw.x runs release it)."""
        from fireworks.core.rocket import Rocket

        label = nxt.get("spec", {}).get(SPEC_POINT, {}).get("label") or nxt.get("name")
        fw_id = nxt.get("fw_id")
        self.rockets += 1
        self.busy += 1
        self.running[fw_id] = label
        folder = _next_launcher_dir(self.handle.launches_dir)
        try:
            self.notify("start", label=label, fw_id=fw_id)
            os.chdir(folder)  # the Rocket records its launch dir from the cwd
            with open(folder / ROCKET_LOG, "w") as log:  # tracebacks go here, not to the console
                Rocket(self.handle.lp, self.fworker, fw_id).run(err_file=log)
            self.handle.flush()
        finally:
            self.busy -= 1
            self.running.pop(fw_id, None)
        state = (self.handle.lp.fireworks.find_one({"fw_id": fw_id}, {"state": 1}) or {}).get("state")
        extra: dict[str, Any] = {}
        if state == "FIZZLED":
            if STOP_REQUESTED.is_set():
                self.interrupted[fw_id] = label
                state = "INTERRUPTED"
            else:
                extra = {"reason": _failure_line(self.handle, fw_id), "log": str(folder / ROCKET_LOG)}
        self.notify("done", label=label, fw_id=fw_id, state=state, **extra)

    def work(self) -> None:
        """Pull and run rockets until none is ready (and none running could make one ready)."""
        while True:
            with holding_state():
                if self.errors:
                    return
                nxt = self._next()
                if isinstance(nxt, dict):
                    try:
                        self._launch(nxt)
                    except BaseException as err:  # noqa: BLE001  (stop the other workers too)
                        self.errors.append(err)
                        raise
                    continue
            if nxt is None:
                return
            time.sleep(0.5)  # another worker runs a point whose children may become ready

    def run_threads(self, workers: int) -> None:
        """Run ``workers`` loops in threads; this (main) thread waits and handles stop signals."""
        threads = [threading.Thread(target=self._work_quietly, name=f"tipsurf-worker-{i}", daemon=True) for i in range(workers)]
        with _stop_signals_handled_by(_raise_stop), _thread_errors_to(self.handle.launches_dir / "thread_errors.log"):
            try:
                for thread in threads:
                    thread.start()
                while any(t.is_alive() for t in threads):
                    for thread in threads:
                        thread.join(timeout=0.2)
            except _Stop as stop:
                self._stop(threads, stop.signum)
        if self.errors:
            raise self.errors[0]

    def _stop(self, threads: list[threading.Thread], signum: int) -> None:
        """Stop the external programs, let the workers record their points, queue those again."""
        STOP_REQUESTED.set()
        with _stop_signals_handled_by(signal.SIG_IGN):  # a second Ctrl-C must not cut the clean-up short
            stopped = stop_children()
            for thread in threads:
                thread.join(timeout=120)
            stopped += stop_children()  # a pw.x that started while the stop was under way
            with holding_state():
                # every rocket in flight is queued again, also one whose worker did not get to
                # record it (stopped between check-out and pw.x, or still inside custodian)
                self.interrupted.update(self.running)
                for fw_id in list(self.interrupted):
                    state = (self.handle.lp.fireworks.find_one({"fw_id": fw_id}, {"state": 1}) or {}).get("state")
                    if state in ("RUNNING", "RESERVED", "FIZZLED"):
                        self.handle.lp.rerun_fw(fw_id, rerun_duplicates=False)
                self.handle.flush()
        STOP_REQUESTED.clear()
        name = signal.Signals(signum).name
        points = ", ".join(self.interrupted.values()) or "none running"
        raise RunInterrupted(
            f"{name}: stopped {len(stopped)} pw.x run(s); interrupted point(s) {points} are queued again with "
            "their partial output kept (pw.out.interrupted); finished points are stored; run the same command to resume",
            exit_code=128 + int(signum),
        )

    def _work_quietly(self) -> None:
        try:
            self.work()
        except BaseException:  # noqa: BLE001  (re-raised by run_threads in the main thread)
            pass


def rerun_campaign(
    name: str | None = None,
    *,
    launchpad: str | Path | None = None,
    project_dir: str | Path | None = None,
    lost_after_s: float | None = None,
) -> dict[str, Any]:
    """Put the FIZZLED Fireworks of a campaign back to READY (finished points stay finished).

    With a MongoDB launchpad, ``lost_after_s`` also re-queues RUNNING Fireworks whose worker
    stopped pinging for that long (FireWorks' ``detect_lostruns``).  On the embedded launchpad
    runs of a dead process are recovered automatically whenever it is opened.
    """
    with open_launchpad(launchpad, project_dir) as handle:
        if name:
            store.get_campaign(handle.db, name)
        query = {**_campaign_query(name), "state": "FIZZLED"}
        fizzled = [int(d["fw_id"]) for d in handle.lp.fireworks.find(query, {"fw_id": 1})]
        for fw_id in fizzled:
            handle.lp.rerun_fw(fw_id, rerun_duplicates=False)
        lost: list[int] = []
        if lost_after_s is not None and handle.kind == "mongodb":
            lost_launches, lost_fws, _ = handle.lp.detect_lostruns(expiration_secs=lost_after_s, rerun=True)
            lost = [int(i) for i in lost_fws]
        handle.flush()
        return {"rerun": fizzled, "lost": lost, "recovered": handle.recovered}
