"""Building blocks shared by the campaign builders: planned points, Fireworks, de-duplication.

A *point* is one calculation of a campaign.  Its key is the deterministic fingerprint of its
inputs (computed when the campaign is added, by letting the engine write the inputs into a
scratch folder), so re-adding an identical campaign finds every point already present:
points with a Firework in the launchpad (any state) or a converged stored result are reported
as existing and get no new Firework.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from fireworks import Firework, Workflow

from tipsurf.errors import InputError
from tipsurf.workflows import store
from tipsurf.workflows.launchpad import LaunchpadHandle, calc_dir_for
from tipsurf.workflows.tasks import AnalysisTask, CalcTask, PostStepTask

SPEC_CAMPAIGN = "_tipsurf_campaign"
SPEC_FINGERPRINT = "_tipsurf_fingerprint"
SPEC_POINT = "_tipsurf_point"
SPEC_ROLE = "_tipsurf_role"


@dataclass
class Point:
    """One planned calculation."""

    fingerprint: str
    spec: dict[str, Any]
    label: str
    metadata: dict[str, Any]
    calculation: str = "scf"
    role: str = "point"
    warm_start_from: list[str] = field(default_factory=list)
    relaxed_from: dict[str, str] = field(default_factory=dict)
    post_steps: list[dict[str, Any]] = field(default_factory=list)
    fragment: str | None = None
    start_fragments: dict[str, str] = field(default_factory=dict)
    preset: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """What the campaign document keeps about the point."""
        return {
            "fingerprint": self.fingerprint,
            "label": self.label,
            "role": self.role,
            "calculation": self.calculation,
            "metadata": self.metadata,
        }


@dataclass
class AddReport:
    """What adding a campaign did."""

    campaign: str
    kind: str
    launchpad: str
    added: list[dict[str, Any]] = field(default_factory=list)
    existing: list[dict[str, Any]] = field(default_factory=list)
    workflow_fw_ids: list[int] = field(default_factory=list)
    analysis_added: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for ``--json`` output."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Submission:
    """Where a campaign's Fireworks go and how they end: the keywords every campaign builder takes.

    Attributes
    ----------
    name
        Campaign name (default: made from the campaign's inputs).
    walltime_s
        Wall time per calculation passed to the code (clean stop and restart by custodian).
    launchpad, project_dir
        See :func:`tipsurf.workflows.launchpad.open_launchpad` (default: the embedded store of
        the current folder).
    analysis
        ``"package.module:function"`` of the campaign table, run once the points are done
        (:mod:`tipsurf.api.campaigns` names the package's own); None: no analysis Firework.
    """

    name: str | None = None
    walltime_s: float | None = None
    launchpad: str | Path | None = None
    project_dir: str | Path | None = None
    analysis: str | None = None


def split_keywords(function: str, keywords: dict[str, Any], *kinds: type) -> list[Any]:
    """Build one dataclass of each of ``kinds`` from the keyword arguments of ``function``.

    Raises
    ------
    TypeError
        A keyword that none of the dataclasses has (named, with the ones accepted).
    """
    names = [{f.name for f in fields(kind)} for kind in kinds]
    unknown = sorted(set(keywords) - set().union(*names))
    if unknown:
        accepted = ", ".join(sorted(set().union(*names)))
        raise TypeError(f"{function}() got unexpected keyword(s) {', '.join(unknown)}; besides its named "
                        f"parameters it takes {accepted}")
    return [kind(**{k: v for k, v in keywords.items() if k in n}) for kind, n in zip(kinds, names)]


def check_campaign_name(name: str) -> str:
    """A campaign name is a database key only: non-empty, one line, printable, at most 200 chars.

    Raises
    ------
    InputError
        Empty, too long or containing control characters.
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError("the campaign name is empty; give --name NAME")
    if len(name) > 200 or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InputError(f"campaign name {name[:40]!r} must be one printable line of at most 200 characters")
    return name


def _scratch_root() -> str | None:
    """A memory-backed folder for the planning scratch inputs if the machine has one (/dev/shm).

    Planning writes (and deletes) one input folder per point; on a disk that costs ~25 ms per
    point (measured: 44 of 53 s of a 1,000-point add), in memory almost nothing.
    """
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def planned_fingerprint(atoms: Any, code: str, preset: dict[str, Any], calculation: str = "scf") -> str:
    """Fingerprint the engine gives these inputs (inputs written to a scratch folder)."""
    from tipsurf.engines.base import get_engine

    engine = get_engine(code)
    with tempfile.TemporaryDirectory(prefix="tipsurf-plan-", dir=_scratch_root()) as tmp:
        prepared = engine.write_inputs(atoms, preset, Path(tmp), calculation=calculation)
    return prepared.fingerprint


def derived_fingerprint(base: str, relaxed_from: dict[str, str]) -> str:
    """Key of a point assembled from relaxed parts: its as-built fingerprint plus theirs."""
    if not relaxed_from:
        return base
    blob = json.dumps({"base": base, "relaxed_from": relaxed_from}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def existing_fingerprints(handle: LaunchpadHandle, fingerprints: list[str], campaign: str | None = None) -> dict[str, str]:
    """``{fingerprint: state}`` of points that need no new Firework in ``campaign``.

    A point counts as existing when its result is stored converged, when a Firework of it is
    COMPLETED, or when ``campaign`` itself already has a Firework of it.  A point whose only
    Firework belongs to another campaign and has not completed is *not* existing: the campaign
    gets its own Firework of it, so its links (warm-start chain, analysis) wait for that point;
    whichever of the two runs first computes it and the other reuses the stored result
    (:class:`~tipsurf.workflows.tasks.CalcTask`).  Without ``campaign`` every Firework counts.
    """
    found: dict[str, str] = {}
    query = {f"spec.{SPEC_FINGERPRINT}": {"$in": fingerprints}}
    for doc in handle.lp.fireworks.find(query, {"state": 1, "spec": 1}):
        fp, state = doc["spec"][SPEC_FINGERPRINT], doc["state"]
        if campaign is None or state == "COMPLETED" or doc["spec"].get(SPEC_CAMPAIGN) == campaign:
            found[fp] = "COMPLETED" if state == "COMPLETED" else found.get(fp, state)
    for doc in handle.db[store.RESULTS].find({"fingerprint": {"$in": fingerprints}, "converged": True}, {"fingerprint": 1}):
        found[doc["fingerprint"]] = "COMPLETED"
    return found


def calc_firework(
    point: Point,
    *,
    campaign: str,
    code: str,
    preset: dict[str, Any],
    project_dir: Path,
    walltime_s: float | None = None,
    parents: list[Firework] | None = None,
) -> Firework:
    """The Firework of one point (CalcTask plus its post-steps)."""
    calc_dir = calc_dir_for(project_dir, point.fingerprint)
    extra = {"fragment": point.fragment} if point.fragment else {}
    if point.start_fragments:
        extra["start_fragments"] = dict(point.start_fragments)
    tasks = [CalcTask(
        spec=point.spec,
        code=code,
        preset=point.preset if point.preset is not None else preset,
        fingerprint=point.fingerprint,
        calc_dir=str(calc_dir),
        campaign=campaign,
        calculation=point.calculation,
        warm_start_from=list(point.warm_start_from),
        relaxed_from=dict(point.relaxed_from),
        walltime_s=walltime_s,
        **extra,
    )]
    for post in point.post_steps:
        tasks.append(PostStepTask(
            function=post["function"], fingerprint=point.fingerprint, calc_dir=str(calc_dir),
            kwargs=post.get("kwargs", {}), label=post.get("label"),
        ))
    spec = {
        SPEC_CAMPAIGN: campaign,
        SPEC_FINGERPRINT: point.fingerprint,
        SPEC_POINT: {"label": point.label, **point.metadata},
        SPEC_ROLE: point.role,
        "_add_launchpad_and_fw_id": True,
        "_allow_fizzled_parents": True,
    }
    if walltime_s:
        spec["_tipsurf_walltime_s"] = float(walltime_s)
    return Firework(tasks, spec=spec, name=f"{campaign}: {point.label}", parents=parents or None)


def analysis_firework(
    campaign: str, function: str, kwargs: dict[str, Any], parents: list[Firework], record_filter: str | None = None
) -> Firework:
    """The final Firework that computes the campaign's table from its stored records."""
    task = AnalysisTask(campaign=campaign, function=function, kwargs=kwargs, record_filter=record_filter)
    spec = {
        SPEC_CAMPAIGN: campaign,
        SPEC_ROLE: "analysis",
        "_add_launchpad_and_fw_id": True,
        "_allow_fizzled_parents": True,
    }
    return Firework([task], spec=spec, name=f"{campaign}: analysis", parents=parents or None)


def submit_workflow(
    handle: LaunchpadHandle,
    report: AddReport,
    fireworks: list[Firework],
    inputs: dict[str, Any],
    points: list[Point],
    metadata: dict[str, Any] | None = None,
) -> AddReport:
    """Register the campaign, tag reused results and add the workflow (if it has Fireworks)."""
    store.register_campaign(handle.db, report.campaign, report.kind, inputs, [p.summary() for p in points])
    store.tag_results(handle.db, [p["fingerprint"] for p in report.existing], report.campaign)
    if fireworks:
        wf = Workflow(fireworks, name=f"tipsurf {report.kind}: {report.campaign}", metadata={"tipsurf_campaign": report.campaign, **(metadata or {})})
        mapping = handle.lp.add_wf(wf)
        report.workflow_fw_ids = sorted(int(v) for v in mapping.values())
    handle.flush()
    return report
