"""Python recipes: one documented function per ``tipsurf`` command, for scripts and notebooks.

Structures go in and come out as :class:`ase.Atoms` (or :class:`pymatgen.core.Structure` with
``as_pymatgen=True``; any function taking a structure accepts either).  Everything else is a
plain record: dicts and lists of JSON-able values, the same ones the CLI prints with ``--json``.
Every user error is a :class:`~tipsurf.errors.InputError` (or another
:class:`~tipsurf.errors.TipsurfError`) whose message is one line, as on the command line.

A scan from plan to table (the README's "Python" section runs on the smallest model)::

    from tipsurf import api
    surface, tip = api.MnW110Spec(w_layers=5, size=(3, 2)), api.TipSpec(apex="Fe")
    api.add_scan(surface, tip, "top", [6.0, 5.5, 5.0, 4.5], preset="fast", name="fe-top")
    api.run_campaign("fe-top", workers=2)
    table = api.analyze_exchange("fe-top", output_dir="out")

=================================  ==================================================
command                            function
=================================  ==================================================
``build tip``                      :func:`build_tip`
``build slab mn-w110``             :func:`build_mn_w110_slab`
``build slab mgo-ag100``           :func:`build_mgo_ag100_slab`
``build adsorbate``                :func:`build_adsorbate`
``build molecule``                 :func:`build_molecule`
``build junction``                 :func:`build_junction` (:func:`scan_junctions`: all of a scan)
``inputs``                         :func:`write_inputs`
``run-calc`` / ``parse``           :func:`run_calculation` / :func:`parse_calculation`
``scan``                           :func:`add_scan`
``campaign adsorbates``            :func:`add_adsorbate_campaign`
``run`` / ``status`` / ``rerun``   :func:`run_campaign` / :func:`campaign_status` / :func:`rerun_campaign`
``submit``                         :func:`submit_campaign`
``results``                        :func:`load_results`, :func:`load_records`, :func:`record_structure`
``export``                         :func:`export_ase_db`
``analyze exchange``               :func:`analyze_exchange`
``analyze bader``                  :func:`analyze_bader`
``analyze gibbs``                  :func:`analyze_gibbs`
``analyze ldos``                   :func:`analyze_ldos`
``fit exchange``                   :func:`fit_exchange`
``sader-jarvis``                   :func:`sader_jarvis`
``pseudo check`` / ``generate``    :func:`check_pseudopotentials` / :func:`generate_pseudopotentials`
``esr-map``                        :class:`tipsurf.analysis.esr.EsrModel` and
                                   :func:`tipsurf.analysis.esr.resonance_map`
=================================  ==================================================

Like the CLI this package sits on top of every stage; the engines, workflows and analysis are
imported only when a function needs them.  The functions live by topic in
:mod:`tipsurf.api.structures`, :mod:`tipsurf.api.calculations` (one calculation, campaigns,
pseudopotentials), :mod:`tipsurf.api.results` and :mod:`tipsurf.api.analysis`; use them from here.
``launchpad`` and ``project_dir`` mean what ``--launchpad`` and ``--project`` mean: default
the embedded store in ``./.tipsurf`` of the current folder.
"""

from __future__ import annotations

from tipsurf.api.analysis import (  # noqa: F401
    GIBBS_PRESSURE_PA,
    GIBBS_TEMPERATURE_K,
    analyze_bader,
    analyze_exchange,
    analyze_gibbs,
    analyze_ldos,
    fit_exchange,
    sader_jarvis,
)
from tipsurf.api.calculations import (  # noqa: F401
    add_adsorbate_campaign,
    add_scan,
    campaign_status,
    check_pseudopotentials,
    generate_pseudopotentials,
    parse_calculation,
    rerun_campaign,
    run_calculation,
    run_campaign,
    submit_campaign,
    write_inputs,
)
from tipsurf.api.results import (  # noqa: F401
    ase_db_rows,
    export_ase_db,
    load_records,
    load_results,
)
from tipsurf.api.structures import (  # noqa: F401
    PathLike,
    Record,
    StructureLike,
    build_adsorbate,
    build_junction,
    build_mgo_ag100_slab,
    build_mn_w110_slab,
    build_molecule,
    build_tip,
    read_structure,
    record_structure,
    scan_junctions,
    to_atoms,
    to_structure,
    write_structure,
)
from tipsurf.structures.specs import AdsorbateSpec, JunctionSpec, MgOAg100Spec, MnW110Spec, MoleculeSpec, TipSpec

__all__ = [
    "AdsorbateSpec", "JunctionSpec", "MgOAg100Spec", "MnW110Spec", "MoleculeSpec", "TipSpec",
    "add_adsorbate_campaign", "add_scan", "analyze_bader", "analyze_exchange", "analyze_gibbs", "analyze_ldos",
    "build_adsorbate", "build_junction", "build_mgo_ag100_slab", "build_mn_w110_slab", "build_molecule", "build_tip",
    "campaign_status", "check_pseudopotentials", "export_ase_db", "fit_exchange", "generate_pseudopotentials",
    "load_records", "load_results", "parse_calculation", "read_structure", "record_structure", "rerun_campaign",
    "run_calculation", "run_campaign", "sader_jarvis", "scan_junctions", "submit_campaign", "to_atoms",
    "to_structure", "write_inputs", "write_structure",
]
