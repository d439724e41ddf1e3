"""Command-line options that several commands take, declared once (name, type, flag, help), and their parsers.

A command lists the shared options it takes with :func:`shared_options` and receives their
values as keyword arguments (``**shared``): the flags, defaults and help texts are the same in
every command that has them::

    @app.command("scan")
    @shared_options("settings", "overrides_file", "launchpad", "project")
    def scan_command(site: str = typer.Option("top", "--site"), **shared: Any) -> None:
        overrides = preset_overrides(shared["settings"], shared["overrides_file"])

The strict number parsers of the options given as text (a bad number is a one-line error,
not click's usage message) are here too: :func:`parse_int`, :func:`parse_float`, :func:`parse_size`.
"""

from __future__ import annotations

import functools
import inspect
import re
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import typer

from tipsurf.errors import InputError

__all__ = ["OPTIONS", "parse_float", "parse_int", "parse_size", "shared_options"]

LAUNCHPAD_HELP = "FireWorks my_launchpad.yaml (MongoDB) or an embedded store folder; default: ./.tipsurf (embedded)."
PROJECT_HELP = "Project folder holding .tipsurf/ (calculations, embedded store); default: current folder."
STRUCTURE_OUTPUT_HELP = "Output file (extended XYZ)."
_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")

#: Every shared option: parameter name -> (type, typer option with its default).
OPTIONS: dict[str, tuple[Any, Any]] = {
    "code": (str, typer.Option("qe", "--code", help="qe or vasp.")),
    "settings": (Optional[list[str]], typer.Option(
        None, "--set", metavar="KEY=VALUE", help="Preset override (VALUE in YAML, dotted KEY into mappings); repeatable.")),
    "overrides_file": (Optional[Path], typer.Option(
        None, "--overrides", help="YAML file of preset overrides (--set items apply on top).")),
    "walltime": (Optional[str], typer.Option(
        None, "--walltime", metavar="SECONDS", help="Wall time per calculation given to the code.")),
    "run": (bool, typer.Option(False, "--run", help="Run the campaign here right after adding it.")),
    "launchpad": (Optional[str], typer.Option(None, "--launchpad", help=LAUNCHPAD_HELP)),
    "project": (Optional[Path], typer.Option(None, "--project", help=PROJECT_HELP)),
    "as_json": (bool, typer.Option(False, "--json", help="Print the report as JSON.")),
    # the MgO/Ag(100) slab of 'build slab mgo-ag100' and 'build adsorbate'
    "mgo_layers": (str, typer.Option("2", "--mgo-layers", metavar="N", help="MgO monolayers.")),
    "ag_layers": (str, typer.Option("4", "--ag-layers", metavar="M", help="Ag(100) layers.")),
    "mgo_size": (str, typer.Option("1", "--size", metavar="K", help="K x K repetitions of the a x a cell (lateral supercell).")),
    "structure_output": (Path, typer.Option(..., "-o", "--output", help=STRUCTURE_OUTPUT_HELP)),
}

Command = TypeVar("Command", bound=Callable[..., Any])


def shared_options(*names: str) -> Callable[[Command], Command]:
    """Decorator: the command also takes the options ``names`` of :data:`OPTIONS`.

    They are added to the signature typer reads (after the command's own parameters) and
    reach the command as keyword arguments, which it takes with ``**shared``.
    """
    unknown = [n for n in names if n not in OPTIONS]
    if unknown:
        raise ValueError(f"no shared option {unknown}; known: {', '.join(OPTIONS)}")

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)  # the module's annotations are strings
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=OPTIONS[n][1], annotation=OPTIONS[n][0])
                 for n in names]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            return command(**kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in [*own, *added]}
        return wrapper  # type: ignore[return-value]

    return decorate


def parse_int(name: str, text: str) -> int:
    """Strictly parse an integer option; InputError otherwise."""
    try:
        return int(str(text).strip())
    except ValueError:
        raise InputError(f"{name} must be an integer, got {text!r}") from None


def parse_float(name: str, text: str) -> float:
    """Strictly parse a number option; InputError otherwise."""
    try:
        return float(str(text).strip())
    except ValueError:
        raise InputError(f"{name} must be a number, got {text!r}") from None


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``NXxNY`` (e.g. ``3x2``) strictly."""
    match = _SIZE.match(str(text))
    if not match:
        raise InputError(f"--size must look like NXxNY (e.g. 3x2), got {text!r}")
    return int(match.group(1)), int(match.group(2))
