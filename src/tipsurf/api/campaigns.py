"""The campaigns with their analysis step: the workflows build and run the graph, this layer names the analysis.

Data flow (README): specs → structures → engines → workflows → analysis, with cli/api on top.
A workflow's last Firework computes a campaign table from the stored records, but the function
belongs to a later stage than the workflows, so the workflows never name it: they run the
``"package.module:function"`` they are handed (``analysis=``), and this module, above both,
hands them the analysis function it imports (issue 13 item 6).  Every tipsurf entry point that
adds a campaign (``tipsurf scan``, ``tipsurf campaign adsorbates``, ``tipsurf demo``,
:func:`tipsurf.api.add_scan`) goes through here.

=====================  ==========================================================
campaign               analysis Firework
=====================  ==========================================================
distance scan          :func:`tipsurf.analysis.exchange.exchange_table` (E_ex, F_ex)
adsorbates             :func:`tipsurf.analysis.gibbs.energies_from_records`
=====================  ==========================================================
"""

from __future__ import annotations

from typing import Any

from tipsurf.workflows.common import AddReport

__all__ = ["add_adsorbate_campaign", "add_distance_scan", "adsorbate_analysis", "scan_analysis"]


def scan_analysis() -> str:
    """Dotted name of the distance scan's analysis: the E_ex(d), F_ex(d) table."""
    from tipsurf.analysis.exchange import exchange_table
    from tipsurf.workflows.tasks import dotted_name

    return dotted_name(exchange_table)


def adsorbate_analysis() -> str:
    """Dotted name of the adsorbate campaign's analysis: energies per (site, MgO thickness) for ΔG."""
    from tipsurf.analysis.gibbs import energies_from_records
    from tipsurf.workflows.tasks import dotted_name

    return dotted_name(energies_from_records)


def add_distance_scan(*args: Any, **kwargs: Any) -> AddReport:
    """:func:`tipsurf.workflows.scan.add_distance_scan` with the E_ex/F_ex table as its analysis.

    Takes the same arguments; ``analysis`` defaults to :func:`scan_analysis` (``None`` adds the
    points without an analysis Firework).
    """
    from tipsurf.workflows.scan import add_distance_scan as add

    kwargs.setdefault("analysis", scan_analysis())
    return add(*args, **kwargs)


def add_adsorbate_campaign(**kwargs: Any) -> AddReport:
    """:func:`tipsurf.workflows.adsorbates.add_adsorbate_campaign` with the Gibbs energies as its analysis.

    Takes the same keyword arguments; ``analysis`` defaults to :func:`adsorbate_analysis`.
    """
    from tipsurf.workflows.adsorbates import add_adsorbate_campaign as add

    kwargs.setdefault("analysis", adsorbate_analysis())
    return add(**kwargs)
