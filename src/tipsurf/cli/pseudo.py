"""`tipsurf pseudo check DIR` and `tipsurf pseudo generate [ELEMENTS...]`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from tipsurf.cli import pseudo_app
from tipsurf.engines.qe.pseudo import check_pseudo_dir
from tipsurf.templates import available, load_template


def preset_requirements() -> dict[str, dict[str, str]]:
    """``{preset: {element: file}}`` for every shipped preset with a 'pseudopotentials' map."""
    out: dict[str, dict[str, str]] = {}
    for name in available("presets"):
        try:
            data = load_template("presets", name)
        except Exception:  # a broken preset is reported by its own checks, not here
            continue
        mapping = data.get("pseudopotentials")
        if isinstance(mapping, dict):
            out[name] = {str(k): str(v) for k, v in mapping.items()}
    return out


def _missing_for_presets(covered: set[str]) -> dict[str, list[str]]:
    missing: dict[str, list[str]] = {}
    for preset, mapping in preset_requirements().items():
        for element in sorted(set(mapping) - covered):
            missing.setdefault(element, []).append(preset)
    return missing


def check_report(directory: Path) -> dict[str, Any]:
    """Plain-dict report of a pseudopotential folder (files, covered elements, gaps)."""
    infos = check_pseudo_dir(directory)
    covered = {i.element for i in infos if i.complete}
    return {
        "directory": str(directory),
        "files": [i.as_dict() for i in infos],
        "elements": sorted(covered),
        "missing_for_presets": _missing_for_presets(covered),
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@pseudo_app.command("check")
def check(
    directory: Path = typer.Argument(..., help="Folder of UPF files (SSSP, pslibrary, GBRV, tipsurf cache)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Report elements, valence, suggested cut-offs and md5 of every UPF file in DIR."""
    report = check_report(directory)
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    table = Table(title=f"pseudopotentials in {directory}")
    for column in ("element", "file", "type", "Z_val", "ecutwfc (Ry)", "ecutrho (Ry)", "md5", "complete"):
        table.add_column(column)
    for info in report["files"]:
        table.add_row(
            info["element"], Path(info["path"]).name, info["pseudo_type"], f"{info['z_valence']:g}",
            _fmt(info["wfc_cutoff_Ry"]), _fmt(info["rho_cutoff_Ry"]), info["md5"], "yes" if info["complete"] else "NO",
        )
    console = Console()
    console.print(table)
    if report["missing_for_presets"]:
        for element, presets in sorted(report["missing_for_presets"].items()):
            console.print(f"missing: {element} (needed by presets: {', '.join(presets)})")
    else:
        console.print("every element named by the shipped presets is covered")


@pseudo_app.command("generate")
def generate(
    elements: Optional[list[str]] = typer.Argument(None, help="Elements (default: all shipped recipes)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Output folder (default: <cache_dir>/pseudo)."),
) -> None:
    """Generate pseudopotentials with ld1.x from tipsurf's recipes and print their provenance."""
    from tipsurf.engines.qe.pseudo_gen import available_recipes, ensure_pseudopotentials, read_provenance

    wanted = list(elements) if elements else available_recipes()
    folder, files = ensure_pseudopotentials(wanted, cache_dir=cache, progress=typer.echo)
    for element, name in sorted(files.items()):
        record = read_provenance(folder / name) or {}
        cut = record.get("suggested_cutoffs_Ry", {})
        typer.echo(
            f"{element}: {folder / name} md5={record.get('upf_md5')} recipe_md5={record.get('recipe_md5')} "
            f"ld1={record.get('ld1_version')} generated={record.get('generated_utc')} "
            f"ecutwfc={cut.get('ecutwfc')} ecutrho={cut.get('ecutrho')} Ry"
        )
