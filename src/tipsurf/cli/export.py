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
from tipsurf.cli.campaign import LAUNCHPAD_HELP, PROJECT_HELP
from tipsurf.errors import InputError


def _preset_name(campaign: dict[str, Any]) -> str | None:
    """Name of the preset a campaign ran with (its inputs hold the resolved preset)."""
    preset = (campaign.get("inputs") or {}).get("preset")
    if isinstance(preset, dict):
        return preset.get("name")
    return preset if isinstance(preset, str) else None


def _contexts(campaign: dict[str, Any], records: list[dict[str, Any]], exported: list[str]) -> list[tuple[dict[str, Any], Any]]:
    """``(record, RowContext)`` pairs of one campaign's stored records.

    A calculation shared by several exported campaigns is credited to the first campaign that
    stored it (``_campaigns`` order) when that one is exported too, else to this campaign.
    """
    from tipsurf.analysis.ase_db import RowContext

    roles = {p["fingerprint"]: p.get("role") for p in campaign.get("points", [])}
    d0_A = (campaign.get("inputs") or {}).get("d0_A")
    out = []
    for record in records:
        users = [str(c) for c in record.get("_campaigns") or [campaign["name"]]]
        owner = next((c for c in users if c in exported), campaign["name"])
        out.append((record, RowContext(owner, users, _preset_name(campaign), roles.get(record["fingerprint"]), d0_A)))
    return out


def _read_campaigns(names: list[str] | None, launchpad: str | None, project: Path | None) -> list[tuple[dict[str, Any], Any]]:
    """Records of the named campaigns (``None``: every campaign) with their row contexts."""
    from tipsurf.workflows import store
    from tipsurf.workflows.launchpad import open_launchpad

    with open_launchpad(launchpad, project, snapshot=True) as handle:
        wanted = names if names is not None else store.campaign_names(handle.db)
        if not wanted:
            raise InputError("no campaigns in this launchpad yet; add one with 'tipsurf scan' or 'tipsurf campaign adsorbates'")
        found = [(store.get_campaign(handle.db, n), store.campaign_records(handle.db, n)) for n in wanted]
    items: dict[str, tuple[dict[str, Any], Any]] = {}
    for campaign, records in found:
        for record, context in _contexts(campaign, records, wanted):
            items.setdefault(record["fingerprint"], (record, context))
    if not items:
        which = f"campaign '{names[0]}'" if names else "any campaign"
        raise InputError(f"{which} has no stored results yet; run it first (tipsurf run)")
    return list(items.values())


@app.command("export")
def export_command(
    name: Optional[str] = typer.Option(None, "--name", help="Campaign to export."),
    all_campaigns: bool = typer.Option(False, "--all", help="Export every campaign of the launchpad."),
    output: Path = typer.Option(..., "-o", "--output", help="ASE database file (.db, SQLite); created or extended."),
    launchpad: Optional[str] = typer.Option(None, "--launchpad", help=LAUNCHPAD_HELP),
    project: Optional[Path] = typer.Option(None, "--project", help=PROJECT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Write stored results as an ASE database: one row per calculation, keyed by fingerprint.

    Query it with ASE, e.g. ase db results.db 'config=ap,d_A<4.5'.
    """
    from tipsurf.analysis.ase_db import check_ase_db_path, write_ase_db

    if (name is None) == (not all_campaigns):
        raise InputError("give exactly one of --name CAMPAIGN or --all")
    check_ase_db_path(output)
    items = _read_campaigns([name] if name else None, launchpad, project)
    summary = write_ase_db(output, items)
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2))
        return
    campaigns = sorted({context.campaign for _, context in items})
    print(f"wrote {len(items)} calculation(s) of {', '.join(campaigns)} to {summary.path}: "
          f"{len(summary.inserted)} new row(s), {len(summary.updated)} updated; {summary.n_rows} row(s) in the file")
