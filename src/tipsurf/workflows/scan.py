"""Distance scan of a magnetic tip over a surface site: the core tipsurf workflow.

Graph (one FireWorks workflow per added campaign)::

    [relax tip]   [relax slab]          optional pre-steps (their structures feed every point)
         \\            /
    [slab alone]  [tip alone]           QE fragments in the scan's cell (superposed starts)
         \\            /
    p:  d_max -> ... -> d_min           one Firework per (distance, configuration);
    ap: d_max -> ... -> d_min           the p and ap chains are independent (run in parallel)
          \\               /
            [analysis: E_ex(d), F_ex(d)]   stored with the campaign (the function is the caller's:
                                           tipsurf.api.campaigns names the exchange table)

All points of a scan share one cell and one slab position (``JunctionSpec.scan_d_max_A``):
``vacuum_above_tip_A`` separates the tip's back from the slab's image at the largest distance,
and only the tip moves down for the nearer points, so every point has the same plane-wave
basis, FFT grid and dipole plane (a smooth E(d), and densities that add up across points).
Extending a scan to a larger d therefore changes the cell, hence the fingerprints, of all its
points.

Superposed starts (QE with warm start): the slab alone and the tip alone (at d_max, p
orientation) are computed once per scan in that cell, to ``FRAGMENT_CONV_THR_RY``.  The first
point of each chain starts from slab + tip translated to its d (ap: tip magnetisation negated);
each later point from its converged neighbour minus the neighbour's tip plus the tip at the new
d (measured in ``benchmarks/bench_floating_superposed.py``: a floating junction from atomic
densities charge-sloshes for tens of iterations; from fragments it converges in ~15, from the
neighbour delta in ~10).

Each chain runs from the largest distance to the smallest.  With warm start (default for QE)
a point starts from the converged charge density of its already finished neighbour *of the
same configuration* (never across p/ap, sites or tips): every point's Firework lists the
fingerprints of its farther neighbours, nearest first, and looks their calculation folders up
in the results store when it runs.  Points and the analysis tolerate fizzled parents
(``_allow_fizzled_parents``): a failed point falls back to the next finished neighbour or a
cold start, and the analysis uses the distances where both p and ap converged.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from tipsurf.errors import InputError
from tipsurf.workflows.common import (
    AddReport, Point, Submission, analysis_firework, calc_firework, check_campaign_name, derived_fingerprint,
    existing_fingerprints, planned_fingerprint, split_keywords, submit_workflow)
from tipsurf.workflows.launchpad import open_launchpad

PAIR_FILTER = "tipsurf.workflows.scan:paired_scan_records"
DEFAULT_CONFIGS: tuple[str, ...] = ("p", "ap")
DISTANCE_DECIMALS = 4
#: SCF threshold of the fragments (Ry): they are starting densities, not results.
FRAGMENT_CONV_THR_RY = 1e-5


def parse_distances(text: str | Sequence[float]) -> list[float]:
    """Distances in Å from ``"4.0,4.5,5.0"``, ``"START:STOP:STEP"`` (inclusive) or a list.

    Raises
    ------
    InputError
        Malformed text, non-positive or repeated distances, an empty or huge range.
    """
    if isinstance(text, str):
        values = _distances_from_text(text.strip())
    else:
        values = [float(x) for x in text]
    values = [round(v, DISTANCE_DECIMALS) for v in values]
    if not values:
        raise InputError("no distances given; e.g. --distances 4.0,4.5,5.0")
    if any(v <= 0 for v in values):
        raise InputError(f"distances must be positive, got {values}")
    if len(set(values)) != len(values):
        raise InputError(f"distances repeat: {values}")
    return values


def _numbers(text: str, parts: list[str]) -> list[float]:
    try:
        return [float(x) for x in parts]
    except ValueError:
        raise InputError(f"cannot read distances '{text}'; give 4.0,4.5,5.0 or START:STOP:STEP in Angstrom") from None


def _distances_from_text(text: str) -> list[float]:
    if ":" not in text:
        return _numbers(text, [x for x in text.split(",") if x.strip()])
    parts = _numbers(text, text.split(":"))
    if len(parts) != 3:
        raise InputError(f"cannot read distances '{text}'; a range is START:STOP:STEP in Angstrom")
    start, stop, step = parts
    if step == 0 or (stop - start) / step < -1e-9:
        raise InputError(f"distance range '{text}' is empty; use START:STOP:STEP with STEP > 0 towards STOP")
    n = int(math.floor((stop - start) / step + 1e-6)) + 1
    if n > 500:
        raise InputError(f"distance range '{text}' has {n} points; at most 500")
    return [start + i * step for i in range(n)]


def scan_point_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of a scan's p/ap points: its pre-steps (relaxations, slab and tip alone) dropped."""
    def pre_step(rec: dict[str, Any]) -> bool:
        meta = rec.get("metadata") or {}
        return bool(meta.get("fragment")) or str(meta.get("role", "")).startswith(("relax-", "fragment-"))

    return [rec for rec in records if not pre_step(rec)]


def paired_scan_records(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Keep the records whose (site, distance) has both a p and an ap record.

    Returns
    -------
    kept, skipped
        ``skipped`` lists the unpaired points (fingerprint, d_A, config, reason).
    """
    slots: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    for rec in records:
        meta = rec.get("metadata") or {}
        if meta.get("distance_A") is None or meta.get("config") not in DEFAULT_CONFIGS:
            continue
        key = (meta.get("surface"), meta.get("site"), meta.get("tip"), round(float(meta["distance_A"]), DISTANCE_DECIMALS))
        slots.setdefault(key, {})[meta["config"]] = rec
    kept, skipped = [], []
    for key, slot in slots.items():
        if len(slot) == 2:
            kept.extend(slot.values())
        else:
            for config, rec in slot.items():
                other = "ap" if config == "p" else "p"
                skipped.append({"fingerprint": rec.get("fingerprint"), "d_A": key[3], "config": config,
                                "reason": f"no '{other}' result at this distance"})
    return kept, skipped


def _as_spec(value: Any, kind: str) -> Any:
    from tipsurf.structures.specs import spec_from_dict

    if hasattr(value, "as_dict"):
        return value
    if isinstance(value, dict):
        data = dict(value)
        data.setdefault("kind", kind)
        return spec_from_dict(data)
    raise InputError(f"{kind} must be a spec or a dict, got {type(value).__name__}")


def default_campaign_name(surface: Any, tip: Any, site: str, site_index: int, code: str, preset_name: str) -> str:
    """``scan-<tip>-<surface>-<site><i>-<code>-<preset>``."""
    return f"scan-{tip.label()}-{surface.label()}-{site}{site_index}-{code}-{preset_name}"


def _relax_points(surface: Any, tip: Any, code: str, preset: dict[str, Any], relax_tip: bool, relax_slab: bool) -> dict[str, Point]:
    out: dict[str, Point] = {}
    for role, spec, wanted in (("tip", tip, relax_tip), ("surface", surface, relax_slab)):
        if not wanted:
            continue
        atoms = spec.build()
        fp = planned_fingerprint(atoms, code, preset, calculation="relax")
        out[role] = Point(fp, spec.as_dict(), f"relax {role} {spec.label()}", {"role": f"relax-{role}"}, "relax", f"relax-{role}")
    return out


def plan_scan_points(
    surface: Any,
    tip: Any,
    site: str,
    distances: Sequence[float],
    configs: Sequence[str],
    code: str,
    preset: dict[str, Any],
    *,
    site_index: int = 0,
    vacuum_above_tip_A: float = 10.0,
    warm_start: bool = True,
    relaxed_from: dict[str, str] | None = None,
    junction_options: dict[str, Any] | None = None,
    fragments: dict[str, Point] | None = None,
    scan_d_max_A: float | None = None,
) -> dict[str, list[Point]]:
    """Points of every configuration, farthest first, with their warm-start neighbours.

    All points share one cell and slab position (``scan_d_max_A``, default the largest distance);
    ``junction_options`` are further :class:`JunctionSpec` fields.  With ``fragments`` (from
    :func:`plan_fragments`) every point starts from them.
    """
    from tipsurf.structures.specs import JunctionSpec

    chains: dict[str, list[Point]] = {}
    d_max = max(distances) if scan_d_max_A is None else float(scan_d_max_A)
    starts = {role: p.fingerprint for role, p in (fragments or {}).items()}
    for config in configs:
        chain: list[Point] = []
        for d in sorted(distances, reverse=True):
            spec = JunctionSpec(surface=surface, tip=tip, site=site, site_index=site_index, distance_A=d, config=config,
                                vacuum_above_tip_A=vacuum_above_tip_A, scan_d_max_A=d_max, **(junction_options or {}))
            base = planned_fingerprint(spec.build(), code, preset)
            fp = derived_fingerprint(base, relaxed_from or {})
            meta = {"distance_A": d, "config": config, "site": site, "site_index": site_index}
            neighbours = [p.fingerprint for p in reversed(chain)] if warm_start else []
            chain.append(Point(fp, spec.as_dict(), spec.label(), meta, "scf", "point", neighbours, dict(relaxed_from or {}),
                               start_fragments=dict(starts)))
        chains[config] = chain
    return chains


def fragment_preset(preset: dict[str, Any]) -> dict[str, Any]:
    """The scan's preset with the fragments' looser SCF threshold (``FRAGMENT_CONV_THR_RY``)."""
    out = {k: v for k, v in preset.items() if k != "conv_thr_Ry_per_atom"}
    out["conv_thr_Ry"] = max(float(preset.get("conv_thr_Ry") or 0.0), FRAGMENT_CONV_THR_RY)
    return out


def plan_fragments(
    surface: Any, tip: Any, site: str, d_max_A: float, code: str, preset: dict[str, Any], *,
    site_index: int = 0, vacuum_above_tip_A: float = 10.0, relaxed_from: dict[str, str] | None = None,
    junction_options: dict[str, Any] | None = None,
) -> dict[str, Point]:
    """The slab and the tip of the scan's largest-distance junction, each alone in its cell."""
    from tipsurf.structures.junction import junction_fragment
    from tipsurf.structures.specs import JunctionSpec

    spec = JunctionSpec(surface=surface, tip=tip, site=site, site_index=site_index, distance_A=d_max_A, config="p",
                        vacuum_above_tip_A=vacuum_above_tip_A, scan_d_max_A=d_max_A, **(junction_options or {}))
    junction = spec.build()
    frag_preset = fragment_preset(preset)
    out = {}
    for role in ("surface", "tip"):
        base = planned_fingerprint(junction_fragment(junction, role), code, frag_preset)
        fp = derived_fingerprint(base, relaxed_from or {})
        label = f"{role} alone in the scan cell of {spec.label()}"
        out[role] = Point(fp, spec.as_dict(), label, {"role": f"fragment-{role}"}, "scf", f"fragment-{role}",
                          relaxed_from=dict(relaxed_from or {}), fragment=role, preset=frag_preset)
    return out


def add_distance_scan(
    surface: Any,
    tip: Any,
    site: str,
    distances: str | Sequence[float],
    *,
    configs: Sequence[str] = DEFAULT_CONFIGS,
    code: str = "qe",
    preset: str | dict[str, Any] = "fast",
    preset_overrides: dict[str, Any] | None = None,
    site_index: int = 0,
    vacuum_above_tip_A: float = 10.0,
    warm_start: bool | None = None,
    relax_tip: bool | None = None,
    relax_slab: bool | None = None,
    d0_A: float = 5.0,
    junction_options: dict[str, Any] | None = None,
    scan_d_max_A: float | None = None,
    **submission: Any,
) -> AddReport:
    """Add a tip-surface distance scan to the launchpad (without running it).

    Parameters
    ----------
    surface, tip
        :class:`~tipsurf.structures.specs.MnW110Spec` and :class:`~tipsurf.structures.specs.TipSpec`
        (or their dicts).
    site
        ``top`` or ``hollow``.
    distances
        Å, as a list or ``"4.0,4.5"`` / ``"START:STOP:STEP"``.
    configs
        Magnetic configurations (default p and ap).
    code, preset, preset_overrides
        Engine, preset name (or preset dict) and overrides merged into it.
    warm_start
        Start each point from its finished neighbour's density (default: on for QE).
    relax_tip, relax_slab
        Pre-steps of the reference protocol: relax the isolated tip (apex and the layer above
        it free) and/or the slab (Mn and the W layer under it free); the scan is assembled
        from the relaxed structures.  None (default): the preset's ``relax_parts_before_scan``
        (on in the production presets, off in ``fast`` and ``demo``).
    d0_A
        Reference distance of Δd = d − d0 in the analysis table.
    junction_options
        Further :class:`~tipsurf.structures.specs.JunctionSpec` fields.
    scan_d_max_A
        The distance that sets the scan's shared cell and slab position (default: the largest
        distance); give the larger one of an earlier scan to add points in its cell (Å).
    **submission
        The fields of :class:`~tipsurf.workflows.common.Submission`: ``name`` (default from
        tip, surface, site, code and preset), ``walltime_s``, ``launchpad``, ``project_dir``,
        ``analysis`` (called as ``function(records, d0_A=d0_A)`` on the distances with both p
        and ap results once the points are done; :func:`tipsurf.api.campaigns.add_distance_scan`
        gives the E_ex/F_ex table).

    Returns
    -------
    AddReport
        Points added and points that already existed (identical fingerprints are never added twice).
    """
    from tipsurf.engines.presets import load_preset, merge_preset

    (where,) = split_keywords("add_distance_scan", submission, Submission)
    surface, tip = _as_spec(surface, "mn-w110"), _as_spec(tip, "tip")
    dists = parse_distances(distances)
    d_max_A = max(dists) if scan_d_max_A is None else float(scan_d_max_A)
    if d_max_A < max(dists) - 1e-9:
        raise InputError(f"scan_d_max_A {d_max_A:g} A is below the scan's largest distance {max(dists):g} A; "
                         "give at least the largest distance (or leave it out)")
    configs = list(configs)
    bad = [c for c in configs if c not in DEFAULT_CONFIGS]
    if bad or not configs or len(set(configs)) != len(configs):
        raise InputError(f"configurations must be a selection of p, ap without repeats, got {configs}")
    base_preset = preset if isinstance(preset, dict) else load_preset(preset, code)
    merged = merge_preset(base_preset, preset_overrides)
    if merged.get("code") != code:
        raise InputError(f"preset '{merged.get('name')}' is for code '{merged.get('code')}', not '{code}'")
    warm = (code == "qe") if warm_start is None else bool(warm_start)
    relax_default = bool(merged.get("relax_parts_before_scan", False))
    relax_tip = relax_default if relax_tip is None else bool(relax_tip)
    relax_slab = relax_default if relax_slab is None else bool(relax_slab)
    name = check_campaign_name(where.name or default_campaign_name(surface, tip, site, site_index, code, str(merged.get("name", "custom"))))

    relax = _relax_points(surface, tip, code, merged, relax_tip, relax_slab)
    relaxed_from = {role: p.fingerprint for role, p in relax.items()}
    geometry = {"site_index": site_index, "vacuum_above_tip_A": vacuum_above_tip_A, "relaxed_from": relaxed_from,
                "junction_options": junction_options}
    fragments = plan_fragments(surface, tip, site, d_max_A, code, merged, **geometry) if warm and code == "qe" else {}
    chains = plan_scan_points(surface, tip, site, dists, configs, code, merged, warm_start=warm, fragments=fragments,
                              scan_d_max_A=d_max_A, **geometry)
    all_points = [*relax.values(), *fragments.values(), *(p for chain in chains.values() for p in chain)]
    inputs = {
        "surface": surface.as_dict(), "tip": tip.as_dict(), "site": site, "site_index": site_index,
        "distances_A": dists, "configs": configs, "code": code, "preset": merged,
        "warm_start": warm, "relax_tip": relax_tip, "relax_slab": relax_slab, "d0_A": d0_A,
        "vacuum_above_tip_A": vacuum_above_tip_A, "walltime_s": where.walltime_s,
        "junction_options": dict(junction_options or {}), "scan_d_max_A": d_max_A,
    }
    with open_launchpad(where.launchpad, where.project_dir) as handle:
        report = AddReport(name, "distance_scan", handle.describe())
        existing = existing_fingerprints(handle, [p.fingerprint for p in all_points], name)
        fws: dict[str, Any] = {}
        kw = {"campaign": name, "code": code, "preset": merged, "project_dir": handle.project_dir, "walltime_s": where.walltime_s}
        for role, point in relax.items():
            if point.fingerprint in existing:
                report.existing.append({**point.summary(), "state": existing[point.fingerprint]})
            else:
                fws[point.fingerprint] = calc_firework(point, **kw)
                report.added.append(point.summary())
        relax_parents = [fws[p.fingerprint] for p in relax.values() if p.fingerprint in fws]
        for point in fragments.values():
            if point.fingerprint in existing:
                report.existing.append({**point.summary(), "state": existing[point.fingerprint]})
            else:
                fws[point.fingerprint] = calc_firework(point, parents=relax_parents, **kw)
                report.added.append(point.summary())
        relax_parents = relax_parents + [fws[p.fingerprint] for p in fragments.values() if p.fingerprint in fws]
        for chain in chains.values():
            previous = None
            for point in chain:
                if point.fingerprint in existing:
                    report.existing.append({**point.summary(), "state": existing[point.fingerprint]})
                    previous = None
                    continue
                parents = list(relax_parents) + ([previous] if previous is not None else [])
                fw = calc_firework(point, parents=parents, **kw)
                fws[point.fingerprint] = fw
                report.added.append(point.summary())
                previous = fw if warm else None
        point_fws = list(fws.values())
        campaign_exists = handle.db["tipsurf_campaigns"].find_one({"name": name}) is not None
        if where.analysis and (point_fws or not campaign_exists):
            point_parents = [fws[p.fingerprint] for chain in chains.values() for p in chain if p.fingerprint in fws]
            point_fws.append(analysis_firework(name, where.analysis, {"d0_A": d0_A}, point_parents, PAIR_FILTER))
            report.analysis_added = True
        return submit_workflow(handle, report, point_fws, inputs, all_points, {"kind": "distance_scan"})
