"""FireWorks workflows: distance scans, adsorbate campaigns, launchpads, queues, results store.

Modules
-------
launchpad   embedded file-backed LaunchPad (one process, file lock, explicit saves) or MongoDB
store       results and campaigns collections; :func:`load_campaign_records`
tasks       Firetasks: CalcTask (inputs -> custodian -> parse -> store), PostStepTask, AnalysisTask
common      planned points, Fireworks, de-duplication by fingerprint
scan        :func:`add_distance_scan` (p/ap chains far -> near, warm start, the caller's analysis)
adsorbates  :func:`add_adsorbate_campaign` (TiHx x site x MgO thickness, H2, bare slabs)
runner      :func:`run_campaign` (local, one rocket at a time, progress), :func:`campaign_status`,
            :func:`rerun_campaign`
queue       :func:`submit_campaign` (qlaunch with SLURM/PBS CommonAdapters, dry-run scripts)

The workflows neither import nor name the analysis stage: a campaign's analysis Firework runs
the dotted function name its caller gave (``analysis=``), imported when the Firework runs;
:mod:`tipsurf.api.campaigns` (above both stages) attaches the E_ex/F_ex table and the Gibbs
energies, and every tipsurf command adds its campaigns through it.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "add_distance_scan": "tipsurf.workflows.scan",
    "parse_distances": "tipsurf.workflows.scan",
    "add_adsorbate_campaign": "tipsurf.workflows.adsorbates",
    "run_campaign": "tipsurf.workflows.runner",
    "campaign_status": "tipsurf.workflows.runner",
    "rerun_campaign": "tipsurf.workflows.runner",
    "submit_campaign": "tipsurf.workflows.queue",
    "load_campaign_records": "tipsurf.workflows.store",
    "open_launchpad": "tipsurf.workflows.launchpad",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tipsurf.workflows' has no attribute {name!r}")
