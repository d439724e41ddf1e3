"""``tipsurf demo adsorbates``: a real, small Ti/TiHx on MgO/Ag(100) campaign with pw.x, end to end.

The model and its limits are data (``templates/demo_adsorbates/<model>.yaml``); this module strings
the stages together: pseudopotentials (configured library or tipsurf's ld1.x set) →
``api.campaigns.add_adsorbate_campaign`` (the workflow with its Gibbs analysis step) on an embedded launchpad in the output folder (bare slab,
Ti/TiH/TiH2 on each site, H2; relaxations; pp.x density cubes and projwfc.x Löwdin post-steps)
→ ``workflows.run_campaign`` with the tip demo's progress display → the table of
:mod:`tipsurf.analysis.adsorbate_table` (energies, Ti Löwdin and Bader charges and moments,
ΔG(Δμ_H) per site, the study's statements checked), written as CSV, JSON and one phase-diagram
PNG per site.  Running it again reuses every finished point.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any, Optional

import typer

from tipsurf.cli.demo import _progress_callback, demo_app, fail_if_unfinished, recording_failures, unfinished_points
from tipsurf.errors import InputError

ADSORBATE_MODEL = "ti-mgo-ag100"


def load_adsorbate_model(name: str = ADSORBATE_MODEL) -> dict[str, Any]:
    """An adsorbate demo model (a name in ``templates/demo_adsorbates`` or a YAML path)."""
    from tipsurf.templates import load_template

    model = load_template("demo_adsorbates", name)
    missing = [k for k in ("campaign", "preset", "slab", "species", "sites", "limits") if k not in model]
    if missing:
        raise InputError(f"adsorbate demo model '{name}' lacks {', '.join(missing)}")
    return model


def model_preset(model: dict[str, Any]) -> dict[str, Any]:
    """The model's preset with its overrides (a user's ``--set`` goes on top of this)."""
    from tipsurf.engines.presets import load_preset, merge_preset

    return merge_preset(load_preset(model["preset"], "qe"), model.get("preset_overrides"))


def add_demo_campaign(model: dict[str, Any], user_overrides: dict[str, Any] | None, project_dir: Path) -> Any:
    """Add the model's campaign (slab, species x sites, H2; relaxations) to the project's launchpad.

    A user's overrides name a campaign of their own (``<campaign>-custom``).
    """
    from tipsurf.api.campaigns import add_adsorbate_campaign

    slab = dict(model["slab"])
    return add_adsorbate_campaign(
        code="qe", preset=model_preset(model), preset_overrides=user_overrides or None, species=model["species"],
        sites=model["sites"], mgo_layers=[int(slab.pop("mgo_layers"))], slab_options=slab, relax=True,
        h2_box_A=float(model.get("h2_box_A", 12.0)), name=model["campaign"] + ("-custom" if user_overrides else ""),
        project_dir=project_dir,
    )


def _pseudo_note(elements: list[str]) -> str:
    """The configured library, or tipsurf's generated set for ``elements`` (made if not cached)."""
    from tipsurf.config import load_config
    from tipsurf.engines.qe.pseudo_gen import ensure_pseudopotentials

    config = load_config()
    if config.pseudo_dir is not None:
        return f"configured library {config.pseudo_dir}"
    folder, files = ensure_pseudopotentials(elements, config)
    return f"tipsurf-generated ({', '.join(files.values())}) in {folder}"


def _z_valence(records: list[dict[str, Any]]) -> dict[str, float]:
    """Valence electrons per element from the UPF files the runs used (``pseudo_md5`` paths)."""
    from tipsurf.engines.qe.pp import read_qe_calc

    for record in records:
        folder = (record.get("extra") or {}).get("directory") or record.get("directory")
        if not folder or "Ti" not in (record.get("symbols") or []):
            continue
        calc = read_qe_calc(folder)
        return _upf_valences(calc.outdir / f"{calc.prefix}.save")
    return {}


def _upf_valences(save_dir: Path) -> dict[str, float]:
    from tipsurf.engines.qe.pseudo import upf_info

    out = {}
    for path in sorted(save_dir.glob("*.UPF")) + sorted(save_dir.glob("*.upf")):
        info = upf_info(path)
        if info.element and info.z_valence is not None:
            out[info.element] = float(info.z_valence)
    return out


def _print_rows(console: Any, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    def f(value: Any, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    out = Table(title="Ti/TiHx on MgO/Ag(100): total energy, Ti Löwdin and Bader net charge (e) and moment (muB)")
    for column in ("calculation", "E (eV)", "conv/relax", "h_Ti (A)", "q Löwdin", "m Löwdin", "q Bader", "m Bader"):
        out.add_column(column, justify="right")
    for r in rows:
        state = f"{'yes' if r['converged'] else 'NO'}/{'yes' if r.get('relaxed') else 'no'}"
        if r.get("state") not in (None, "done"):
            state += f" ({r['state'].split(':')[0]})"
        out.add_row(str(r["label"]), f(r["energy_eV"], 4), state, f(r.get("ti_height_A")),
                    f(r.get("ti_lowdin_net_charge_e")), f(r.get("ti_lowdin_moment_muB")),
                    f(r.get("ti_bader_net_charge_e")), f(r.get("ti_bader_moment_muB")))
    console.print(out)


def _print_gibbs(console: Any, report: dict[str, Any]) -> None:
    from rich.markup import escape

    for rep in report["gibbs"]:
        ranges = "; ".join(
            f"{e['species']}: {'-inf' if e['from_eV'] is None else format(e['from_eV'], '+.3f')} .. "
            f"{'+inf' if e['to_eV'] is None else format(e['to_eV'], '+.3f')} eV" for e in rep["stability_ranges"])
        temps = ", ".join(f"{t['from']}->{t['to']} at {t['T_K']:.0f} K" for t in rep["temperature_transitions_at_p"]) or "none"
        offsets = ", ".join(f"{s} {v:+.3f}" for s, v in rep["offsets_eV"].items())
        console.print(f"[bold]ΔG[/bold] {escape('[' + rep['label'] + ']')} ΔG(Δμ_H=0) (eV): {offsets}")
        console.print(f"  stable per Δμ_H range: {ranges}")
        console.print(f"  at p = {rep['pressure_Pa']:g} Pa: transitions {temps}; at {rep['temperature_K']:g} K "
                      f"Δμ_H = {rep['delta_mu_H_eV']:+.3f} eV -> {rep['stable_species']}; never stable: "
                      f"{', '.join(rep['never_stable']) or 'none'}")


def _print_comparison(console: Any, comparison: list[dict[str, Any]], model: dict[str, Any]) -> None:
    console.print("[bold]against the reference study[/bold] (Ti/TiHx on MgO/Ag(100), DFT, large cells):")
    why = model.get("why_it_may_differ") or {}
    for item in comparison:
        verdict = {True: "holds", False: "does NOT hold", None: "not computed"}[item["holds"]]
        console.print(f"  {item['claim']}: {verdict} ({item['measured']})")
        if item["holds"] is False and why:
            console.print(f"    why it may differ here: {' '.join(str(why.get(item['claim'].split(' (')[0], why.get('default', ''))).split())}")


@demo_app.command("adsorbates")
def demo_adsorbates_command(
    output: Path = typer.Option(Path("tipsurf-demo-adsorbates"), "-o", "--output", help="Project and output folder."),
    model_name: str = typer.Option(ADSORBATE_MODEL, "--model", help="Model in templates/demo_adsorbates (ti-mgo-ag100, ti-mgo-ag100-tiny) or a YAML file."),
    settings: Optional[list[str]] = typer.Option(None, "--set", metavar="KEY=VALUE", help="Preset override on top of the model's (e.g. hubbard_u_eV.Ti=3.5)."),
    workers: int = typer.Option(2, "--workers", help="Calculations at a time (2 uses both cores)."),
) -> None:
    """Run a real, small Ti/TiHx on MgO/Ag(100) campaign (QE) and print energies, charges, moments and dG."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tipsurf.analysis.adsorbate_table import adsorbate_report, write_adsorbate_report
    from tipsurf.cli.overrides import preset_overrides
    from tipsurf.engines.presets import merge_preset
    from tipsurf.workflows.runner import run_campaign
    from tipsurf.workflows.store import load_campaign_records

    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    model = load_adsorbate_model(model_name)
    user = preset_overrides(settings)
    preset = model_preset(model)
    console = Console()
    t0, cpu0 = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    console.print(f"[bold]tipsurf demo adsorbates[/bold]: {' '.join(model['description'].split())}")
    console.print(f"project and results: {output.resolve()}")
    u = merge_preset(preset, user).get("hubbard_u_eV") or {}
    console.print(f"Hubbard U on Ti 3d: {u.get('Ti', 'none')} eV"
                  + ("" if user.get("hubbard_u_eV") else f" -- {' '.join(model.get('hubbard_u_note', '').split())}"))
    report = add_demo_campaign(model, user, output)
    console.print(f"pseudopotentials: {_pseudo_note(['Ag', 'H', 'Mg', 'O', 'Ti'])}")
    console.print(f"campaign {report.campaign}: {len(report.added)} point(s) to compute, {len(report.existing)} already known")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    reasons: dict[Any, str] = {}
    with Progress(*columns, console=console) as progress:
        task_id = progress.add_task("starting", total=None)
        run = run_campaign(report.campaign, progress=recording_failures(_progress_callback(progress, task_id), reasons),
                           project_dir=output, workers=workers)
    unfinished = unfinished_points(run, reasons)
    records = load_campaign_records(report.campaign, project_dir=output)
    table = adsorbate_report(records, z_valence=_z_valence(records), temperature_K=float(model.get("temperature_K", 1.0)),
                             pressure_Pa=float(model.get("pressure_Pa", 1e-8)), unfinished=unfinished)
    _print_rows(console, table["rows"])
    _print_gibbs(console, table)
    for line in table["gibbs_skipped"]:
        console.print(f"[red]{line}[/red]")
    _print_comparison(console, table["comparison"], model)
    notes = [" ".join(str(n).split()) for n in model["limits"]]
    for note in notes:
        console.print(f"[yellow]limit:[/yellow] {note}")
    written = write_adsorbate_report(table, output / "results", notes=notes)
    console.print("written: " + ", ".join(str(p) for p in written))
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    console.print(f"done in {time.monotonic() - t0:.0f} s wall, {cpu_s:.0f} s CPU of the programs run now "
                  f"({workers} worker(s)); run it again to reuse every finished point")
    fail_if_unfinished([f"{r['label']} ({r['state']})" for r in table["rows"] if r["state"] != "done"])
