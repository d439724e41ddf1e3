"""Run campaigns locally (one rocket at a time), report their status, re-queue failures.

:func:`run_campaign` is FireWorks' rapidfire loop made explicit so that the embedded store is
saved after every rocket and a progress callback sees every step: it pulls the next READY
Firework of the campaign (an ``FWorker`` whose query selects the campaign), runs it in a fresh
launcher folder under ``.tipsurf/launches`` and saves.  Killing it loses at most the running
point, which the next ``tipsurf run`` starts again (see :mod:`tipsurf.workflows.launchpad`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from tipsurf.workflows import store
from tipsurf.workflows.common import SPEC_CAMPAIGN, SPEC_FINGERPRINT, SPEC_POINT, SPEC_ROLE
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
        "launchpad": handle.describe() + (" (last saved state; in use by another process)" if handle.read_only else ""),
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
    with open_launchpad(launchpad, project_dir, read_only_ok=True) as handle:
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


@contextmanager
def _in_folder(path: Path) -> Iterator[None]:
    old = os.getcwd()
    path.mkdir(parents=True, exist_ok=True)
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


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
) -> dict[str, Any]:
    """Run the READY Fireworks of a campaign (or of all campaigns) here, one at a time.

    Parameters
    ----------
    name
        Campaign to run; None runs every tipsurf Firework of the launchpad.
    progress
        Called with a dict (``campaign``, ``event`` = ``start``/``done``/``finished``,
        ``label``, ``fw_id``, ``state``, ``counts``, ``total``) before and after every rocket.
    max_rockets
        Stop after this many rockets (default: until nothing is ready).

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
    from fireworks.core.rocket_launcher import launch_rocket

    fworker = FWorker(name="tipsurf-local", query=_campaign_query(name))
    rockets = 0
    with open_launchpad(launchpad, project_dir) as handle:
        if name:
            store.get_campaign(handle.db, name)  # clear error for an unknown name
        names = [name] if name else store.campaign_names(handle.db)

        def notify(event: str, **extra: Any) -> None:
            if progress is None:
                return
            counts = dict.fromkeys(COUNT_KEYS, 0)
            total = 0
            for n in names:
                status = status_from_handle(handle, n)
                total += status["total"]
                for key, value in status["counts"].items():
                    counts[key] += value
            progress({"campaign": name, "event": event, "counts": counts, "total": total, **extra})

        notify("begin", recovered=handle.recovered)
        while (max_rockets is None or rockets < max_rockets) and handle.lp.run_exists(fworker):
            nxt = handle.lp.fireworks.find_one({"state": "READY", **fworker.query}, {"fw_id": 1, "name": 1, "spec": 1},
                                               sort=[("spec._priority", -1), ("fw_id", 1)])
            label = (nxt or {}).get("spec", {}).get(SPEC_POINT, {}).get("label") or (nxt or {}).get("name")
            notify("start", label=label, fw_id=(nxt or {}).get("fw_id"))
            _quiet_fireworks_console()
            with _in_folder(_next_launcher_dir(handle.launches_dir)):
                launch_rocket(handle.lp, fworker, fw_id=(nxt or {}).get("fw_id"), strm_lvl="ERROR")
            handle.flush()
            rockets += 1
            state = handle.lp.fireworks.find_one({"fw_id": (nxt or {}).get("fw_id")}, {"state": 1}) if nxt else None
            notify("done", label=label, fw_id=(nxt or {}).get("fw_id"), state=(state or {}).get("state"))
        notify("finished")
        status = status_from_handle(handle, name) if name else {
            "campaigns": [status_from_handle(handle, n) for n in names]}
        return {"rockets": rockets, "recovered": handle.recovered, "status": status}


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
