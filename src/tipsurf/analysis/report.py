"""The exchange report a researcher keeps: table (CSV, JSON) and figure (PNG) in one folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tipsurf.analysis.exchange import ROW_COLUMNS, exchange_table
from tipsurf.analysis.export import write_csv, write_json
from tipsurf.analysis.plots import plot_exchange
from tipsurf.analysis.scan_checks import assess_exchange_scan


def exchange_report(
    records: list[dict[str, Any]],
    *,
    d0_A: float = 5.0,
    moment_threshold_muB: float = 0.5,
    note: str | None = None,
    reference: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The E_ex(d)/F_ex(d) table of :func:`write_exchange_report` with its checks, written nowhere.

    Parameters and the checks as in :func:`write_exchange_report`.

    Returns
    -------
    dict
        :meth:`ExchangeTable.as_dict` plus ``checks`` (one entry per group) and ``note``.
    """
    table = exchange_table(records, d0_A=d0_A, moment_threshold_muB=moment_threshold_muB).as_dict()
    table["checks"] = [
        {**{k: group[k] for k in ("surface", "site", "tip")},
         **assess_exchange_scan([r for r in table["rows"] if all(r[k] == group[k] for k in ("surface", "site", "tip"))], reference)}
        for group in table["groups"]
    ]
    if note:
        table["note"] = " ".join(note.split())
    return table


def write_exchange_report(
    records: list[dict[str, Any]],
    out_dir: str | Path,
    *,
    d0_A: float = 5.0,
    moment_threshold_muB: float = 0.5,
    note: str | None = None,
    reference: dict[str, str] | None = None,
) -> tuple[dict[str, Any], list[Path]]:
    """Compute E_ex(d)/F_ex(d) from result records and write ``exchange.{csv,json,png}``.

    Everything is computed before anything is written, and each file is written atomically,
    so a failure leaves no partial report.

    Parameters
    ----------
    records
        Result-record dicts of one or more (surface, site, tip) scans.
    out_dir
        Folder for the three files (created).
    d0_A
        Reference distance of Δd = d − d0.
    moment_threshold_muB
        Smallest |moment| of apex and reference atoms that counts as magnetic (spin-flip guard).
    note
        Free text stored in the JSON (e.g. "demo-grade model").
    reference
        The reference study's regime (``sign``, ``text``) the scan is compared with; the
        checks of :func:`tipsurf.analysis.scan_checks.assess_exchange_scan` per group are
        stored under ``checks``.

    Returns
    -------
    tuple
        The table as a dict and the paths written.
    """
    table = exchange_report(records, d0_A=d0_A, moment_threshold_muB=moment_threshold_muB, note=note, reference=reference)
    out = Path(out_dir)
    paths = [
        write_csv(out / "exchange.csv", table["rows"], ROW_COLUMNS),
        write_json(out / "exchange.json", table),
        plot_exchange(table, out / "exchange.png"),
    ]
    return table, paths
