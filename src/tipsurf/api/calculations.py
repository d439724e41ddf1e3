"""One calculation (``tipsurf inputs``, ``run-calc``, ``parse``), campaigns (``scan``, ``campaign
adsorbates``, ``run``, ``status``, ``rerun``, ``submit``) and pseudopotentials as Python functions.

Part of :mod:`tipsurf.api` (the command table is there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tipsurf.api.structures import PathLike, Record, StructureLike, _scan_part, to_atoms
from tipsurf.errors import InputError
from tipsurf.structures.specs import MnW110Spec, TipSpec


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


def _plain_keywords(keywords: dict[str, Any]) -> dict[str, Any]:
    """The API's keyword arguments as the workflow builders take them (checked code, plain dicts)."""
    out = dict(keywords)
    out["code"] = _code(out.get("code", "qe"))
    for key in ("preset", "preset_overrides", "slab_options", "junction_options"):
        if isinstance(out.get(key), Mapping):
            out[key] = dict(out[key])
    return out


def add_scan(
    surface: MnW110Spec | Mapping[str, Any],
    tip: TipSpec | Mapping[str, Any],
    site: str,
    distances_A: str | Sequence[float],
    **keywords: Any,
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
    **keywords
        Those of :func:`tipsurf.workflows.scan.add_distance_scan`: ``configs`` (a selection
        of ``p`` and ``ap``), ``code``, ``preset`` (name, YAML file or dict),
        ``preset_overrides``, ``site_index``, ``vacuum_above_tip_A``, ``warm_start`` (default
        on for QE), ``relax_tip``/``relax_slab`` (default: the preset's
        ``relax_parts_before_scan``), ``d0_A``, ``junction_options``, and the campaign's
        ``name``, ``walltime_s``, ``launchpad`` and ``project_dir`` (default: the embedded
        store of the current folder).

    Returns
    -------
    dict
        ``campaign``, ``kind``, ``launchpad``, ``added`` and ``existing`` points (label,
        fingerprint, metadata), ``workflow_fw_ids``, ``analysis_added``.  A point that already
        exists (same fingerprint) is never added twice.
    """
    from tipsurf.api.campaigns import add_distance_scan

    report = add_distance_scan(_scan_part(surface, MnW110Spec, "surface"), _scan_part(tip, TipSpec, "tip"), site,
                               distances_A, **_plain_keywords(keywords))
    return report.as_dict()


def add_adsorbate_campaign(**keywords: Any) -> Record:
    """Add the TiHx on MgO/Ag(100) campaign with its H2 and bare-slab references (``tipsurf campaign adsorbates``).

    Takes the keywords of :func:`tipsurf.workflows.adsorbates.add_adsorbate_campaign`:
    ``code``, ``preset`` (default ``tio-mgo-qe``), ``preset_overrides``, the grid
    (``species``, ``sites``, ``mgo_layers``, ``slab_options`` -- further :class:`~tipsurf.structures.specs.MgOAg100Spec`
    fields such as ``ag_layers`` and ``size`` --, ``relax``, ``h2_box_A``) and the campaign's
    ``name``, ``walltime_s``, ``launchpad``, ``project_dir``.  The ``tio-mgo-*`` presets need a
    Hubbard U on Ti from you, e.g. ``preset_overrides={"hubbard_u_eV": {"Ti": 4.0}}``.
    Returns the added/existing report as in :func:`add_scan`.
    """
    from tipsurf.api.campaigns import add_adsorbate_campaign as add

    return add(**_plain_keywords(keywords)).as_dict()


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
