"""`tipsurf` campaign commands: scan, campaign adsorbates, run, status, rerun, submit, results.

``tipsurf scan`` and ``tipsurf campaign adsorbates`` only *add* the workflow to the launchpad
(printing what was added and what already existed) unless ``--run`` is given; ``tipsurf run``
runs it here, ``tipsurf submit`` on a cluster.  Every command takes ``--launchpad FILE``
(a FireWorks my_launchpad.yaml for MongoDB; default: the embedded store in ./.tipsurf) and
``--project DIR`` (where .tipsurf/ lives; default: the current folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from tipsurf.cli import app, campaign_app
from tipsurf.cli.options import parse_float, parse_int, parse_size, shared_options
from tipsurf.cli.overrides import preset_overrides  # the one --set parser of every command
from tipsurf.errors import InputError

#: The shared options (:mod:`tipsurf.cli.options`) of the commands that add a campaign.
CAMPAIGN_OPTIONS = ("code", "walltime", "settings", "overrides_file", "run", "launchpad", "project", "as_json")


def _split(text: str, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InputError(f"{what} is empty")
    return items


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
        return
    print(f"campaign '{report.campaign}' ({report.kind}) on the {report.launchpad}")
    print(f"  added: {len(report.added)} calculation(s)" + (", plus the analysis step" if report.analysis_added else ""))
    for point in report.added:
        print(f"    + {point['label']}  [{point['fingerprint']}]")
    print(f"  already present: {len(report.existing)}")
    for point in report.existing:
        print(f"    = {point['label']}  [{point['fingerprint']}] {point.get('state', '').lower()}")
    if report.added:
        print(f"  run it with: tipsurf run --name {report.campaign}   (or tipsurf submit --name {report.campaign} --queue slurm)")


@app.command("scan")
@shared_options(*CAMPAIGN_OPTIONS)
def scan_command(
    surface: str = typer.Option("mn-w110", "--surface", help="Surface (mn-w110)."),
    tip: str = typer.Option("Fe", "--tip", help="Apex element: Fe, Co or Mn."),
    site: str = typer.Option("top", "--site", help="top or hollow."),
    distances: str = typer.Option(..., "--distances", metavar="D1,D2|START:STOP:STEP", help="Apex-surface distances (Angstrom)."),
    preset: str = typer.Option("fast", "--preset", help="Preset name or YAML file."),
    name: Optional[str] = typer.Option(None, "--name", help="Campaign name (default from tip, surface, site, code, preset)."),
    configs: str = typer.Option("p,ap", "--configs", help="Magnetic configurations (p, ap)."),
    no_warm_start: bool = typer.Option(False, "--no-warm-start", help="Start every point from scratch."),
    tip_layers: str = typer.Option("3", "--tip-layers", metavar="N", help="Tip layers (3 = 14 atoms)."),
    tip_base: str = typer.Option("Fe", "--tip-base", help="Base element of the tip."),
    w_layers: str = typer.Option("5", "--w-layers", metavar="N", help="W(110) layers."),
    size: str = typer.Option("3x2", "--size", metavar="NXxNY", help="Lateral size of the Mn/W(110) cell."),
    one_sided: bool = typer.Option(False, "--one-sided", help="Mn on the top side only."),
    mn_order: str = typer.Option("c2x2-afm", "--mn-order", help="Mn starting order: c2x2-afm (ground state) or ferro (reference)."),
    slab_vacuum: str = typer.Option("10", "--slab-vacuum", metavar="A", help="Vacuum on each side of the slab."),
    site_index: str = typer.Option("0", "--site-index", metavar="I", help="Which site of that kind."),
    vacuum_above_tip: str = typer.Option("10", "--vacuum-above-tip", metavar="A", help="Vacuum above the tip (Angstrom)."),
    relax_tip: Optional[bool] = typer.Option(None, "--relax-tip/--no-relax-tip", help="Pre-step: relax the isolated tip (apex and next layer free); default: the preset's relax_parts_before_scan."),
    relax_slab: Optional[bool] = typer.Option(None, "--relax-slab/--no-relax-slab", help="Pre-step: relax the slab (Mn and the W layer under it free); default: the preset's relax_parts_before_scan."),
    d0: str = typer.Option("5.0", "--d0", metavar="A", help="Reference distance of delta_d = d - d0."),
    **shared: Any,
) -> None:
    """Add a tip-surface distance scan (p and ap per distance) to the launchpad."""
    from tipsurf.structures.specs import MnW110Spec, TipSpec
    from tipsurf.api.campaigns import add_distance_scan

    if surface != "mn-w110":
        raise InputError(f"unknown surface '{surface}'; tipsurf scans support: mn-w110")
    surf = MnW110Spec(w_layers=parse_int("--w-layers", w_layers), size=parse_size(size), one_sided=one_sided,
                      vacuum_A=parse_float("--slab-vacuum", slab_vacuum), mn_order=mn_order)
    tip_spec = TipSpec(apex=tip, layers=parse_int("--tip-layers", tip_layers), base=tip_base)
    report = add_distance_scan(
        surf, tip_spec, site, distances, configs=_split(configs, "--configs"), preset=preset, name=name,
        site_index=parse_int("--site-index", site_index), vacuum_above_tip_A=parse_float("--vacuum-above-tip", vacuum_above_tip),
        warm_start=False if no_warm_start else None, relax_tip=relax_tip, relax_slab=relax_slab,
        d0_A=parse_float("--d0", d0), **_campaign_keywords(shared),
    )
    _report_and_run(report, shared)


@campaign_app.command("adsorbates")
@shared_options(*CAMPAIGN_OPTIONS)
def adsorbates_command(
    preset: str = typer.Option(..., "--preset", help="Preset name or YAML file (e.g. tio-mgo-qe)."),
    species: str = typer.Option("Ti,TiH,TiH2,TiH3,TiH4", "--species", help="Adsorbates."),
    sites: str = typer.Option("o-top,bridge", "--sites", help="Adsorption sites."),
    mgo_layers: str = typer.Option("2,3", "--mgo-layers", help="MgO thicknesses (monolayers)."),
    ag_layers: Optional[str] = typer.Option(None, "--ag-layers", metavar="M", help="Ag(100) layers."),
    size: Optional[str] = typer.Option(None, "--size", metavar="K", help="K x K lateral supercell."),
    no_relax: bool = typer.Option(False, "--no-relax", help="Single points instead of relaxations."),
    as_built_slab: bool = typer.Option(
        False, "--as-built-slab",
        help="Adsorbates on the as-built slab, all at once (default: on the relaxed bare slab, after it)."),
    name: Optional[str] = typer.Option(None, "--name", help="Campaign name."),
    **shared: Any,
) -> None:
    """Add the TiHx on MgO/Ag(100) campaign (relaxations, H2 and bare-slab references, post-steps)."""
    from tipsurf.api.campaigns import add_adsorbate_campaign

    slab_options: dict[str, Any] = {}
    if ag_layers:
        slab_options["ag_layers"] = parse_int("--ag-layers", ag_layers)
    if size:
        slab_options["size"] = parse_int("--size", size)
    report = add_adsorbate_campaign(
        preset=preset, species=_split(species, "--species"), sites=_split(sites, "--sites"),
        mgo_layers=[parse_int("--mgo-layers", x) for x in _split(mgo_layers, "--mgo-layers")],
        slab_options=slab_options, relax=not no_relax, on_relaxed_slab=not as_built_slab, name=name,
        **_campaign_keywords(shared),
    )
    _report_and_run(report, shared)


def _campaign_keywords(shared: dict[str, Any]) -> dict[str, Any]:
    """Keywords of ``add_distance_scan`` / ``add_adsorbate_campaign`` from the shared options."""
    walltime = shared["walltime"]
    return {"code": shared["code"], "preset_overrides": preset_overrides(shared["settings"], shared["overrides_file"]),
            "walltime_s": parse_float("--walltime", walltime) if walltime else None,
            **_store(shared)}


def _store(shared: dict[str, Any]) -> dict[str, Any]:
    """``launchpad`` and ``project_dir`` keywords of the workflow functions from the shared options."""
    return {"launchpad": shared["launchpad"], "project_dir": shared["project"]}


def _report_and_run(report: Any, shared: dict[str, Any]) -> None:
    """Print what a campaign command added and, with ``--run``, run the campaign here."""
    _print_report(report, shared["as_json"])
    if shared["run"]:
        _run(report.campaign, shared["launchpad"], shared["project"], shared["as_json"])


def _run(name: str | None, launchpad: str | None, project: Path | None, as_json: bool, workers: int = 2) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tipsurf.workflows.runner import campaign_status, run_campaign

    if name:
        campaign_status(name, launchpad=launchpad, project_dir=project)  # unknown name: error before any output
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=as_json) as bar:
        task = bar.add_task(f"campaign {name or '(all)'}", total=None)

        def progress(event: dict[str, Any]) -> None:
            counts = event["counts"]
            if event["event"] == "begin" and event.get("recovered"):
                console.print(f"recovered {len(event['recovered'])} run(s) of a stopped process: {event['recovered']}")
            label = event.get("label") or ""
            desc = {"start": f"running {label}", "done": f"finished {label} ({(event.get('state') or '').lower()})"}.get(event["event"], f"campaign {name or '(all)'}")
            bar.update(task, total=event["total"] or None, completed=counts["done"], description=desc)
            if event["event"] == "begin" and event.get("requeued"):
                console.print(f"retrying {len(event['requeued'])} point(s) that failed or were interrupted before", soft_wrap=True)
            if event["event"] == "done" and event.get("state") == "FIZZLED":
                console.print(f"[red]failed[/red] {label}: {event.get('reason') or 'see the log'} (log: {event.get('log')})",
                              soft_wrap=True)  # one line, whatever the terminal width

        out = run_campaign(name, progress=progress, launchpad=launchpad, project_dir=project, workers=workers)
    if as_json:
        print(json.dumps(out, indent=2, default=str))
        return
    _print_status(out["status"])


def _print_status(status: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    entries = status.get("campaigns") if "campaigns" in status else [status]
    console = Console()
    if not entries:
        console.print("no campaigns in this launchpad yet; add one with 'tipsurf scan' or 'tipsurf campaign adsorbates'")
    for entry in entries:
        table = Table(title=f"{entry['campaign']} ({entry['kind']}) — {entry['launchpad']}")
        for column in ("total", "done", "ready", "waiting", "running", "failed", "paused", "missing", "analysis"):
            table.add_column(column)
        c = entry["counts"]
        analysis = "stored" if entry["analysis_stored"] else (entry["analysis_state"] or "-").lower()
        table.add_row(str(entry["total"]), *(str(c[k]) for k in ("done", "ready", "waiting", "running", "failed", "paused", "missing")), analysis)
        console.print(table)


@app.command("run")
@shared_options("launchpad", "project")
def run_command(
    name: Optional[str] = typer.Option(None, "--name", help="Campaign to run (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="No progress bar; print the final status as JSON."),
    workers: str = typer.Option("2", "--workers", metavar="N", help="Calculations at once (serial pw.x each; 2 for 2 cores)."),
    **shared: Any,
) -> None:
    """Run the ready calculations of a campaign here, N at a time, with a progress bar."""
    _run(name, shared["launchpad"], shared["project"], as_json, parse_int("--workers", workers))


@app.command("status")
@shared_options("launchpad", "project")
def status_command(
    name: Optional[str] = typer.Option(None, "--name", help="Campaign (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable counts and points."),
    **shared: Any,
) -> None:
    """Points done / ready / waiting / running / failed per campaign."""
    from tipsurf.workflows.runner import campaign_status

    status = campaign_status(name, **_store(shared))
    if as_json:
        print(json.dumps(status, indent=2, default=str))
    else:
        _print_status(status)


@app.command("rerun")
@shared_options("launchpad", "project")
def rerun_command(
    name: Optional[str] = typer.Option(None, "--name", help="Campaign (default: all)."),
    lost_after: Optional[str] = typer.Option(None, "--lost-after", metavar="SECONDS",
                                             help="MongoDB: also re-queue runs whose worker stopped pinging this long ago."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    **shared: Any,
) -> None:
    """Re-queue the failed (fizzled) calculations of a campaign; finished ones are kept."""
    from tipsurf.workflows.runner import rerun_campaign

    out = rerun_campaign(name, **_store(shared),
                         lost_after_s=parse_float("--lost-after", lost_after) if lost_after else None)
    if as_json:
        print(json.dumps(out, indent=2))
    else:
        print(f"re-queued {len(out['rerun'])} failed Firework(s) {out['rerun']}" + (f", {len(out['lost'])} lost run(s)" if out["lost"] else ""))


@app.command("submit")
@shared_options("launchpad", "project")
def submit_command(
    queue: str = typer.Option("slurm", "--queue", help="slurm, pbs or a CommonAdapter YAML file."),
    name: Optional[str] = typer.Option(None, "--name", help="Campaign (default: all)."),
    account: Optional[str] = typer.Option(None, "--account", help="Account / project to charge."),
    partition: Optional[str] = typer.Option(None, "--partition", "--queue-name", help="Partition (SLURM) or queue (PBS)."),
    nodes: Optional[int] = typer.Option(None, "--nodes", help="Nodes per job."),
    cores: Optional[int] = typer.Option(None, "--cores", "--ntasks-per-node", help="MPI tasks per node."),
    walltime: Optional[str] = typer.Option(None, "--walltime", metavar="HH:MM:SS", help="Job wall time (also given to the codes)."),
    modules: Optional[list[str]] = typer.Option(None, "--module", help="Environment module to load; repeatable."),
    pw_command: Optional[str] = typer.Option(None, "--pw-command", help="How jobs start pw.x, e.g. 'srun pw.x -nk 2'."),
    vasp_command: Optional[str] = typer.Option(None, "--vasp-command", help="How jobs start VASP."),
    reserve: bool = typer.Option(False, "--reserve", help="Reservation mode: one job per calculation."),
    njobs: int = typer.Option(1, "--njobs", help="Jobs to submit (reservation mode: at most this many, 0 = all)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only write the submission scripts."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    **shared: Any,
) -> None:
    """Submit queue jobs (FireWorks qlaunch with a SLURM/PBS CommonAdapter) that run a campaign."""
    from tipsurf.workflows.queue import submit_campaign

    overrides = {"account": account, "queue": partition, "nodes": nodes, "ntasks_per_node": cores,
                 "walltime": walltime, "modules": modules or None, "pw_command": pw_command, "vasp_command": vasp_command}
    out = submit_campaign(name, queue, overrides=overrides, dry_run=dry_run, reserve=reserve, njobs=njobs,
                          **_store(shared))
    if as_json:
        print(json.dumps(out, indent=2))
        return
    verb = "wrote" if dry_run else "submitted"
    print(f"{verb} {len(out['scripts'])} job script(s) in {out['folder']}")
    for path in out["scripts"]:
        print(f"  {path}")


@app.command("results")
@shared_options("launchpad", "project")
def results_command(
    name: str = typer.Option(..., "--name", help="Campaign."),
    as_json: bool = typer.Option(False, "--json", help="Records and the analysis table as JSON."),
    **shared: Any,
) -> None:
    """Stored result records of a campaign and its analysis table (e.g. E_ex/F_ex)."""
    from tipsurf.workflows import store
    from tipsurf.workflows.launchpad import open_launchpad

    with open_launchpad(shared["launchpad"], shared["project"], snapshot=True) as handle:
        campaign = store.get_campaign(handle.db, name)
        records = store.campaign_records(handle.db, name)
    analysis = campaign.get("analysis")
    if as_json:
        print(json.dumps({"campaign": name, "kind": campaign.get("kind"), "records": records, "analysis": analysis},
                         indent=2, default=str))
        return
    print(f"campaign '{name}' ({campaign.get('kind')}): {len(records)} stored record(s)")
    for rec in records:
        meta = rec.get("metadata") or {}
        label = meta.get("config") and f"d={meta.get('distance_A')} {meta.get('config')}" or meta.get("species") or rec["fingerprint"]
        energy = rec.get("energy_eV")
        print(f"  {label:<24} E = {energy if energy is None else f'{energy:.6f}'} eV  converged={rec.get('converged')}  n_scf={rec.get('n_scf')}")
    table = (analysis or {}).get("table")
    if isinstance(table, dict) and "rows" in table:
        print("  d_A     E_ex_meV    F_ex_eV_per_A  valid")
        for row in table["rows"]:
            e = row.get("E_ex_meV")
            f = row.get("F_ex_eV_per_A")
            print(f"  {row['d_A']:<7} {'-' if e is None else f'{e:10.3f}'}  {'-' if f is None else f'{f:12.5f}'}  {row['valid']} {row.get('flags') or ''}")
    elif analysis and analysis.get("error"):
        print(f"  analysis failed: {analysis['error']}")
