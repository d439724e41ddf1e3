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

Like the CLI this module sits on top of every stage; the engines, workflows and analysis are
imported only when a function needs them.
``launchpad`` and ``project_dir`` mean what ``--launchpad`` and ``--project`` mean: default
the embedded store in ``./.tipsurf`` of the current folder.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ase import Atoms

from tipsurf.errors import InputError
from tipsurf.structures.specs import AdsorbateSpec, JunctionSpec, MgOAg100Spec, MnW110Spec, MoleculeSpec, TipSpec

if TYPE_CHECKING:
    from pymatgen.core import Structure

StructureLike = Union[Atoms, "Structure"]
PathLike = Union[str, "os.PathLike[str]"]
Record = dict[str, Any]

#: ``tipsurf analyze gibbs`` defaults: the ESR-STM conditions (sample at ~1 K, UHV).
GIBBS_TEMPERATURE_K = 1.0
GIBBS_PRESSURE_PA = 1e-8

__all__ = [
    "AdsorbateSpec", "JunctionSpec", "MgOAg100Spec", "MnW110Spec", "MoleculeSpec", "TipSpec",
    "add_adsorbate_campaign", "add_scan", "analyze_bader", "analyze_exchange", "analyze_gibbs", "analyze_ldos",
    "build_adsorbate", "build_junction", "build_mgo_ag100_slab", "build_mn_w110_slab", "build_molecule", "build_tip",
    "campaign_status", "check_pseudopotentials", "export_ase_db", "fit_exchange", "generate_pseudopotentials",
    "load_records", "load_results", "parse_calculation", "read_structure", "record_structure", "rerun_campaign",
    "run_calculation", "run_campaign", "sader_jarvis", "scan_junctions", "submit_campaign", "to_atoms",
    "to_structure", "write_inputs", "write_structure",
]


# ----------------------------------------------------------------------------- conversions


def to_atoms(structure: StructureLike, what: str = "structure") -> Atoms:
    """An independent :class:`ase.Atoms` copy of an Atoms or a pymatgen Structure.

    A Structure keeps what tipsurf needs through pymatgen's ``AseAtomsAdaptor``: site
    property ``magmom`` becomes the initial moments, ``selective_dynamics`` the FixAtoms
    constraint, ``tags`` the tags, and ``Structure.properties`` the ``atoms.info`` metadata
    (sites, apex and reference indices) that the builders write.

    Parameters
    ----------
    structure
        Atoms or pymatgen ``Structure``.
    what
        Name used in the error message (e.g. ``"surface"``).

    Raises
    ------
    InputError
        Anything else (a file name, a spec, a Molecule ...).
    """
    if isinstance(structure, Atoms):
        atoms = structure.copy()
        atoms.info = copy.deepcopy(structure.info)
        return atoms
    from pymatgen.core import Structure

    if isinstance(structure, Structure):
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_atoms(structure, msonable=False)
    raise InputError(f"{what} must be an ase.Atoms or a pymatgen Structure, got {type(structure).__name__}")


def to_structure(structure: StructureLike, what: str = "structure") -> Structure:
    """A pymatgen ``Structure`` of an Atoms (moments as site property ``magmom``, info as properties).

    Raises
    ------
    InputError
        Not an Atoms or Structure, or an Atoms without a 3D cell.
    """
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    if isinstance(structure, Structure):
        return structure.copy()
    atoms = to_atoms(structure, what)
    if atoms.cell.rank < 3:
        raise InputError(f"{what} has no 3D cell; a pymatgen Structure needs one")
    return AseAtomsAdaptor.get_structure(atoms)


def _out(atoms: Atoms, as_pymatgen: bool) -> StructureLike:
    return to_structure(atoms) if as_pymatgen else atoms


def _spec(value: Any, cls: type, default: Any, what: str, structures: bool = False) -> Any:
    """A spec of ``cls`` from an instance, its ``as_dict()`` (``kind`` optional) or None (default)."""
    if value is None:
        return default
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return cls.from_dict({"kind": cls.kind, **dict(value)})
    also = ", an ase.Atoms or a pymatgen Structure" if structures else ""
    raise InputError(f"{what} must be a {cls.__name__}, a dict of its fields{also}; got {type(value).__name__}")


def _scan_part(value: Any, cls: type, what: str) -> Any:
    spec = _spec(value, cls, None, what)
    if spec is None:
        raise InputError(f"a scan needs its {what}: a {cls.__name__} or a dict of its fields")
    return spec


def _is_structure(value: Any) -> bool:
    if isinstance(value, Atoms):
        return True
    try:
        from pymatgen.core import Structure
    except ImportError:  # pragma: no cover - pymatgen is a dependency
        return False
    return isinstance(value, Structure)


# ----------------------------------------------------------------------------- structures


def build_tip(apex: str = "Fe", layers: int = 3, base: str = "Fe", a_A: float = 2.85, *,
              as_pymatgen: bool = False) -> StructureLike:
    """Isolated bcc(001) pyramidal tip (``tipsurf build tip``).

    Parameters
    ----------
    apex
        Apex element (Fe, Co, Mn; also Cr, Ni).
    layers
        Layers 1..6 (3 = the reference 14-atom 9/4/1 pyramid; 1 = the apex atom alone).
    base
        Element of the other atoms.
    a_A
        bcc lattice constant of the base (Å).
    as_pymatgen
        Return a pymatgen Structure instead of Atoms.

    Returns
    -------
    ase.Atoms or pymatgen.core.Structure
        Initial moments, FixAtoms on the base, ``info`` with ``apex_index`` and the spec.
    """
    return _out(TipSpec(apex=apex, layers=layers, base=base, a_A=a_A).build(), as_pymatgen)


def build_mn_w110_slab(w_layers: int = 5, size: tuple[int, int] = (1, 1), *, one_sided: bool = False,
                       a_A: float = 3.17, vacuum_A: float = 10.0, as_pymatgen: bool = False) -> StructureLike:
    """Mn/W(110) slab with c(2×2) antiferromagnetic Mn (``tipsurf build slab mn-w110``).

    Parameters
    ----------
    w_layers
        W(110) layers.
    size
        Lateral repetitions ``(nx, ny)`` of the a × a√2 cell.
    one_sided
        Mn on the top side only (default: both sides, a symmetric slab).
    a_A, vacuum_A
        W lattice constant and the vacuum on each side (Å).
    as_pymatgen
        Return a pymatgen Structure instead of Atoms.

    Returns
    -------
    ase.Atoms or pymatgen.core.Structure
        With ``info['sites']`` (``top``, ``hollow``) that :func:`build_junction` places tips on.
    """
    spec = MnW110Spec(w_layers=w_layers, size=tuple(size), one_sided=one_sided, a_A=a_A, vacuum_A=vacuum_A)
    return _out(spec.build(), as_pymatgen)


def build_mgo_ag100_slab(mgo_layers: int = 2, ag_layers: int = 4, size: int = 1, *, a_A: float = 4.09,
                         vacuum_A: float = 20.0, as_pymatgen: bool = False) -> StructureLike:
    """MgO(n)/Ag(100) slab (``tipsurf build slab mgo-ag100``).

    Parameters
    ----------
    mgo_layers, ag_layers
        MgO monolayers and Ag(100) layers.
    size
        ``size × size`` repetitions of the a × a cell.
    a_A, vacuum_A
        Ag lattice constant and vacuum (Å).
    as_pymatgen
        Return a pymatgen Structure instead of Atoms.
    """
    spec = MgOAg100Spec(mgo_layers=mgo_layers, ag_layers=ag_layers, size=size, a_A=a_A, vacuum_A=vacuum_A)
    return _out(spec.build(), as_pymatgen)


def build_adsorbate(species: str = "Ti", site: str = "o-top", *, mgo_layers: int = 2, ag_layers: int = 4,
                    size: int = 1, height_A: float | None = None, as_pymatgen: bool = False) -> StructureLike:
    """Ti or TiHx on MgO/Ag(100) (``tipsurf build adsorbate``).

    Parameters
    ----------
    species
        ``Ti``, ``TiH``, ``TiH2``, ``TiH3`` or ``TiH4`` (the H2 molecule: :func:`build_molecule`).
    site
        ``o-top``, ``bridge`` or ``hollow``.
    mgo_layers, ag_layers, size
        The slab, as in :func:`build_mgo_ag100_slab`.
    height_A
        Ti height above the MgO (Å); default per site.
    as_pymatgen
        Return a pymatgen Structure instead of Atoms.
    """
    slab = MgOAg100Spec(mgo_layers=mgo_layers, ag_layers=ag_layers, size=size)
    return _out(AdsorbateSpec(species=species, site=site, slab=slab, height_A=height_A).build(), as_pymatgen)


def build_molecule(species: str = "H2", box_A: float = 12.0, *, as_pymatgen: bool = False) -> StructureLike:
    """Gas-phase reference molecule (H2, Ti, TiHx) in a cubic box of edge ``box_A`` (``tipsurf build molecule``)."""
    return _out(MoleculeSpec(species=species, box_A=box_A).build(), as_pymatgen)


def build_junction(
    surface: MnW110Spec | Mapping[str, Any] | StructureLike | None = None,
    tip: TipSpec | Mapping[str, Any] | StructureLike | None = None,
    *,
    distance_A: float,
    site: str = "top",
    site_index: int = 0,
    config: str = "p",
    vacuum_above_tip_A: float = 10.0,
    scan_d_max_A: float | None = None,
    as_pymatgen: bool = False,
) -> StructureLike:
    """A tip over a site of Mn/W(110) at apex–surface distance d (``tipsurf build junction``).

    Parameters
    ----------
    surface
        :class:`MnW110Spec` (or a dict of its fields), or a built slab as Atoms/Structure,
        e.g. one you relaxed, that still carries the builder's metadata (``info['sites']``,
        ``surface_z_A``).  Default: 5 W layers, 3×2, Mn on both sides, as the CLI.
    tip
        :class:`TipSpec` (or a dict), or a built tip as Atoms/Structure carrying
        ``info['apex_index']``.  Default: the 14-atom Fe pyramid.
    distance_A
        Vertical distance between the apex and the surface Mn plane (Å).
    site, site_index
        ``top`` or ``hollow`` and which one.
    config
        ``p`` (apex parallel to the Mn under it / its neighbours) or ``ap``.
    vacuum_above_tip_A
        Vacuum between the tip's top and the slab's periodic image (Å).
    scan_d_max_A
        The cell of a scan whose largest distance this is (see :func:`scan_junctions`).
    as_pymatgen
        Return a pymatgen Structure instead of Atoms.

    Returns
    -------
    ase.Atoms or pymatgen.core.Structure
        Surface atoms first, then the tip; ``info`` with ``apex_index``, ``tip_indices``,
        ``reference_indices``, ``distance_A``, ``config`` ... and, when built from specs only,
        the :class:`JunctionSpec` as ``spec``.

    Raises
    ------
    InputError
        Bad site, index, distance or config; a structure without the builder's metadata;
        atoms closer than 1.5 Å.
    """
    if _is_structure(surface) or _is_structure(tip):
        from tipsurf.structures.junction import build_junction as assemble

        slab = to_atoms(surface, "surface") if _is_structure(surface) else _spec(
            surface, MnW110Spec, MnW110Spec(size=(3, 2)), "surface", True).build()
        tip_atoms = to_atoms(tip, "tip") if _is_structure(tip) else _spec(tip, TipSpec, TipSpec(), "tip", True).build()
        atoms = assemble(slab, tip_atoms, site, site_index, distance_A, config, vacuum_above_tip_A, scan_d_max_A)
        atoms.info.pop("spec", None)  # the slab's spec (carried over) does not describe this junction
    else:
        atoms = JunctionSpec(
            surface=_spec(surface, MnW110Spec, MnW110Spec(size=(3, 2)), "surface", True),
            tip=_spec(tip, TipSpec, TipSpec(), "tip", True),
            site=site, site_index=site_index, distance_A=distance_A, config=config,
            vacuum_above_tip_A=vacuum_above_tip_A, scan_d_max_A=scan_d_max_A,
        ).build()
    return _out(atoms, as_pymatgen)


def scan_junctions(
    surface: MnW110Spec | Mapping[str, Any],
    tip: TipSpec | Mapping[str, Any],
    site: str,
    distances_A: str | Sequence[float],
    *,
    configs: Sequence[str] = ("p", "ap"),
    site_index: int = 0,
    vacuum_above_tip_A: float = 10.0,
    as_pymatgen: bool = False,
) -> list[StructureLike]:
    """The junctions a distance scan computes, to look at before adding it (no launchpad, no code).

    All share the cell and slab position of the largest distance, as in :func:`add_scan`.

    Parameters
    ----------
    surface, tip, site, distances_A, configs, site_index, vacuum_above_tip_A
        As in :func:`add_scan`.
    as_pymatgen
        Return pymatgen Structures instead of Atoms.

    Returns
    -------
    list
        One structure per (configuration, distance): configurations in the given order,
        distances farthest first (the order each chain runs).
    """
    from tipsurf.workflows.scan import parse_distances

    dists = parse_distances(distances_A)
    surf, tip_spec = _scan_part(surface, MnW110Spec, "surface"), _scan_part(tip, TipSpec, "tip")
    return [build_junction(surf, tip_spec, distance_A=d, site=site, site_index=site_index, config=config,
                           vacuum_above_tip_A=vacuum_above_tip_A, scan_d_max_A=max(dists), as_pymatgen=as_pymatgen)
            for config in configs for d in sorted(dists, reverse=True)]


def read_structure(path: PathLike, *, as_pymatgen: bool = False) -> StructureLike:
    """Read an extended XYZ file written by ``tipsurf build`` or :func:`write_structure` (metadata kept)."""
    from tipsurf.structures.io import read_structure as read

    return _out(read(path), as_pymatgen)


def write_structure(structure: StructureLike, path: PathLike) -> str:
    """Write an Atoms or Structure as extended XYZ with moments, tags, constraints and metadata; returns the path."""
    from tipsurf.structures.io import write_structure as write

    return str(write(to_atoms(structure), path))


def record_structure(record: Mapping[str, Any], *, as_pymatgen: bool = False) -> StructureLike:
    """Final structure of a result record: initial moments plus a single-point calculator
    with energy (eV), forces (eV/Å) and final moments (μB), as ``tipsurf export`` stores it.

    Raises
    ------
    InputError
        The record has no structure.
    """
    from tipsurf.analysis.ase_db import record_atoms

    atoms = record_atoms(dict(record))
    return _out(atoms, as_pymatgen)


# ----------------------------------------------------------------------------- one calculation


def _code(code: str) -> str:
    if code not in ("qe", "vasp"):
        raise InputError(f"unknown code '{code}'; choose one of: qe, vasp")
    return code


def write_inputs(
    structure: StructureLike,
    directory: PathLike,
    *,
    code: str = "qe",
    preset: str | Mapping[str, Any] = "fast",
    preset_overrides: Mapping[str, Any] | None = None,
    restart_from: PathLike | None = None,
    walltime_s: float | None = None,
    calculation: str = "scf",
) -> Record:
    """Write one calculation's input files into ``directory`` (``tipsurf inputs``).

    Parameters
    ----------
    structure
        Atoms or Structure with initial moments (e.g. from :func:`build_junction`).
    directory
        Calculation folder (created).
    code
        ``qe`` or ``vasp``.
    preset, preset_overrides
        Preset name, YAML file or dict, and keys merged into it (as ``--set``), e.g.
        ``{"kpoints": {"mesh": [6, 4, 1]}}``.
    restart_from
        Finished calculation folder to start from.
    walltime_s
        Wall-time budget given to the code (s).
    calculation
        ``scf`` or ``relax``.

    Returns
    -------
    dict
        ``directory``, ``code``, ``fingerprint``, ``parameters``, ``pseudopotentials``, ``metadata``.
    """
    from tipsurf.engines.base import get_engine
    from tipsurf.engines.presets import load_preset, merge_preset, require_hubbard_u

    atoms = to_atoms(structure)
    base = dict(preset) if isinstance(preset, Mapping) else load_preset(preset, code=_code(code))
    merged = merge_preset(base, dict(preset_overrides or {}))
    require_hubbard_u(merged, atoms.get_chemical_symbols())
    prepared = get_engine(_code(code)).write_inputs(atoms, merged, Path(directory), restart_from=restart_from,
                                                    walltime_s=walltime_s, calculation=calculation)
    return prepared.as_dict()


def run_calculation(directory: PathLike, *, code: str = "qe", max_errors: int = 5) -> Record:
    """Run one prepared calculation under custodian with tipsurf's error handlers (``tipsurf run-calc``).

    Returns
    -------
    dict
        The result record (``CalcResult.as_dict()``: energy_eV, forces_eV_per_A, magnetic
        moments, converged, n_scf, metadata ...).
    """
    from tipsurf.engines.base import get_engine

    return get_engine(_code(code)).run(Path(directory), max_errors=max_errors).as_dict()


def parse_calculation(directory: PathLike, *, code: str = "qe") -> Record:
    """Parse a finished calculation's outputs into a result record (``tipsurf parse``)."""
    from tipsurf.engines.base import get_engine

    return get_engine(_code(code)).parse(Path(directory)).as_dict()


# ----------------------------------------------------------------------------- campaigns


def add_scan(
    surface: MnW110Spec | Mapping[str, Any],
    tip: TipSpec | Mapping[str, Any],
    site: str,
    distances_A: str | Sequence[float],
    *,
    configs: Sequence[str] = ("p", "ap"),
    code: str = "qe",
    preset: str | Mapping[str, Any] = "fast",
    preset_overrides: Mapping[str, Any] | None = None,
    name: str | None = None,
    site_index: int = 0,
    vacuum_above_tip_A: float = 10.0,
    warm_start: bool | None = None,
    relax_tip: bool | None = None,
    relax_slab: bool | None = None,
    walltime_s: float | None = None,
    d0_A: float = 5.0,
    launchpad: PathLike | None = None,
    project_dir: PathLike | None = None,
) -> Record:
    """Plan a p/ap distance scan and add it to the launchpad, without running it (``tipsurf scan``).

    Parameters
    ----------
    surface
        :class:`MnW110Spec` or a dict of its fields (e.g. ``{"w_layers": 5, "size": [3, 2]}``).
    tip
        :class:`TipSpec` or a dict (e.g. ``{"apex": "Co", "layers": 3}``).
    site
        ``top`` or ``hollow``.
    distances_A
        Apex–surface distances (Å): a list, ``"4.0,4.5"`` or ``"START:STOP:STEP"``.
    configs
        Magnetic configurations, a selection of ``p`` and ``ap``.
    code, preset, preset_overrides
        Engine, preset (name, YAML file or dict) and keys merged into it.
    name
        Campaign name (default from tip, surface, site, code and preset).
    site_index, vacuum_above_tip_A
        Which site; vacuum behind the tip at the largest distance (Å).
    warm_start
        Start points from the fragments' and the neighbour's densities (default: on for QE).
    relax_tip, relax_slab
        Relax the isolated tip / slab first (default: the preset's ``relax_parts_before_scan``).
    walltime_s
        Wall time per calculation (s).
    d0_A
        Reference distance of Δd = d − d0 in the stored table (Å).
    launchpad, project_dir
        Where the campaign lives (default: the embedded store of the current folder).

    Returns
    -------
    dict
        ``campaign``, ``kind``, ``launchpad``, ``added`` and ``existing`` points (label,
        fingerprint, metadata), ``workflow_fw_ids``, ``analysis_added``.  A point that already
        exists (same fingerprint) is never added twice.
    """
    from tipsurf.workflows.scan import add_distance_scan

    report = add_distance_scan(
        _scan_part(surface, MnW110Spec, "surface"), _scan_part(tip, TipSpec, "tip"), site, distances_A,
        configs=list(configs), code=_code(code), preset=dict(preset) if isinstance(preset, Mapping) else preset,
        preset_overrides=dict(preset_overrides or {}), name=name, site_index=site_index,
        vacuum_above_tip_A=vacuum_above_tip_A, warm_start=warm_start, relax_tip=relax_tip, relax_slab=relax_slab,
        walltime_s=walltime_s, d0_A=d0_A, launchpad=launchpad, project_dir=project_dir,
    )
    return report.as_dict()


def add_adsorbate_campaign(
    *,
    code: str = "qe",
    preset: str | Mapping[str, Any] = "tio-mgo-qe",
    preset_overrides: Mapping[str, Any] | None = None,
    species: Sequence[str] = ("Ti", "TiH", "TiH2", "TiH3", "TiH4"),
    sites: Sequence[str] = ("o-top", "bridge"),
    mgo_layers: Sequence[int] = (2, 3),
    slab_options: Mapping[str, Any] | None = None,
    relax: bool = True,
    name: str | None = None,
    walltime_s: float | None = None,
    launchpad: PathLike | None = None,
    project_dir: PathLike | None = None,
) -> Record:
    """Add the TiHx on MgO/Ag(100) campaign with its H2 and bare-slab references (``tipsurf campaign adsorbates``).

    The ``tio-mgo-*`` presets need a Hubbard U on Ti from you, e.g.
    ``preset_overrides={"hubbard_u_eV": {"Ti": 4.0}}``.  ``slab_options`` are further
    :class:`MgOAg100Spec` fields (``ag_layers``, ``size``).  Returns the added/existing
    report as in :func:`add_scan`.
    """
    from tipsurf.workflows.adsorbates import add_adsorbate_campaign as add

    report = add(code=_code(code), preset=dict(preset) if isinstance(preset, Mapping) else preset,
                 preset_overrides=dict(preset_overrides or {}), species=list(species), sites=list(sites),
                 mgo_layers=list(mgo_layers), slab_options=dict(slab_options or {}), relax=relax, name=name,
                 walltime_s=walltime_s, launchpad=launchpad, project_dir=project_dir)
    return report.as_dict()


def run_campaign(
    name: str | None = None,
    *,
    workers: int = 2,
    progress: Callable[[dict[str, Any]], None] | None = None,
    max_rockets: int | None = None,
    launchpad: PathLike | None = None,
    project_dir: PathLike | None = None,
) -> Record:
    """Run a campaign's ready calculations here, ``workers`` at a time (``tipsurf run``).

    Parameters
    ----------
    name
        Campaign (None: every campaign of the launchpad).
    workers
        Calculations at once (each a serial pw.x; 2 for 2 cores, as the CLI).
    progress
        Called with a dict (``event`` = ``begin``/``start``/``done``/``finished``, ``label``,
        ``state``, ``counts``, ``total``) around every calculation.
    max_rockets
        Stop after this many calculations.

    Returns
    -------
    dict
        ``rockets`` run, ``recovered`` runs of a stopped process, and ``status`` as
        :func:`campaign_status`.  Interrupting it (Ctrl-C) stops pw.x and keeps finished work;
        calling it again resumes.
    """
    from tipsurf.workflows.runner import run_campaign as run

    return run(name, progress=progress, launchpad=launchpad, project_dir=project_dir, max_rockets=max_rockets,
               workers=workers)


def campaign_status(name: str | None = None, *, launchpad: PathLike | None = None,
                    project_dir: PathLike | None = None) -> Record:
    """Points done / ready / waiting / running / failed (``tipsurf status --json``).

    Returns one campaign's ``counts`` and ``points`` or, without ``name``, ``{"campaigns": [...]}``.
    """
    from tipsurf.workflows.runner import campaign_status as status

    return status(name, launchpad=launchpad, project_dir=project_dir)


def rerun_campaign(name: str | None = None, *, lost_after_s: float | None = None, launchpad: PathLike | None = None,
                   project_dir: PathLike | None = None) -> Record:
    """Queue the failed calculations again; finished ones are kept (``tipsurf rerun``).

    ``lost_after_s`` (MongoDB) also re-queues runs whose worker has been silent that long.
    Returns ``{"rerun": [fw_id, ...], "lost": [...], "recovered": [...]}``.
    """
    from tipsurf.workflows.runner import rerun_campaign as rerun

    return rerun(name, launchpad=launchpad, project_dir=project_dir, lost_after_s=lost_after_s)


def submit_campaign(name: str | None = None, queue: str = "slurm", *, overrides: Mapping[str, Any] | None = None,
                    dry_run: bool = False, reserve: bool = False, njobs: int = 1, launchpad: PathLike | None = None,
                    project_dir: PathLike | None = None) -> Record:
    """Submit queue jobs that run a campaign, or only write their scripts (``tipsurf submit``).

    ``overrides`` are adapter keys: ``account``, ``queue`` (partition), ``nodes``,
    ``ntasks_per_node``, ``walltime``, ``modules``, ``pw_command``, ``vasp_command``.
    Returns ``{"scripts": [...], "submitted": [...], "dry_run": bool, "folder": str}``.
    """
    from tipsurf.workflows.queue import submit_campaign as submit

    return submit(name, queue, overrides=dict(overrides or {}), dry_run=dry_run, reserve=reserve, njobs=njobs,
                  launchpad=launchpad, project_dir=project_dir)


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


# ----------------------------------------------------------------------------- analysis


def _records_of(source: str | Iterable[Mapping[str, Any]], what: str, launchpad: PathLike | None,
                project_dir: PathLike | None) -> list[Record]:
    if isinstance(source, str):
        from tipsurf.workflows.store import load_campaign_records

        return load_campaign_records(source, launchpad=launchpad, project_dir=project_dir)
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise InputError(f"{what} must be a campaign name or a list of result records, got {type(source).__name__}")
    records = list(source)
    if not all(isinstance(r, Mapping) for r in records):
        raise InputError(f"{what} must be a list of result-record dicts (CalcResult.as_dict())")
    return [dict(r) for r in records]


def analyze_exchange(
    source: str | Iterable[Mapping[str, Any]],
    *,
    d0_A: float = 5.0,
    moment_threshold_muB: float = 0.5,
    output_dir: PathLike | None = None,
    launchpad: PathLike | None = None,
    project_dir: PathLike | None = None,
) -> Record:
    """E_ex(d) = E_ap − E_p and F_ex(d) = F_ap − F_p per (surface, site, tip) (``tipsurf analyze exchange``).

    Parameters
    ----------
    source
        Campaign name, or result records (e.g. from :func:`load_records`).  A scan's
        pre-steps (slab and tip alone, relaxations) are left out either way.
    d0_A
        Reference distance of Δd = d − d0 (Å).
    moment_threshold_muB
        Smallest |moment| of apex and reference atoms counted as magnetic (spin-flip guard).
    output_dir
        If given, also write ``exchange.csv``, ``exchange.json`` and ``exchange.png`` there.

    Returns
    -------
    dict
        ``rows`` (one per distance: ``d_A``, ``delta_d_A``, ``E_ex_eV``, ``E_ex_meV``,
        ``F_ex_eV_per_A``, moments, ``valid``, ``flags``; ``None`` in the exchange columns of
        an invalid point), ``groups``, ``excluded``, ``checks`` (decay, decay length, F_ex
        against −dE_ex/dd, sign) and the settings.

    Raises
    ------
    InputError
        No records, a missing p/ap partner, conflicting duplicates, unknown campaign.
    """
    from tipsurf.analysis.report import exchange_report, write_exchange_report
    from tipsurf.workflows.scan import scan_point_records

    records = scan_point_records(_records_of(source, "the exchange source", launchpad, project_dir))
    if output_dir is not None:
        return write_exchange_report(records, output_dir, d0_A=d0_A, moment_threshold_muB=moment_threshold_muB)[0]
    return exchange_report(records, d0_A=d0_A, moment_threshold_muB=moment_threshold_muB)


def fit_exchange(table: Mapping[str, Any] | Sequence[Mapping[str, Any]] | PathLike, *, site: str | None = None,
                 tip: str | None = None, surface: str | None = None, d_min_A: float | None = None,
                 d_max_A: float | None = None) -> Record:
    """Exponential fit J(d) = J0 exp(−d/λ) of E_ex (and F_ex) with uncertainties (``tipsurf fit exchange``).

    Parameters
    ----------
    table
        The dict of :func:`analyze_exchange`, its ``rows``, or an ``exchange.csv`` file.
    site, tip, surface
        Select one group if the table holds several.
    d_min_A, d_max_A
        Distance range to fit (Å).

    Returns
    -------
    dict
        ``E_ex`` (``J0``, ``J0_err``, ``lambda_A``, ``lambda_err_A``, ``n_points`` ...) and
        ``F_ex`` when forces are there.
    """
    from tipsurf.analysis.fits import fit_exchange_rows

    if isinstance(table, (str, os.PathLike)):
        from tipsurf.analysis.export import read_csv_rows

        rows = read_csv_rows(Path(table), required=("d_A", "E_ex_eV"))
    elif isinstance(table, Mapping):
        rows = list(table.get("rows") or [])
    else:
        rows = [dict(r) for r in table]
    rows = [r for r in rows if (site is None or str(r.get("site")) == site) and (tip is None or str(r.get("tip")) == tip)
            and (surface is None or str(r.get("surface")) == surface)]
    if not rows:
        raise InputError("no rows of the exchange table match the selection (site/tip/surface)")
    return fit_exchange_rows(rows, d_min_A, d_max_A)


def analyze_bader(
    paths: PathLike | Sequence[PathLike],
    *,
    reference: Sequence[PathLike] | None = None,
    valences: Mapping[str, float] | None = None,
    vacuum_e_per_bohr3: float | None = 1e-3,
    work_dir: PathLike | None = None,
    output: PathLike | None = None,
) -> Record:
    """Bader charges, moments and volumes per atom (weight method; ``tipsurf analyze bader``).

    Parameters
    ----------
    paths
        A VASP CHGCAR; ``total.cube`` (and ``spin.cube``) from pp.x; or a finished QE
        calculation folder (pp.x then writes the two cubes into ``work_dir``).
    reference
        Densities to partition on, e.g. ``["AECCAR0", "AECCAR2"]`` (VASP PAW).
    valences
        Valence electrons per element (``{"Ti": 12, "O": 6}``) for net charges.
    vacuum_e_per_bohr3
        Density below which a point is vacuum (e/bohr³); None or 0: no vacuum.
    work_dir
        pp.x folder for a QE calculation (default ``<calc>/density_pp``).
    output
        If given, also write the result as ``.json`` or ``.csv``.

    Returns
    -------
    dict
        ``atoms`` (``index``, ``symbol``, ``charge_e``, ``net_charge_e``, ``moment_muB``,
        ``volume_A3``), vacuum totals, ``n_maxima``, ``meta``.
    """
    from tipsurf.analysis.bader import bader_analysis
    from tipsurf.analysis.volumetric import read_bader_inputs
    from tipsurf.engines.qe.pp import qe_density_cubes

    if output is not None and Path(output).suffix.lower() not in (".json", ".csv"):
        raise InputError(f"output file {output} must end in .json or .csv")
    files = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if len(files) == 1 and files[0].is_dir():
        total, spin = qe_density_cubes(files[0], work_dir=Path(work_dir) if work_dir is not None else None)
        files = [total] + ([spin] if spin is not None else [])
    grid, ref = read_bader_inputs(files, reference=[Path(p) for p in reference] if reference else None)
    result = bader_analysis(grid, reference_e_per_A3=ref, valences=dict(valences) if valences else None,
                            vacuum_threshold_e_per_bohr3=vacuum_e_per_bohr3 or None)
    if output is not None:
        result.write(output)
    return result.as_dict()


def _gibbs_groups(energies: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{species: E}`` (one group) or ``{label: {species: E}, "H2": E}`` (shared H2)."""
    nested = {k: v for k, v in energies.items() if isinstance(v, Mapping)}
    if not nested:
        return {"": dict(energies)}
    h2 = energies.get("H2")
    return {label: {**({"H2": h2} if h2 is not None else {}), **dict(group)} for label, group in nested.items()}


def analyze_gibbs(
    source: str | Mapping[str, Any] | Iterable[Mapping[str, Any]],
    *,
    temperature_K: float = GIBBS_TEMPERATURE_K,
    pressure_Pa: float = GIBBS_PRESSURE_PA,
    corrections_eV: Mapping[str, float] | None = None,
    thermo: str = "auto",
    launchpad: PathLike | None = None,
    project_dir: PathLike | None = None,
) -> Record:
    """ΔG(x; Δμ_H) = E[TiHx/slab] − E[Ti/slab] − x(½E[H2] + Δμ_H): stable species and transitions
    (``tipsurf analyze gibbs``).

    Parameters
    ----------
    source
        Adsorbate campaign name, its result records, or total energies in eV:
        ``{"Ti": E, "TiH": E, ..., "H2": E}`` or ``{label: {"Ti": E, ...}, "H2": E}``.
    temperature_K, pressure_Pa
        Conditions of Δμ_H(T, p) of H2 (default 1 K and 1e-8 Pa, the ESR-STM experiments).
    corrections_eV
        Added to the energies per species (zero-point or vibrational terms), eV.
    thermo
        H2 thermochemistry: ``auto`` (JANAF, ideal gas below 100 K), ``janaf`` or ``statmech``.

    Returns
    -------
    dict
        ``groups``: one report per (site, MgO thickness) with ``delta_mu_H_eV``,
        ``delta_G_eV`` per species, ``stable_species``, ``stability_ranges``, ``transitions``,
        ``temperature_transitions_at_p`` and ``never_stable``.
    """
    from tipsurf.analysis.gibbs import energies_from_records, gibbs_lines, gibbs_report

    if isinstance(source, Mapping):
        groups = _gibbs_groups(source)
    else:
        groups = energies_from_records(_records_of(source, "the Gibbs source", launchpad, project_dir))
    corrections = dict(corrections_eV) if corrections_eV else None
    reports = [gibbs_report(gibbs_lines(group, corrections, label=label), temperature_K, pressure_Pa, thermo)
               for label, group in sorted(groups.items())]
    return {"temperature_K": float(temperature_K), "pressure_Pa": float(pressure_Pa), "groups": reports}


def analyze_ldos(
    directory: PathLike,
    *,
    site: str = "top",
    site_index: int = 0,
    height_A: float = 3.0,
    xy_A: tuple[float, float] | None = None,
    emin_eV: float = -1.0,
    emax_eV: float = 1.0,
    step_eV: float = 0.2,
    output_dir: PathLike | None = None,
) -> Record:
    """Vacuum LDOS spin polarization P(E) = (n↑ − n↓)/(n↑ + n↓) above a site (``tipsurf analyze ldos``).

    Parameters
    ----------
    directory
        Finished spin-polarized QE slab calculation (pp.x runs per window and spin), or a
        folder of VASP ``PARCHG_<Emin>_<Emax>`` files.
    site, site_index, xy_A
        Where: the builder's site, or an explicit lateral position (Å).
    height_A
        Height above the topmost atom (Å).
    emin_eV, emax_eV, step_eV
        Energy windows relative to E_F (QE), eV.
    output_dir
        If given, also write ``ldos_<site>.csv/.json/.png`` there (pp.x works in ``output_dir/pp_work``).

    Returns
    -------
    dict
        The table (windows, n↑, n↓, P per window, P at E_F, the point and its source).
    """
    from tipsurf.analysis import ldos

    folder = Path(directory)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; give a QE calculation folder or a folder of PARCHG files")
    if sorted(folder.glob("PARCHG*")):
        table = ldos.vasp_parchg_polarization(folder, site=site, height_A=height_A, xy_A=xy_A, site_index=site_index)
    else:
        work = Path(output_dir) / "pp_work" if output_dir is not None else None
        table = ldos.qe_ldos_polarization(folder, ldos.energy_windows(emin_eV, emax_eV, step_eV), site=site,
                                          height_A=height_A, work_dir=work, xy_A=xy_A, site_index=site_index)
    if output_dir is not None:
        table.write(output_dir, stem=f"ldos_{site}" if site_index == 0 else f"ldos_{site}{site_index}")
    return table.as_dict()


def sader_jarvis(z_m: Sequence[float], df_Hz: Sequence[float], *, amplitude_m: float, stiffness_N_per_m: float,
                 f0_Hz: float) -> list[Record]:
    """Force F(z) from a frequency-shift curve Δf(z) (Sader & Jarvis 2004; ``tipsurf sader-jarvis``).

    Returns
    -------
    list of dict
        ``{"z_m", "F_N"}`` per height, sorted by z (negative force = attractive).
    """
    from tipsurf.analysis.sader_jarvis import sader_jarvis_force

    zs, force = sader_jarvis_force(list(z_m), list(df_Hz), amplitude_m, stiffness_N_per_m, f0_Hz)
    return [{"z_m": float(z), "F_N": float(f)} for z, f in zip(zs, force)]


# ----------------------------------------------------------------------------- pseudopotentials


def check_pseudopotentials(directory: PathLike) -> list[Record]:
    """Element, type, valence, suggested cut-offs, md5 and completeness of every UPF file in a folder
    (``tipsurf pseudo check``)."""
    from tipsurf.engines.qe.pseudo import check_pseudo_dir

    return [info.as_dict() for info in check_pseudo_dir(Path(directory))]


def generate_pseudopotentials(elements: Sequence[str] | None = None, *, cache_dir: PathLike | None = None) -> dict[str, str]:
    """Generate (or reuse) tipsurf's ld1.x pseudopotentials (``tipsurf pseudo generate``).

    Returns ``{element: path of the UPF file}``; each file has a provenance JSON beside it.
    """
    from tipsurf.engines.qe.pseudo_gen import available_recipes, ensure_pseudopotentials

    folder, files = ensure_pseudopotentials(list(elements) if elements else available_recipes(),
                                            cache_dir=Path(cache_dir) if cache_dir else None)
    return {element: str(Path(folder) / name) for element, name in sorted(files.items())}
