"""Adsorbate campaign: TiHx (x = 0…4) × sites × MgO thickness on Ag(100), plus references.

Graph (one workflow)::

    [TiHx / site / n_MgO relax] -> [post-steps]  \\
    [bare slab n_MgO relax]                        >-> [analysis: energies for ΔG(x; Δμ_H)]
    [H2 molecule relax]                           /

Every calculation is independent (they all run in parallel); relaxations by default, with the
adsorbate and the upper slab free as the structure builder constrains them.  Post-steps make
what Bader and the vacuum-LDOS polarization need: QE — total and spin density cubes with
pp.x (the analysis' ``qe_density_cubes``, named lazily); VASP — CHGCAR, AECCAR0 and AECCAR2
are written by the run itself when the preset sets ``LAECHG`` (added to the preset here).
The analysis Firework applies ``tipsurf.analysis.gibbs:energies_from_records`` (by dotted name,
see :mod:`tipsurf.workflows.tasks`) and stores the per-(site, thickness) energies with the
campaign; ΔG lines, Bader moments and LDOS are computed from the stored records and folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from tipsurf.errors import InputError
from tipsurf.workflows.common import (
    AddReport,
    Point,
    analysis_firework,
    calc_firework,
    check_campaign_name,
    existing_fingerprints,
    planned_fingerprint,
    submit_workflow,
)
from tipsurf.workflows.launchpad import open_launchpad

DEFAULT_SPECIES: tuple[str, ...] = ("Ti", "TiH", "TiH2", "TiH3", "TiH4")
DEFAULT_SITES: tuple[str, ...] = ("o-top", "bridge")
DEFAULT_MGO_LAYERS: tuple[int, ...] = (2, 3)
GIBBS_FUNCTION = "tipsurf.analysis.gibbs:energies_from_records"
QE_CUBES_FUNCTION = "tipsurf.analysis.volumetric:qe_density_cubes"


def post_steps_for(code: str) -> list[dict[str, Any]]:
    """Post-processing steps of an adsorbate/slab calculation (Bader and LDOS inputs)."""
    if code == "qe":
        return [{"function": QE_CUBES_FUNCTION, "label": "density_cubes"}]
    return []


def _check_grid(
    species: Sequence[str], sites: Sequence[str], mgo_layers: Sequence[int], slab_options: dict[str, Any] | None
) -> None:
    """Validate species, sites and thicknesses (cheap) before any preset or pseudopotential work."""
    from tipsurf.structures.specs import AdsorbateSpec, MgOAg100Spec

    for n in mgo_layers:
        slab = MgOAg100Spec(mgo_layers=n, **(slab_options or {}))
        for kind in species:
            for site in sites:
                AdsorbateSpec(species=kind, site=site, slab=slab)


def _preset_for(code: str, preset: str | dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    from tipsurf.engines.presets import load_preset, merge_preset

    base = preset if isinstance(preset, dict) else load_preset(preset, code)
    extra_overrides = dict(overrides or {})
    if code == "vasp":  # all-electron core charges for Bader (AECCAR0 + AECCAR2)
        extra = dict((base.get("extra") or {}))
        extra.update((extra_overrides.get("extra") or {}))
        extra.setdefault("LAECHG", True)
        extra_overrides["extra"] = extra
    merged = merge_preset(base, extra_overrides)
    if merged.get("code") != code:
        raise InputError(f"preset '{merged.get('name')}' is for code '{merged.get('code')}', not '{code}'")
    return merged


def plan_adsorbate_points(
    code: str,
    preset: dict[str, Any],
    *,
    species: Sequence[str] = DEFAULT_SPECIES,
    sites: Sequence[str] = DEFAULT_SITES,
    mgo_layers: Sequence[int] = DEFAULT_MGO_LAYERS,
    slab_options: dict[str, Any] | None = None,
    relax: bool = True,
    h2_box_A: float = 12.0,
) -> list[Point]:
    """Adsorbate × site × thickness points, one bare slab per thickness and the H2 reference."""
    from tipsurf.structures.specs import AdsorbateSpec, MgOAg100Spec, MoleculeSpec

    calculation = "relax" if relax else "scf"
    post = post_steps_for(code)
    points: list[Point] = []
    for n in mgo_layers:
        slab = MgOAg100Spec(mgo_layers=int(n), **(slab_options or {}))
        fp = planned_fingerprint(slab.build(), code, preset, calculation)
        points.append(Point(fp, slab.as_dict(), f"slab {slab.label()}", {"role": "slab", "mgo_layers": int(n)},
                            calculation, "slab", post_steps=list(post)))
        for site in sites:
            for sp in species:
                spec = AdsorbateSpec(species=sp, site=site, slab=slab)
                fp = planned_fingerprint(spec.build(), code, preset, calculation)
                meta = {"role": "adsorbate", "species": sp, "site": site, "mgo_layers": int(n)}
                points.append(Point(fp, spec.as_dict(), spec.label(), meta, calculation, "adsorbate", post_steps=list(post)))
    h2 = MoleculeSpec(species="H2", box_A=h2_box_A)
    fp = planned_fingerprint(h2.build(), code, preset, calculation)
    points.append(Point(fp, h2.as_dict(), h2.label(), {"role": "reference", "species": "H2"}, calculation, "reference"))
    return points


def add_adsorbate_campaign(
    *,
    code: str = "qe",
    preset: str | dict[str, Any] = "tio-mgo-qe",
    preset_overrides: dict[str, Any] | None = None,
    species: Sequence[str] = DEFAULT_SPECIES,
    sites: Sequence[str] = DEFAULT_SITES,
    mgo_layers: Sequence[int] = DEFAULT_MGO_LAYERS,
    slab_options: dict[str, Any] | None = None,
    relax: bool = True,
    name: str | None = None,
    walltime_s: float | None = None,
    launchpad: str | Path | None = None,
    project_dir: str | Path | None = None,
) -> AddReport:
    """Add the TiHx/MgO/Ag(100) campaign (does not run it).

    Parameters
    ----------
    code, preset, preset_overrides
        Engine and protocol.
    species, sites, mgo_layers
        The grid (defaults: Ti…TiH4, O-top and bridge, 2 and 3 MgO layers).
    slab_options
        Extra :class:`~tipsurf.structures.specs.MgOAg100Spec` fields (``ag_layers``, ``size`` ...).
    relax
        Relax (default) or single points.
    name
        Campaign name (default ``adsorbates-<code>-<preset>``).

    Returns
    -------
    AddReport
    """
    if not species or not sites or not mgo_layers:
        raise InputError("the adsorbate campaign needs at least one species, one site and one MgO thickness")
    _check_grid(species, sites, mgo_layers, slab_options)
    merged = _preset_for(code, preset, preset_overrides)
    name = check_campaign_name(name or f"adsorbates-{code}-{merged.get('name', 'custom')}")
    points = plan_adsorbate_points(code, merged, species=species, sites=sites, mgo_layers=mgo_layers,
                                   slab_options=slab_options, relax=relax)
    inputs = {"code": code, "preset": merged, "species": list(species), "sites": list(sites),
              "mgo_layers": [int(n) for n in mgo_layers], "slab_options": slab_options or {}, "relax": relax}
    with open_launchpad(launchpad, project_dir) as handle:
        report = AddReport(name, "adsorbates", handle.describe())
        existing = existing_fingerprints(handle, [p.fingerprint for p in points], name)
        fws = []
        for point in points:
            if point.fingerprint in existing:
                report.existing.append({**point.summary(), "state": existing[point.fingerprint]})
                continue
            fws.append(calc_firework(point, campaign=name, code=code, preset=merged,
                                     project_dir=handle.project_dir, walltime_s=walltime_s))
            report.added.append(point.summary())
        campaign_exists = handle.db["tipsurf_campaigns"].find_one({"name": name}) is not None
        if fws or not campaign_exists:
            fws.append(analysis_firework(name, GIBBS_FUNCTION, {}, list(fws)))
            report.analysis_added = True
        return submit_workflow(handle, report, fws, inputs, points, {"kind": "adsorbates"})
