"""Submission to SLURM/PBS with FireWorks' queue launcher (qlaunch) and CommonAdapter.

The shipped adapters (``templates/queues/slurm.yaml``, ``pbs.yaml``) are ordinary FireWorks
CommonAdapter files with a tipsurf job template beside them (account, partition/queue, nodes,
cores, walltime, modules, the pw.x / VASP command).  :func:`submit_campaign` fills them in,
writes a FireWorks worker file whose query selects the campaign, and then either

* submits with ``fireworks.queue.queue_launcher.rapidfire`` (what ``qlaunch rapidfire`` does;
  reservation mode = one job per Firework, ``qlaunch -r``), which needs a MongoDB launchpad
  that the compute nodes can reach; or
* with ``dry_run=True`` only writes the submission scripts (no database change, no ``sbatch``):
  one per READY Firework in reservation mode, else ``njobs`` scripts that each run
  ``rlaunch rapidfire`` over the campaign.

The job exports ``TIPSURF_WALLTIME_S`` (the requested walltime in seconds); the calculation
task hands it to the code (QE ``max_seconds``, VASP STOPCAR) so custodian can stop cleanly and
a re-run restarts.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from tipsurf.errors import ConfigurationError, InputError, ProgramNotFoundError, existing_file
from tipsurf.templates import load_template, template_dir
from tipsurf.workflows import store
from tipsurf.workflows.common import SPEC_CAMPAIGN
from tipsurf.workflows.launchpad import open_launchpad

QUEUES = ("slurm", "pbs")
SUBMIT_COMMANDS = {"SLURM": "sbatch", "PBS": "qsub"}
_TIPSURF_KEYS = ("modules", "walltime_s")


def walltime_seconds(text: str) -> float:
    """Seconds of ``[D-]HH:MM:SS`` / ``HH:MM`` (InputError if malformed)."""
    try:
        days = 0
        if "-" in text:
            d, text = text.split("-", 1)
            days = int(d)
        parts = [int(p) for p in str(text).split(":")]
        while len(parts) < 3:
            parts.append(0)
        h, m, s = parts
        return float(days * 86400 + h * 3600 + m * 60 + s)
    except ValueError:
        raise InputError(f"walltime '{text}' must look like HH:MM:SS or D-HH:MM:SS") from None


def adapter_settings(queue: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The queue adapter dict (shipped template, or a user YAML path) with overrides applied."""
    if queue in QUEUES:
        data = load_template("queues", queue)
        base_dir = template_dir("queues")
    else:
        path = Path(queue)
        if not path.is_file():
            raise InputError(f"unknown queue '{queue}'; choose slurm, pbs or give a CommonAdapter YAML file")
        data = load_template("queues", str(path))
        base_dir = path.parent
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    template = Path(str(data.get("template_file") or ""))
    if not template.is_absolute():
        template = base_dir / template
    data["template_file"] = str(existing_file(template, "queue template"))
    modules = data.get("modules") or []
    if isinstance(modules, str):
        modules = [modules]
    data["module_lines"] = "\n".join(f"module load {m}" for m in modules) or None
    data["walltime_s"] = int(walltime_seconds(str(data.get("walltime") or "02:00:00")))
    return data


def make_adapter(settings: dict[str, Any]) -> Any:
    """A FireWorks CommonAdapter from :func:`adapter_settings` output."""
    from fireworks.user_objects.queue_adapters.common_adapter import CommonAdapter

    kwargs = {k: v for k, v in settings.items() if not k.startswith("_") and k not in _TIPSURF_KEYS
              and k not in {"q_name", "template_file"}}
    return CommonAdapter(settings["_fw_q_type"], q_name=settings.get("q_name"), template_file=settings["template_file"], **kwargs)


def _fworker_file(folder: Path, name: str | None) -> Path:
    query = {f"spec.{SPEC_CAMPAIGN}": name} if name else {f"spec.{SPEC_CAMPAIGN}": {"$exists": True}}
    path = folder / "my_fworker.yaml"
    path.write_text(yaml.safe_dump({"name": "tipsurf-queue", "category": "", "query": json.dumps(query)}))
    return path


def _embedded_run_command(project_dir: Path, name: str | None) -> str:
    """``tipsurf run`` over an embedded project (takes the store's lock like any tipsurf run)."""
    import shlex

    words = ["tipsurf", "run", "--project", str(project_dir)] + (["--name", name] if name else [])
    return " ".join(shlex.quote(w) for w in words)


def _launchpad_file(handle: Any, folder: Path, launchpad: str | Path | None) -> Path:
    """Launchpad file the jobs' rlaunch reads (the MongoDB file, or the embedded store's yaml)."""
    from tipsurf.workflows.launchpad import resolve_launchpad_file, write_fireworks_files

    target = resolve_launchpad_file(launchpad)
    if handle.kind == "mongodb" and target is not None:
        return target.resolve()
    lp_yaml, _ = write_fireworks_files(handle.state_dir)
    return lp_yaml.resolve()


def submit_campaign(
    name: str | None,
    queue: str = "slurm",
    *,
    overrides: dict[str, Any] | None = None,
    dry_run: bool = False,
    reserve: bool = False,
    njobs: int = 1,
    launchpad: str | Path | None = None,
    project_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Submit (or, with ``dry_run``, only write) queue jobs that run a campaign's Fireworks.

    Parameters
    ----------
    name
        Campaign (None: every tipsurf Firework).
    queue
        ``slurm``, ``pbs`` or a CommonAdapter YAML file.
    overrides
        Adapter keys: ``account``, ``queue`` (partition), ``nodes``, ``ntasks_per_node``,
        ``walltime``, ``modules``, ``pw_command`` ...
    dry_run
        Write the scripts under ``.tipsurf/queue/<time>/`` without submitting or reserving.
    reserve
        Reservation mode: one job per READY Firework (``rlaunch singleshot --fw_id``).
    njobs
        Jobs to submit (non-reservation mode) / at most this many in reservation mode (0 = all).

    Returns
    -------
    dict
        ``{"scripts": [...], "submitted": [...job ids], "dry_run": bool, "folder": str}``.

    Raises
    ------
    ConfigurationError
        Real submission with the embedded launchpad (compute nodes cannot share it).
    ProgramNotFoundError
        ``sbatch``/``qsub`` is not installed.
    """
    settings = adapter_settings(queue, overrides)
    with open_launchpad(launchpad, project_dir, read_only_ok=dry_run) as handle:
        if name:
            store.get_campaign(handle.db, name)
        if not dry_run and handle.kind != "mongodb":
            raise ConfigurationError(
                "queue submission needs a MongoDB launchpad that the compute nodes reach (--launchpad my_launchpad.yaml); "
                "use --dry-run to only write the scripts, or 'tipsurf run' to run here"
            )
        folder = handle.state_dir / "queue" / (time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000:06d}")
        folder.mkdir(parents=True, exist_ok=True)
        fworker_path = _fworker_file(folder, name)
        lp_path = _launchpad_file(handle, folder, launchpad)
        mode = "singleshot" if reserve else "rapidfire"
        env = f"export TIPSURF_WALLTIME_S={settings['walltime_s']}"
        settings["pre_rocket"] = "\n".join(x for x in (settings.get("pre_rocket"), env) if x)
        if handle.kind == "embedded":
            if reserve:
                raise InputError("reservation mode (one job per Firework) needs a MongoDB launchpad; "
                                 "an embedded project runs in one job: drop --reserve")
            # the embedded store is only safe under tipsurf's lock: the job runs 'tipsurf run', not rlaunch
            settings["rocket_launch"] = _embedded_run_command(handle.project_dir, name)
        else:
            settings["rocket_launch"] = f"rlaunch -l {lp_path} -w {fworker_path} {mode}"
        adapter = make_adapter(settings)
        if dry_run:
            return _write_scripts(handle, adapter, folder, name, reserve, njobs)
        command = SUBMIT_COMMANDS[settings["_fw_q_type"]]
        if shutil.which(command) is None:
            raise ProgramNotFoundError(f"{command} is not installed here; submit from a login node of the cluster or use --dry-run")
        from fireworks import FWorker
        from fireworks.queue.queue_launcher import rapidfire as queue_rapidfire

        fworker = FWorker.from_file(str(fworker_path))
        queue_rapidfire(handle.lp, fworker, adapter, launch_dir=str(folder), nlaunches=njobs, reserve=reserve,
                        strm_lvl="ERROR")
        scripts = sorted(str(p) for p in folder.rglob("FW_submit.script"))
        return {"scripts": scripts, "submitted": len(scripts), "dry_run": False, "folder": str(folder)}


def _write_scripts(handle: Any, adapter: Any, folder: Path, name: str | None, reserve: bool, njobs: int) -> dict[str, Any]:
    query = {"state": "READY", **({f"spec.{SPEC_CAMPAIGN}": name} if name else {f"spec.{SPEC_CAMPAIGN}": {"$exists": True}})}
    ready = [d["fw_id"] for d in handle.lp.fireworks.find(query, {"fw_id": 1}).sort("fw_id", 1)]
    scripts = []
    if reserve:
        chosen = ready if not njobs else ready[:njobs]
        jobs = [(f"job_fw{fw_id}", f" --fw_id {fw_id}") for fw_id in chosen]
    else:
        jobs = [(f"job_{i + 1}", "") for i in range(max(1, njobs))]
    base_launch = adapter["rocket_launch"]
    for label, suffix in jobs:
        job_dir = folder / label
        job_dir.mkdir(parents=True, exist_ok=True)
        adapter["rocket_launch"] = base_launch + suffix
        adapter["job_name"] = f"tipsurf-{label}"
        path = job_dir / "FW_submit.script"
        path.write_text(adapter.get_script_str(str(job_dir)) + "\n")
        scripts.append(str(path))
    adapter["rocket_launch"] = base_launch
    return {"scripts": scripts, "submitted": 0, "dry_run": True, "folder": str(folder), "ready_fw_ids": ready}
