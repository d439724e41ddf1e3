"""`tipsurf inputs`, `tipsurf run-calc` and `tipsurf parse`: one calculation, any code.

Each command dispatches to the engine of ``--code`` (:func:`tipsurf.engines.base.get_engine`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from tipsurf.cli import app
from tipsurf.cli.options import shared_options
from tipsurf.errors import InputError, existing_file

_CODES = ("qe", "vasp")


def _check_code(code: str) -> str:
    if code not in _CODES:
        raise InputError(f"unknown code '{code}'; choose one of: {', '.join(_CODES)}")
    return code


def read_structure_file(path: Path) -> Any:
    """Read a structure file with ``tipsurf.structures.read_structure`` if present, else ASE."""
    existing_file(path, "structure file")
    try:
        from tipsurf.structures import read_structure  # type: ignore[attr-defined]
    except ImportError:
        read_structure = None
    if read_structure is not None:
        return read_structure(path)
    import ase.io

    try:
        return ase.io.read(str(path))
    except Exception as exc:  # ASE raises many types for unreadable files
        raise InputError(f"cannot read structure file {path}: {' '.join(str(exc).split()) or type(exc).__name__}") from None


@app.command("inputs")
@shared_options("code", "settings", "overrides_file")
def inputs_command(
    structure: Path = typer.Argument(..., help="Structure file (extended XYZ from 'tipsurf build', or any ASE format)."),
    preset: str = typer.Option("fast", "--preset", help="Preset name (templates/presets) or a YAML file."),
    output: Path = typer.Option(..., "-o", "--output", help="Calculation folder to write."),
    restart_from: Optional[Path] = typer.Option(None, "--restart-from", help="Finished calculation to start from."),
    walltime_s: Optional[float] = typer.Option(None, "--walltime-s", help="Wall-time budget in seconds."),
    calculation: str = typer.Option("scf", "--calculation", help="scf or relax."),
    **shared: Any,
) -> None:
    """Write the input files of one calculation into a folder."""
    from tipsurf.cli.overrides import preset_overrides
    from tipsurf.engines.base import get_engine
    from tipsurf.engines.presets import load_preset, merge_preset, require_hubbard_u

    code = shared["code"]
    engine = get_engine(_check_code(code))
    merged = merge_preset(load_preset(preset, code=code), preset_overrides(shared["settings"], shared["overrides_file"]))
    atoms = read_structure_file(structure)
    require_hubbard_u(merged, atoms.get_chemical_symbols())
    prepared = engine.write_inputs(
        atoms, merged, output, restart_from=restart_from, walltime_s=walltime_s, calculation=calculation
    )
    typer.echo(f"wrote {code} inputs to {prepared.directory} (fingerprint {prepared.fingerprint})")


@app.command("run-calc")
@shared_options("code")
def run_calc_command(
    directory: Path = typer.Argument(..., help="Calculation folder written by 'tipsurf inputs'."),
    max_errors: int = typer.Option(5, "--max-errors", help="Corrections custodian may make."),
    **shared: Any,
) -> None:
    """Run one calculation under custodian (with error handlers) and print its record as JSON."""
    from tipsurf.engines.base import get_engine

    result = get_engine(_check_code(shared["code"])).run(directory, max_errors=max_errors)
    typer.echo(json.dumps(result.as_dict(), indent=2))


@app.command("parse")
@shared_options("code")
def parse_command(directory: Path = typer.Argument(..., help="Calculation folder."), **shared: Any) -> None:
    """Parse a calculation's outputs and print the result record as JSON."""
    from tipsurf.engines.base import get_engine

    result = get_engine(_check_code(shared["code"])).parse(directory)
    typer.echo(json.dumps(result.as_dict(), indent=2))
