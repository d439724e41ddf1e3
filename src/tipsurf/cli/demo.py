"""``tipsurf demo``: a real, small Quantum ESPRESSO p/ap distance scan, end to end.

The model and its caveats are data (``templates/demo/mn-w110-fe-floating.yaml``); this module
only strings the stages together: pseudopotentials (the configured library, or tipsurf's own
ld1.x-generated set) → ``workflows.add_distance_scan`` on an embedded launchpad in the output
folder (slab and tip fragments, then the p and ap chains) → ``workflows.run_campaign`` with two
workers and a progress display → the exchange analysis written as CSV, JSON and PNG, with the
scan's own checks (decay, F_ex against −dE_ex/dd, sign against the reference study).  Running
it again reuses every finished point and ends in seconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer

from tipsurf.cli import app

DEMO_MODEL = "mn-w110-fe-floating"
DEMO_CAMPAIGN = "demo-fe-tip-mn-w110-floating"
DEMO_WORKERS = 2


@app.command("version")
def version() -> None:
    """Print the tipsurf version."""
    from tipsurf import __version__

    print(__version__)


def load_demo_model(name: str = DEMO_MODEL) -> dict[str, Any]:
    """The demo model (surface, tip, site, distances, preset, notes) from ``templates/demo``."""
    from tipsurf.templates import load_template

    return load_template("demo", name)


def _prepare_pseudopotentials(model: dict[str, Any], console: Any) -> str:
    """Use the configured library if there is one, else generate tipsurf's own set (cached)."""
    from tipsurf.config import load_config

    config = load_config()
    if config.pseudo_dir is not None:
        return f"configured library {config.pseudo_dir}"
    from tipsurf.engines.qe.pseudo_gen import ensure_pseudopotentials

    tip = model["junction"]["tip"]
    elements = sorted({"W", "Mn", tip.get("apex", "Fe"), tip.get("base", "Fe")})
    with console.status(f"pseudopotentials for {', '.join(elements)}: generating with ld1.x if not cached ..."):
        folder, files = ensure_pseudopotentials(elements, config)
    return f"tipsurf-generated ({', '.join(files.values())}) in {folder}"


def _progress_callback(progress: Any, task_id: Any) -> Any:
    started: dict[Any, float] = {}

    def callback(event: dict[str, Any]) -> None:
        counts, total = event.get("counts", {}), max(int(event.get("total") or 0), 1)
        done = counts.get("done", 0) + counts.get("failed", 0)
        kind = event.get("event")
        if kind == "start":
            started[event.get("fw_id")] = time.monotonic()
            progress.update(task_id, total=total, completed=done, description=f"pw.x {event.get('label')}")
        elif kind == "done":
            took = time.monotonic() - started.pop(event.get("fw_id"), time.monotonic())
            line = f"  {event.get('label')}: {str(event.get('state')).lower()} in {took:.0f} s"
            if event.get("reason"):
                line += f": {event['reason']} (log: {event.get('log')})"
            progress.console.print(line, soft_wrap=True)
            progress.update(task_id, total=total, completed=done)
        else:
            progress.update(task_id, total=total, completed=done)

    return callback


def recording_failures(callback: Any, reasons: dict[Any, str]) -> Any:
    """The progress ``callback``, also keeping each failed rocket's one-line reason by fw_id."""

    def record(event: dict[str, Any]) -> None:
        if event.get("event") == "done" and event.get("reason"):
            reasons[event.get("fw_id")] = str(event["reason"])
        callback(event)

    return record


def unfinished_points(run: dict[str, Any], reasons: dict[Any, str]) -> list[dict[str, Any]]:
    """The campaign points of a ``run_campaign`` result that are not done, with their failure reason."""
    return [{**point, "reason": reasons.get(point.get("fw_id"))} for point in run["status"]["points"]
            if point["state"] != "done"]


def fail_if_unfinished(names: list[str]) -> None:
    """After the report: a non-zero exit naming the points that did not finish (nothing to do if none).

    Raises
    ------
    CalculationFailedError
        ``names`` is not empty.
    """
    from tipsurf.errors import CalculationFailedError

    if names:
        raise CalculationFailedError(f"{len(names)} point(s) did not finish: {', '.join(names)}; they have no "
                                     "number in the report, and running the same command again retries them")


def _print_table(console: Any, table: dict[str, Any]) -> None:
    from rich.table import Table

    out = Table(title="exchange energy and force (E_ex = E_ap - E_p, F_ex = F_ap - F_p)")
    for column in ("d_A", "delta_d_A", "E_ex_meV", "F_ex_eV_per_A", "-dE_ex/dd (eV/A)", "m_apex p/ap (muB)", "flags"):
        out.add_column(column, justify="right")
    for row in table["rows"]:
        fd = row.get("F_ex_fd_eV_per_A")
        out.add_row(
            f"{row['d_A']:.3f}", f"{row['delta_d_A']:+.3f}",
            "-" if row.get("E_ex_meV") is None else f"{row['E_ex_meV']:.2f}",
            "-" if row.get("F_ex_eV_per_A") is None else f"{row['F_ex_eV_per_A']:+.4f}",
            "-" if fd is None else f"{fd:+.4f}",
            f"{row.get('m_apex_p_muB', float('nan')):+.2f} / {row.get('m_apex_ap_muB', float('nan')):+.2f}",
            row.get("flags") or "",
        )
    console.print(out)


def _surface_moments(records: list[dict[str, Any]]) -> list[float]:
    moments = []
    for record in records:
        symbols, mags = record.get("symbols") or [], record.get("magmoms_muB") or []
        moments.extend(abs(m) for s, m in zip(symbols, mags) if s == "Mn")
    return moments


#: ``tipsurf demo`` runs the tip scan; its subcommands (``tipsurf demo adsorbates``) other demos.
demo_app = typer.Typer(help="Real, small QE demos: the tip scan (no subcommand) or 'adsorbates'.")
app.add_typer(demo_app, name="demo")


@demo_app.callback(invoke_without_command=True)
def demo_command(
    ctx: typer.Context,
    output: Path = typer.Option(Path("tipsurf-demo"), "-o", "--output", help="Project and output folder."),
    distances: Optional[str] = typer.Option(None, "--distances", help="Override the model's distances (A), e.g. 4.0,4.5."),
    quick: bool = typer.Option(False, "--quick", help="The model's quick settings (2x2 k mesh, ~2x cheaper): "
                               "checks the machinery; E_ex is then k-point-limited."),
) -> None:
    """Run a real, small QE p/ap distance scan of an Fe tip over Mn/W(110) and analyse it."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tipsurf.analysis.report import write_exchange_report
    from tipsurf.workflows.runner import run_campaign
    from tipsurf.api.campaigns import add_distance_scan
    from tipsurf.workflows.scan import paired_scan_records
    from tipsurf.workflows.store import load_campaign_records

    console = Console()
    model = load_demo_model()
    t0 = time.monotonic()
    console.print(f"[bold]tipsurf demo[/bold]: {model['description']}")
    console.print(f"project and results: {output.resolve()}")
    console.print(f"pseudopotentials: {_prepare_pseudopotentials(model, console)}")
    junction = model["junction"]
    overrides = None
    if quick:
        overrides = model["quick"]["preset_overrides"]
        console.print(f"[yellow]--quick:[/yellow] {' '.join(model['quick']['note'].split())}")
    report = add_distance_scan(
        junction["surface"], junction["tip"], junction["site"], distances or model["distances_A"],
        configs=model.get("configs", ("p", "ap")), preset=model["preset"], name=DEMO_CAMPAIGN,
        site_index=int(junction.get("site_index", 0)), vacuum_above_tip_A=float(junction["vacuum_above_tip_A"]),
        d0_A=float(model["d0_A"]), project_dir=output, preset_overrides=overrides,
    )
    console.print(f"campaign {report.campaign}: {len(report.added)} point(s) to compute, {len(report.existing)} already known")
    console.print("pre-relaxations of tip and slab: off in the demo (two more relaxations would double its budget; "
                  "the production preset mnw110-vasp relaxes them first, as the reference protocol does)")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    reasons: dict[Any, str] = {}
    with Progress(*columns, console=console) as progress:
        task_id = progress.add_task("starting", total=None)
        run = run_campaign(DEMO_CAMPAIGN, progress=recording_failures(_progress_callback(progress, task_id), reasons),
                           project_dir=output, workers=DEMO_WORKERS)
    unfinished = [f"{p['label']} ({p['state']}" + (f": {p['reason']})" if p.get("reason") else ")")
                  for p in unfinished_points(run, reasons)]
    records, _ = paired_scan_records(load_campaign_records(DEMO_CAMPAIGN, project_dir=output))
    if not records:
        fail_if_unfinished(unfinished)  # not one p/ap pair to report
    table, written = write_exchange_report(records, output / "results", d0_A=float(model["d0_A"]),
                                           note=model["note"], reference=model.get("reference_regime"))
    _print_table(console, table)
    _print_model_facts(console, records)
    for checks in table["checks"]:
        for line in checks["lines"]:
            console.print(f"  check: {line}")
    console.print(f"[yellow]demo-grade model:[/yellow] {' '.join(model['note'].split())}")
    console.print("written: " + ", ".join(str(p) for p in written))
    wall_s = time.monotonic() - t0
    pw_s = sum(float(r.get("walltime_s") or 0.0) for r in records)
    console.print(f"done in {wall_s:.0f} s ({DEMO_WORKERS} workers; the scan points' own pw.x wall times add up to {pw_s:.0f} s); "
                  "run it again to reuse every finished point")
    fail_if_unfinished(unfinished)


def _print_model_facts(console: Any, records: list[dict[str, Any]]) -> None:
    """Apex-image distance, surface Mn moments and spin flips of the scan points."""
    meta = (records[0].get("metadata") or {}) if records else {}
    if meta.get("apex_image_distance_A") is not None:
        console.print(f"apex to its nearest periodic image: {meta['apex_image_distance_A']:.2f} A")
    mn = _surface_moments(records)
    if mn:
        console.print(f"surface Mn |moment|: {min(mn):.2f}-{max(mn):.2f} muB (reference study: ~3.6 muB)")
    from tipsurf.analysis.exchange import flipped_moments

    flips = [f"{(r.get('metadata') or {}).get('distance_A')} A {(r.get('metadata') or {}).get('config')}: {', '.join(f)}"
             for r in records for f in [flipped_moments(r)] if f]
    console.print("spin flips: " + ("; ".join(flips) if flips else "none (apex, tip and every surface Mn keep their starting signs)"))
