"""`tipsurf export`: stored results of one or every campaign into an ASE database (SQLite).

The records are read here through the workflows' results store (its last saved state: a
running campaign is not disturbed) and handed to :mod:`tipsurf.analysis.ase_db`, which
converts and writes them.  Every check (output path, campaign names, stored results) runs
before the database is touched; re-exporting replaces rows by fingerprint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from tipsurf.cli import app
from tipsurf.cli.options import shared_options
from tipsurf.errors import InputError


@app.command("export")
@shared_options("launchpad", "project")
def export_command(
    name: Optional[str] = typer.Option(None, "--name", help="Campaign to export."),
    all_campaigns: bool = typer.Option(False, "--all", help="Export every campaign of the launchpad."),
    output: Path = typer.Option(..., "-o", "--output", help="ASE database file (.db, SQLite); created or extended."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
    **shared: Any,
) -> None:
    """Write stored results as an ASE database: one row per calculation, keyed by fingerprint.

    Query it with ASE, e.g. ase db results.db 'config=ap,d_A<4.5'.
    """
    from tipsurf.analysis.ase_db import check_ase_db_path, write_ase_db
    from tipsurf.api import ase_db_rows

    if (name is None) == (not all_campaigns):
        raise InputError("give exactly one of --name CAMPAIGN or --all")
    check_ase_db_path(output)
    items = ase_db_rows([name] if name else None, launchpad=shared["launchpad"], project_dir=shared["project"])
    summary = write_ase_db(output, items)
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2))
        return
    campaigns = sorted({context.campaign for _, context in items})
    print(f"wrote {len(items)} calculation(s) of {', '.join(campaigns)} to {summary.path}: "
          f"{len(summary.inserted)} new row(s), {len(summary.updated)} updated; {summary.n_rows} row(s) in the file")
