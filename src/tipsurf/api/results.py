"""Reading a campaign back (``tipsurf results``, ``tipsurf export``) as Python functions.

Part of :mod:`tipsurf.api` (the command table is there).
"""

from __future__ import annotations

from typing import Any

from tipsurf.api.structures import PathLike, Record
from tipsurf.errors import InputError


def load_records(name: str, *, points_only: bool = False, launchpad: PathLike | None = None,
                 project_dir: PathLike | None = None) -> list[Record]:
    """Stored result records of a campaign, in its point order.

    Parameters
    ----------
    name
        Campaign.
    points_only
        Keep only a scan's p/ap points: drop its pre-steps (slab and tip alone, relaxations).
    launchpad, project_dir
        Where the campaign lives (a running campaign is read in its last saved state).

    Returns
    -------
    list of dict
        ``CalcResult`` fields plus store extras starting with ``_`` (``_calc_dir``,
        ``_campaigns``, ``_provenance`` ...).
    """
    from tipsurf.workflows.store import load_campaign_records

    records = load_campaign_records(name, launchpad=launchpad, project_dir=project_dir)
    if points_only:
        from tipsurf.workflows.scan import scan_point_records

        records = scan_point_records(records)
    return records


def load_results(name: str, *, launchpad: PathLike | None = None, project_dir: PathLike | None = None) -> Record:
    """A campaign's records and the analysis its last step stored (``tipsurf results --json``).

    Returns
    -------
    dict
        ``campaign``, ``kind``, ``records`` and ``analysis`` (e.g. ``{"table": ...}``, or None
        before the analysis step ran).
    """
    from tipsurf.workflows import store
    from tipsurf.workflows.launchpad import open_launchpad

    with open_launchpad(launchpad, project_dir, snapshot=True) as handle:
        campaign = store.get_campaign(handle.db, name)
        records = store.campaign_records(handle.db, name)
    return {"campaign": name, "kind": campaign.get("kind"), "records": records, "analysis": campaign.get("analysis")}


def ase_db_rows(names: list[str] | None, *, launchpad: PathLike | None = None,
                project_dir: PathLike | None = None) -> list[tuple[Record, Any]]:
    """Stored records of the named campaigns (None: every campaign) with their ASE-db row contexts.

    A calculation shared by several exported campaigns is one row, credited to the first
    campaign that stored it when that one is exported too.  Reads the store's last saved state.

    Raises
    ------
    InputError
        No campaign, an unknown campaign, or no stored results.
    """
    from tipsurf.analysis.ase_db import RowContext
    from tipsurf.workflows import store
    from tipsurf.workflows.launchpad import open_launchpad

    with open_launchpad(launchpad, project_dir, snapshot=True) as handle:
        wanted = names if names is not None else store.campaign_names(handle.db)
        if not wanted:
            raise InputError("no campaigns in this launchpad yet; add one with 'tipsurf scan' or 'tipsurf campaign adsorbates'")
        found = [(store.get_campaign(handle.db, n), store.campaign_records(handle.db, n)) for n in wanted]
    items: dict[str, tuple[Record, Any]] = {}
    for campaign, records in found:
        roles = {p["fingerprint"]: p.get("role") for p in campaign.get("points", [])}
        inputs = campaign.get("inputs") or {}
        preset = inputs.get("preset")
        preset_name = preset.get("name") if isinstance(preset, dict) else preset
        for record in records:
            users = [str(c) for c in record.get("_campaigns") or [campaign["name"]]]
            owner = next((c for c in users if c in wanted), campaign["name"])
            context = RowContext(owner, users, preset_name, roles.get(record["fingerprint"]), inputs.get("d0_A"))
            items.setdefault(record["fingerprint"], (record, context))
    if not items:
        which = f"campaign '{names[0]}'" if names else "any campaign"
        raise InputError(f"{which} has no stored results yet; run it first (tipsurf run)")
    return list(items.values())


def export_ase_db(path: PathLike, name: str | None = None, *, launchpad: PathLike | None = None,
                  project_dir: PathLike | None = None) -> Record:
    """Write stored results into an ASE SQLite database, one row per calculation (``tipsurf export``).

    Parameters
    ----------
    path
        ``.db`` file; created or extended (rows of the same fingerprint are replaced).
    name
        Campaign; None exports every campaign of the launchpad (``--all``).

    Returns
    -------
    dict
        ``path``, ``inserted`` and ``updated`` fingerprints, ``n_rows`` in the file.
    """
    from tipsurf.analysis.ase_db import check_ase_db_path, write_ase_db

    check_ase_db_path(path)
    items = ase_db_rows([name] if name is not None else None, launchpad=launchpad, project_dir=project_dir)
    return write_ase_db(path, items).as_dict()
