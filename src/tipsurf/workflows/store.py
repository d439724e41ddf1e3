"""The results store: result records and campaigns in the launchpad's own database.

Two collections beside FireWorks' ones:

``tipsurf_results``
    One document per calculation, keyed by its ``fingerprint``: the fields of
    :class:`~tipsurf.engines.record.CalcResult` plus underscore-prefixed extras that
    ``CalcResult.from_dict`` ignores: ``_campaigns`` (names of every campaign that uses it),
    ``_spec`` (the structure spec as a dict), ``_calc_dir``, ``_provenance`` (tipsurf, code,
    FireWorks, custodian versions, pseudopotential checksums, host) and ``_stored_on``.
``tipsurf_campaigns``
    One document per campaign name: ``kind`` (``distance_scan`` or ``adsorbates``), the
    inputs, one entry per point (fingerprint, label, metadata) and, once the analysis
    Firework ran, the ``analysis`` table (e.g. E_ex/F_ex).
"""

from __future__ import annotations

import datetime as _dt
import platform
from pathlib import Path
from typing import Any

from tipsurf.errors import InputError

RESULTS = "tipsurf_results"
CAMPAIGNS = "tipsurf_campaigns"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _clean(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k != "_id"}


def provenance(record: dict[str, Any]) -> dict[str, Any]:
    """Versions and checksums that let a stored result be traced and reproduced."""
    from importlib.metadata import PackageNotFoundError, version

    def _version(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "tipsurf": _version("tipsurf"),
        "code": record.get("code"),
        "code_version": record.get("code_version"),
        "pseudopotentials": record.get("pseudopotentials") or {},
        "fireworks": _version("fireworks"),
        "custodian": _version("custodian"),
        "ase": _version("ase"),
        "pymatgen": _version("pymatgen"),
        "python": platform.python_version(),
        "host": platform.node(),
    }


def store_result(
    db: Any,
    record: dict[str, Any],
    *,
    campaign: str | None,
    spec: dict[str, Any] | None = None,
    calc_dir: str | Path | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Insert or update the result with ``record['fingerprint']``; return the stored document.

    Raises
    ------
    InputError
        The record has no fingerprint.
    """
    fingerprint = record.get("fingerprint")
    if not fingerprint:
        raise InputError("a result record without a fingerprint cannot be stored")
    doc = dict(record)
    doc.update({
        "_spec": spec or {},
        "_calc_dir": None if calc_dir is None else str(calc_dir),
        "_provenance": provenance(record),
        "_stored_on": _now(),
    })
    doc.update(extra or {})
    update: dict[str, Any] = {"$set": doc}
    if campaign:
        update["$addToSet"] = {"_campaigns": campaign}
    db[RESULTS].update_one({"fingerprint": fingerprint}, update, upsert=True)
    return _clean(db[RESULTS].find_one({"fingerprint": fingerprint})) or {}


def get_result(db: Any, fingerprint: str) -> dict[str, Any] | None:
    """The stored result document of ``fingerprint`` (None if absent)."""
    return _clean(db[RESULTS].find_one({"fingerprint": fingerprint}))


def tag_results(db: Any, fingerprints: list[str], campaign: str) -> None:
    """Add ``campaign`` to the campaigns of already stored results."""
    if fingerprints:
        db[RESULTS].update_many({"fingerprint": {"$in": list(fingerprints)}}, {"$addToSet": {"_campaigns": campaign}})


def register_campaign(db: Any, name: str, kind: str, inputs: dict[str, Any], points: list[dict[str, Any]]) -> dict[str, Any]:
    """Create or extend the campaign document; points are merged by fingerprint.

    Raises
    ------
    InputError
        A campaign of that name exists with another kind.
    """
    old = db[CAMPAIGNS].find_one({"name": name})
    if old is not None and old.get("kind") != kind:
        raise InputError(f"campaign '{name}' already exists as a {old.get('kind')} campaign; choose another --name")
    merged = {p["fingerprint"]: p for p in (old or {}).get("points", [])}
    for point in points:
        merged.setdefault(point["fingerprint"], point)
    doc = {
        "name": name,
        "kind": kind,
        "inputs": inputs if old is None else old.get("inputs", inputs),
        "points": list(merged.values()),
        "updated_on": _now(),
    }
    if old is None:
        doc["created_on"] = doc["updated_on"]
    db[CAMPAIGNS].update_one({"name": name}, {"$set": doc}, upsert=True)
    return _clean(db[CAMPAIGNS].find_one({"name": name})) or {}


def get_campaign(db: Any, name: str) -> dict[str, Any]:
    """The campaign document.

    Raises
    ------
    InputError
        No campaign of that name (the message lists the known ones).
    """
    doc = db[CAMPAIGNS].find_one({"name": name})
    if doc is None:
        known = ", ".join(campaign_names(db)) or "none yet"
        raise InputError(f"no campaign named '{name}' in this launchpad; known campaigns: {known}")
    return _clean(doc) or {}


def campaign_names(db: Any) -> list[str]:
    """Names of all campaigns, sorted."""
    return sorted(d["name"] for d in db[CAMPAIGNS].find({}, {"name": 1}))


def store_campaign_analysis(db: Any, name: str, analysis: dict[str, Any]) -> None:
    """Attach an analysis table (plain dict) to the campaign."""
    db[CAMPAIGNS].update_one({"name": name}, {"$set": {"analysis": analysis, "analysis_on": _now()}})


def campaign_records(db: Any, name: str) -> list[dict[str, Any]]:
    """Stored result records of the campaign's points, in the campaign's point order."""
    campaign = get_campaign(db, name)
    order = {p["fingerprint"]: i for i, p in enumerate(campaign.get("points", []))}
    docs = [_clean(d) for d in db[RESULTS].find({"fingerprint": {"$in": list(order)}})]
    return sorted((d for d in docs if d), key=lambda d: order.get(d["fingerprint"], 0))


def load_campaign_records(
    name: str, launchpad: str | Path | None = None, project_dir: str | Path | None = None
) -> list[dict[str, Any]]:
    """Result records of a campaign (CalcResult fields plus ``_``-prefixed store extras).

    Parameters
    ----------
    name
        Campaign name.
    launchpad, project_dir
        As in :func:`tipsurf.workflows.launchpad.open_launchpad` (default: the embedded store
        of the current folder; its last saved state if another process holds it).

    Raises
    ------
    InputError
        No such campaign.
    """
    from tipsurf.workflows.launchpad import open_launchpad

    with open_launchpad(launchpad, project_dir, snapshot=True) as handle:
        return campaign_records(handle.db, name)
