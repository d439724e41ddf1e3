"""Adsorbate campaign: TiHx (x = 0…4) × sites × MgO thickness on Ag(100), plus references.

Graph (one workflow)::

    [bare slab n_MgO relax] -> [TiHx / site / n_MgO relax] -> [post-steps]  \\
                             \\-> [post-steps]                              >-> [analysis: ΔG(x; Δμ_H)]
    [H2 molecule relax]                                                     /

Relaxations by default, with the adsorbate and the upper slab free as the structure builder
constrains them.  The adsorbates are placed on the *relaxed* bare slab of their thickness
(``on_relaxed_slab``, the reference protocol): they wait for it, and then every adsorbate and
the slab reference share one substrate geometry.  Measured on the demo model (1x1, 2 ML MgO on
2 Ag): on the unrelaxed slab the top MgO plane rose 0.26-0.44 A under TiH2 (bridge, started 1.6 A
high), and its relaxation had not converged after 17 BFGS steps.  The points of one thickness
run in parallel.  Post-steps make what Bader and the vacuum-LDOS polarization need: QE — total and spin density cubes with
pp.x (the engine's :func:`tipsurf.engines.qe.pp.qe_density_cubes`); VASP — CHGCAR, AECCAR0 and AECCAR2
are written by the run itself: the campaign sets ``LCHARG`` and ``LAECHG`` in the preset's
INCAR (and refuses a preset or override that switches them off).
The analysis Firework applies the function the caller names (``analysis``;
:func:`tipsurf.api.campaigns.add_adsorbate_campaign` names the per-(site, thickness) energies of
:mod:`tipsurf.analysis.gibbs`) and stores its table with the campaign; ΔG lines, Bader moments
and LDOS are computed from the stored records and folders.

Isolated adsorbate: the default lateral cell is 2x2 of the a x a square MgO/Ag(100) cell
(:data:`DEFAULT_LATERAL_SIZE`; one adsorbate per cell, so Ti-Ti = 2a = 8.30 A for the presets'
a = 4.15 A, above :data:`MIN_TI_TI_A`); ``slab_options={"size": 1}`` (``--size 1``) gives the
4.15 A cell, a Ti film rather than an adsorbate, only when asked.  The Ag lattice constant is
the preset's ``ag_lattice_constant_A`` (stated there with its source) unless
``slab_options`` gives ``a_A``; a preset without one gets :data:`AG_LATTICE_PBE_A`.  The
slab labels name the cell and the Ti-Ti distance.  A preset with ``hubbard_u_required``
(the tio-mgo presets: U on Ti) refuses to start until the user gives the U.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from tipsurf.errors import InputError
from tipsurf.workflows.common import (
    AddReport, Point, Submission, analysis_firework, calc_firework, check_campaign_name, derived_fingerprint,
    existing_fingerprints, planned_fingerprint, split_keywords, submit_workflow)
from tipsurf.workflows.launchpad import open_launchpad

DEFAULT_SPECIES: tuple[str, ...] = ("Ti", "TiH", "TiH2", "TiH3", "TiH4")
DEFAULT_SITES: tuple[str, ...] = ("o-top", "bridge")
DEFAULT_MGO_LAYERS: tuple[int, ...] = (2, 3)
#: k of the default k x k lateral cell (of the a x a square cell): Ti-Ti = k * a = 8.30 A.
DEFAULT_LATERAL_SIZE = 2
#: Smallest Ti-Ti distance (A) the default cell keeps (DESIGN.md: isolated adsorbate).
MIN_TI_TI_A = 8.0
#: Ag a0 (A) for presets that state none: PBE, Haas, Tran & Blaha, PRB 79, 085104 (2009).
AG_LATTICE_PBE_A = 4.15
QE_CUBES_FUNCTION = "tipsurf.engines.qe.pp:qe_density_cubes"
#: Löwdin charges and moments of every atom (projwfc.x), stored as the record's ``_post.lowdin``.
QE_LOWDIN_FUNCTION = "tipsurf.engines.qe.projwfc:run_projwfc"


def post_steps_for(code: str) -> list[dict[str, Any]]:
    """Post-processing steps of an adsorbate/slab calculation (Bader, Löwdin and LDOS inputs)."""
    if code == "qe":
        return [{"function": QE_CUBES_FUNCTION, "label": "density_cubes"},
                {"function": QE_LOWDIN_FUNCTION, "label": "lowdin"}]
    return []


@dataclass(frozen=True)
class AdsorbateGrid:
    """The points of an adsorbate campaign: which adsorbates, where, on which slabs, and how.

    Attributes
    ----------
    species, sites, mgo_layers
        TiHx species, adsorption sites and MgO thicknesses (monolayers); one point per
        combination (defaults: Ti…TiH4, O-top and bridge, 2 and 3 MgO layers).
    slab_options
        Extra :class:`~tipsurf.structures.specs.MgOAg100Spec` fields (``ag_layers``, ``size`` ...).
        Defaults: ``size`` :data:`DEFAULT_LATERAL_SIZE` (2x2 of the a x a cell, Ti-Ti 2a =
        8.30 A; ``size=1`` only on request) and ``a_A`` the preset's ``ag_lattice_constant_A``.
    relax
        Relax (default) or single points.
    on_relaxed_slab
        With ``relax``: build each adsorbate on the relaxed bare slab of its thickness (default;
        the adsorbate points then follow the slab point).  False: every point from the
        as-built slab, all in parallel.
    h2_box_A
        Edge of the cubic box of the H2 reference (Angstrom).
    """

    species: Sequence[str] = DEFAULT_SPECIES
    sites: Sequence[str] = DEFAULT_SITES
    mgo_layers: Sequence[int] = DEFAULT_MGO_LAYERS
    slab_options: dict[str, Any] = field(default_factory=dict)
    relax: bool = True
    on_relaxed_slab: bool = True
    h2_box_A: float = 12.0

    def check(self) -> None:
        """Validate species, sites and thicknesses (cheap) before any preset or pseudopotential work."""
        from tipsurf.structures.specs import AdsorbateSpec, MgOAg100Spec

        if not self.species or not self.sites or not self.mgo_layers:
            raise InputError("the adsorbate campaign needs at least one species, one site and one MgO thickness")
        for n in self.mgo_layers:
            slab = MgOAg100Spec(mgo_layers=n, **(self.slab_options or {}))
            for kind in self.species:
                for site in self.sites:
                    AdsorbateSpec(species=kind, site=site, slab=slab)

    def with_slab_options(self, slab_options: dict[str, Any]) -> AdsorbateGrid:
        """The same grid on other slab options (the preset's defaults filled in)."""
        return replace(self, slab_options=dict(slab_options))

    def as_dict(self) -> dict[str, Any]:
        """The grid as the campaign's stored inputs keep it."""
        return {"species": list(self.species), "sites": list(self.sites),
                "mgo_layers": [int(n) for n in self.mgo_layers], "slab_options": dict(self.slab_options or {}),
                "relax": bool(self.relax), "on_relaxed_slab": bool(self.on_relaxed_slab),
                "h2_box_A": float(self.h2_box_A)}


#: INCAR flags the VASP campaign needs: CHGCAR and the AECCAR0/AECCAR2 core references for Bader.
VASP_BADER_FLAGS: tuple[str, ...] = ("LCHARG", "LAECHG")


def _preset_for(code: str, preset: str | dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The merged preset of the campaign (VASP: with the Bader charge-density flags)."""
    from tipsurf.engines.presets import load_preset, merge_preset

    base = preset if isinstance(preset, dict) else load_preset(preset, code)
    merged = merge_preset(base, overrides)
    if merged.get("code") != code:
        raise InputError(f"preset '{merged.get('name')}' is for code '{merged.get('code')}', not '{code}'")
    return _with_bader_flags(merged) if code == "vasp" else merged


def _with_bader_flags(preset: dict[str, Any]) -> dict[str, Any]:
    """Set LCHARG and LAECHG in the VASP preset's INCAR; refuse one that switches them off.

    Raises
    ------
    InputError
        The preset or an override sets one of them false.
    """
    incar = {str(k).upper(): v for k, v in (preset.get("incar") or {}).items()}
    for flag in VASP_BADER_FLAGS:
        if incar.get(flag, True) is not True:
            raise InputError(
                f"the adsorbate campaign needs {flag} = .TRUE. for Bader charges (CHGCAR, AECCAR0, AECCAR2); "
                f"remove the override incar.{flag}={incar[flag]}"
            )
        incar[flag] = True
    return {**preset, "incar": incar}


def _slab_options_for(preset: dict[str, Any], slab_options: dict[str, Any] | None) -> dict[str, Any]:
    """Slab options with the default lateral size and the preset's Ag lattice constant filled in."""
    options = dict(slab_options or {})
    options.setdefault("size", DEFAULT_LATERAL_SIZE)
    options.setdefault("a_A", float(preset.get("ag_lattice_constant_A") or AG_LATTICE_PBE_A))
    return options


def lateral_cell(slab_options: dict[str, Any]) -> dict[str, Any]:
    """The lateral cell of the campaign's slabs: size k, a (A), cell edge and Ti-Ti distance (A).

    One adsorbate per k x k cell of the a x a square cell, so its nearest periodic image is
    k * a away.
    """
    size, a_A = int(slab_options["size"]), float(slab_options["a_A"])
    return {"size": size, "a_A": a_A, "cell_edge_A": round(size * a_A, 4), "ti_ti_A": round(size * a_A, 4),
            "isolated": size * a_A >= MIN_TI_TI_A}


def _cell_text(cell: dict[str, Any]) -> str:
    """E.g. ``2x2 of a = 4.150 A: 8.30 x 8.30 A, Ti-Ti 8.30 A``."""
    note = "" if cell["isolated"] else f" (< {MIN_TI_TI_A:g} A: not an isolated adsorbate)"
    return (f"{cell['size']}x{cell['size']} of a = {cell['a_A']:.3f} A: {cell['cell_edge_A']:.2f} x "
            f"{cell['cell_edge_A']:.2f} A, Ti-Ti {cell['ti_ti_A']:.2f} A{note}")


def plan_adsorbate_points(code: str, preset: dict[str, Any], grid: AdsorbateGrid | None = None) -> list[Point]:
    """Adsorbate × site × thickness points, one bare slab per thickness and the H2 reference.

    The slabs have the default lateral cell (:data:`DEFAULT_LATERAL_SIZE`) and the preset's Ag
    lattice constant unless the grid's ``slab_options`` give ``size`` or ``a_A``.
    """
    from tipsurf.structures.specs import AdsorbateSpec, MgOAg100Spec, MoleculeSpec

    grid = grid or AdsorbateGrid()
    calculation = "relax" if grid.relax else "scf"
    post = post_steps_for(code)
    slab_options = _slab_options_for(preset, grid.slab_options)
    points: list[Point] = []
    for n in grid.mgo_layers:
        slab = MgOAg100Spec(mgo_layers=int(n), **slab_options)
        fp = planned_fingerprint(slab.build(), code, preset, calculation)
        cell = lateral_cell({"size": slab.size, "a_A": slab.a_A})
        meta = {"role": "slab", "mgo_layers": int(n), "lateral_cell": cell}
        points.append(Point(fp, slab.as_dict(), f"slab {slab.label()} ({_cell_text(cell)})", meta,
                            calculation, "slab", post_steps=list(post)))
        for site in grid.sites:
            for sp in grid.species:
                spec = AdsorbateSpec(species=sp, site=site, slab=slab)
                relaxed_from = {"surface": fp} if grid.relax and grid.on_relaxed_slab else {}
                ads_fp = derived_fingerprint(planned_fingerprint(spec.build(), code, preset, calculation), relaxed_from)
                meta = {"role": "adsorbate", "species": sp, "site": site, "mgo_layers": int(n)}
                points.append(Point(ads_fp, spec.as_dict(), spec.label(), meta, calculation, "adsorbate",
                                    relaxed_from=relaxed_from, post_steps=list(post)))
    h2 = MoleculeSpec(species="H2", box_A=grid.h2_box_A)
    fp = planned_fingerprint(h2.build(), code, preset, calculation)
    points.append(Point(fp, h2.as_dict(), h2.label(), {"role": "reference", "species": "H2"}, calculation, "reference"))
    return points


def add_adsorbate_campaign(
    *,
    code: str = "qe",
    preset: str | dict[str, Any] = "tio-mgo-qe",
    preset_overrides: dict[str, Any] | None = None,
    **keywords: Any,
) -> AddReport:
    """Add the TiHx/MgO/Ag(100) campaign (does not run it).

    Parameters
    ----------
    code, preset, preset_overrides
        Engine and protocol.
    **keywords
        The fields of :class:`AdsorbateGrid` (``species``, ``sites``, ``mgo_layers``,
        ``slab_options``, ``relax``, ``h2_box_A``) and of
        :class:`~tipsurf.workflows.common.Submission` (``name``, default
        ``adsorbates-<code>-<preset>``; ``walltime_s``, ``launchpad``, ``project_dir``;
        ``analysis``, ``function(records)``, which
        :func:`tipsurf.api.campaigns.add_adsorbate_campaign` sets to the Gibbs energies).

    Returns
    -------
    AddReport
        The slab labels name the lateral cell and Ti-Ti distance; the campaign's stored inputs
        keep it as ``lateral_cell``.

    Raises
    ------
    InputError
        Bad grid or preset, Bader flags switched off (VASP), or no Hubbard U where the preset
        requires one (``hubbard_u_required``) -- before anything is written to the launchpad.
    ConfigurationError
        Missing pseudopotentials or POTCARs (found while planning, before the launchpad).
    """
    from tipsurf.engines.presets import require_hubbard_u

    grid, where = split_keywords("add_adsorbate_campaign", keywords, AdsorbateGrid, Submission)
    grid.check()
    merged = _preset_for(code, preset, preset_overrides)
    require_hubbard_u(merged, ["Ti"])  # every adsorbate of the grid holds Ti
    grid = grid.with_slab_options(_slab_options_for(merged, grid.slab_options))
    name = check_campaign_name(where.name or f"adsorbates-{code}-{merged.get('name', 'custom')}")
    points = plan_adsorbate_points(code, merged, grid)
    inputs = {"code": code, "preset": merged, **grid.as_dict(), "lateral_cell": lateral_cell(grid.slab_options)}
    with open_launchpad(where.launchpad, where.project_dir) as handle:
        report = AddReport(name, "adsorbates", handle.describe())
        existing = existing_fingerprints(handle, [p.fingerprint for p in points], name)
        fws, by_fingerprint = [], {}
        for point in points:  # a slab comes before its adsorbates: they wait for its relaxation
            if point.fingerprint in existing:
                report.existing.append({**point.summary(), "state": existing[point.fingerprint]})
                continue
            parents = [by_fingerprint[fp] for fp in point.relaxed_from.values() if fp in by_fingerprint]
            fw = calc_firework(point, campaign=name, code=code, preset=merged, project_dir=handle.project_dir,
                               walltime_s=where.walltime_s, parents=parents)
            by_fingerprint[point.fingerprint] = fw
            fws.append(fw)
            report.added.append(point.summary())
        campaign_exists = handle.db["tipsurf_campaigns"].find_one({"name": name}) is not None
        if where.analysis and (fws or not campaign_exists):
            fws.append(analysis_firework(name, where.analysis, {}, list(fws)))
            report.analysis_added = True
        return submit_workflow(handle, report, fws, inputs, points, {"kind": "adsorbates"})
