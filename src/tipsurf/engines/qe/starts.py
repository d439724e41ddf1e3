"""How a pw.x calculation starts: from atoms, a neighbour's density, or superposed fragments.

* :func:`prepare_start` — the choice :meth:`tipsurf.engines.qe.QEEngine.write_inputs` makes
  between the two below (or atoms), with the matching ``startingpot``/``startingwfc``;
* :func:`prepare_restart` — the converged density of another calculation: copied (same cell),
  shifted across the gap (a junction whose cell height changed, :mod:`.restart` decides,
  :mod:`.gvectors` shifts), or a cold start with the reason (unknown or unreadable source, a G
  order tipsurf cannot reproduce);
* :func:`superposed_start` — the sum of converged fragment densities
  (:mod:`.superpose`), with a neighbour's Kohn–Sham states when one takes part.

Each returns the record stored with the calculation (``restart_method``, ``restart_note``,
``restart_files``, ``restart_diagnostics``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.io import read as ase_read

from tipsurf.engines.qe.handlers import CALC_FILE
from tipsurf.engines.qe.inputs import OUTDIR, PREFIX
from tipsurf.engines.qe.gvectors import shift_density_for_new_cell
from tipsurf.engines.qe.restart import plan_restart
from tipsurf.engines.qe.superpose import DensityPart, write_superposed_density
from tipsurf.errors import InputError, OutputError

__all__ = ["copy_restart_data", "copy_wavefunctions", "prepare_restart", "prepare_start", "superposed_start"]

STRUCTURE_FILE = "structure.json"


def copy_restart_data(source: str | Path, directory: Path) -> list[str]:
    """Copy the charge density (both spins in one file for QE ≥ 6.4) and its companions.

    Wavefunctions are not reused (``startingwfc='atomic+random'``): a neighbouring geometry's
    wavefunctions are no better a start than atomic ones, and their files depend on the k-point
    distribution of the earlier run.
    """
    source = Path(source)
    save = source / OUTDIR / f"{PREFIX}.save" if (source / OUTDIR).is_dir() else source / f"{PREFIX}.save"
    density = [p for p in (save / "charge-density.dat", save / "charge-density.hdf5") if p.is_file()]
    if not density:
        raise InputError(f"no charge density to restart from in {save}; run that calculation first or drop restart_from")
    target = directory / OUTDIR / f"{PREFIX}.save"
    if target.resolve() == save.resolve():
        return [p.name for p in density]  # restarting in place: the data is already there
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in [*density, *sorted(save.glob("*.txt"))]:
        shutil.copy2(path, target / path.name)
        copied.append(path.name)
    return copied


def _source_structure(source: Path) -> tuple[Atoms | None, dict[str, Any]]:
    """Structure and metadata of the calculation in ``source`` (a folder or its outdir), if known."""
    for folder in (source, source.parent) if source.name == OUTDIR else (source,):
        if (folder / STRUCTURE_FILE).is_file():
            atoms = ase_read(str(folder / STRUCTURE_FILE), format="json")
            metadata = dict(atoms.info)
            if (folder / CALC_FILE).is_file():
                metadata = json.loads((folder / CALC_FILE).read_text()).get("metadata") or metadata
            return atoms, metadata
    return None, {}


def prepare_restart(
    source: str | Path, directory: Path, atoms: Atoms, ecutrho_Ry: float,
    qe_version: tuple[int, int] | None = None, pw_command: list[str] | None = None,
) -> dict[str, Any]:
    """Put the starting density of ``source`` into ``directory``, adapted to a changed cell.

    Same cell: plain copy.  Junction whose cell height changed with the distance: the
    density above the gap mid-plane is shifted (:mod:`tipsurf.engines.qe.gvectors`), which
    writes pw.x's G-vector order as serial pw.x 6.x computes it — so only when ``qe_version``
    is 6.x and ``pw_command`` runs pw.x serially (no MPI launcher, no -nk/-nd/-nt).  Otherwise,
    or if the density cannot be read (missing, truncated, HDF5): cold start, with the reason.

    Returns
    -------
    dict
        ``restart_method`` (copy, shifted, cold-fallback), ``restart_note``,
        ``restart_files`` and ``restart_diagnostics`` (electron counts of a shift, or None).
    """
    source = Path(source)
    if not source.exists():
        raise InputError(f"no calculation folder {source} to restart from (no charge density there); fix the path or drop restart_from")
    old_atoms, old_metadata = _source_structure(source)
    plan = plan_restart(old_atoms, old_metadata, atoms)
    result: dict[str, Any] = {"restart_method": plan.method, "restart_note": plan.note,
                              "restart_files": [], "restart_diagnostics": None}
    if plan.method == "shifted":
        layout = _shift_layout_problem(qe_version, pw_command)
        if layout:
            return {**result, "restart_method": "cold-fallback", "restart_note": f"shifted restart not attempted: {layout}"}
    try:
        if plan.method == "copy":
            result["restart_files"] = copy_restart_data(source, directory)
        elif plan.method == "shifted":
            save = source / OUTDIR / f"{PREFIX}.save" if (source / OUTDIR).is_dir() else source / f"{PREFIX}.save"
            diagnostics = shift_density_for_new_cell(
                save, directory / OUTDIR / f"{PREFIX}.save", old_atoms.cell.array, atoms.cell.array,
                float(plan.z_split_A), ecutrho_Ry, gamma_only=False,  # tipsurf always writes K_POINTS automatic
            )
            result["restart_files"] = diagnostics.pop("files")
            result["restart_diagnostics"] = diagnostics
    except (InputError, OutputError) as err:  # unreadable neighbour density: start cold rather than stop the scan
        return {**result, "restart_method": "cold-fallback", "restart_note": f"{plan.method} restart impossible: {err}"}
    return result


_PARALLEL_LAUNCHERS = {"mpirun", "mpiexec", "srun", "aprun", "jsrun", "ibrun", "orterun"}
_PARALLEL_FLAGS = {"-nk", "-npool", "-npools", "-nd", "-ndiag", "-northo", "-nt", "-ntg", "-nb", "-nband", "-ni"}


def _shift_layout_problem(qe_version: tuple[int, int] | None, pw_command: list[str] | None) -> str | None:
    """Why tipsurf's reproduction of pw.x's G order may not hold (None if it does)."""
    if qe_version is not None and qe_version[0] != 6:
        return f"the G-vector order is reproduced for pw.x 6.x, this is {qe_version[0]}.{qe_version[1]}"
    words = [Path(w).name for w in (pw_command or [])]
    if any(w in _PARALLEL_LAUNCHERS for w in words) or any(w in _PARALLEL_FLAGS for w in words):
        return f"pw.x runs in parallel ({' '.join(pw_command or [])}); the G-vector order is reproduced for serial runs"
    return None


def superposed_start(parts: list[DensityPart], directory: Path, electrons: float) -> dict[str, Any]:
    """Write the superposed starting density; the restart record (or a cold fallback and why)."""
    delta = any(p.weight < 0 for p in parts)  # neighbour - its tip + the tip here
    record = {"restart_method": "neighbour-delta" if delta else "superposed", "restart_files": [],
              "restart_diagnostics": None, "restart_parts": [p.as_dict() for p in parts],
              "restart_note": ("converged neighbour minus its tip fragment plus the tip fragment at this d" if delta
                               else "slab fragment plus the tip fragment translated to this d")}
    try:
        diagnostics = write_superposed_density(parts, directory / OUTDIR / f"{PREFIX}.save", electrons)
    except (InputError, OutputError) as err:
        return {**record, "restart_method": "cold-fallback", "restart_note": f"superposed start impossible: {err}"}
    record["restart_files"] = diagnostics.pop("files")
    record["restart_diagnostics"] = diagnostics
    return record


def copy_wavefunctions(source_save: Path, directory: Path) -> list[str]:
    """Copy a converged run's Kohn-Sham states (``wfc*.dat``) into this folder's save dir.

    pw.x 6.7 reads ``startingwfc='file'`` only when the save dir also holds a
    ``data-file-schema.xml`` (without it, it silently starts from random atomic states;
    measured), so the source's XML is copied with them; pw.x takes the structure from ``pw.in``.
    Returns the names copied (empty when the source has no states).
    """
    files = sorted(source_save.glob("wfc*.dat"))
    xml = source_save / "data-file-schema.xml"
    target = directory / OUTDIR / f"{PREFIX}.save"
    if not files or not xml.is_file():
        return []
    target.mkdir(parents=True, exist_ok=True)
    for path in [*files, xml]:
        shutil.copyfile(path, target / path.name)
    return [path.name for path in [*files, xml]]


def prepare_start(
    directory: Path,
    atoms: Atoms,
    electrons_namelist: dict[str, Any],
    *,
    ecutrho_Ry: float,
    qe_version: tuple[int, int] | None,
    pw_command: list[str] | None,
    electrons: float,
    restart_from: str | Path | None = None,
    start_density: list[DensityPart] | None = None,
    start_wavefunctions: str | Path | None = None,
) -> dict[str, Any]:
    """Put the starting density (and states) into ``directory`` and set how pw.x starts.

    ``restart_from`` wins over ``start_density``; with neither the calculation starts from
    atoms.  ``electrons_namelist`` (the ``&ELECTRONS`` settings) gets ``startingpot`` and
    ``startingwfc`` to match what was prepared.

    Parameters
    ----------
    directory
        The new calculation folder.
    atoms
        Its structure (with ``info``).
    electrons_namelist
        ``&ELECTRONS`` namelist, changed in place.
    ecutrho_Ry, qe_version, pw_command
        Density cut-off, pw.x version and command (see :func:`prepare_restart`).
    electrons
        Electron count of the calculation (checked against a superposition).
    restart_from, start_density, start_wavefunctions
        See :meth:`tipsurf.engines.qe.QEEngine.write_inputs`.

    Returns
    -------
    dict
        The restart record (``restart_method``, ``restart_note``, ``restart_files``,
        ``restart_diagnostics``, and ``restart_parts`` for a superposition).
    """
    restart = {"restart_method": "none", "restart_note": "", "restart_files": [], "restart_diagnostics": None}
    if restart_from is not None:
        restart = prepare_restart(restart_from, directory, atoms, ecutrho_Ry, qe_version, pw_command)
        electrons_namelist["startingpot"] = "atomic" if restart["restart_method"] == "cold-fallback" else "file"
        electrons_namelist["startingwfc"] = "atomic+random"
    elif start_density:
        restart = superposed_start(start_density, directory, electrons)
        cold = restart["restart_method"] == "cold-fallback"
        electrons_namelist["startingpot"] = "atomic" if cold else "file"
        copied = [] if cold or start_wavefunctions is None else copy_wavefunctions(Path(start_wavefunctions), directory)
        electrons_namelist["startingwfc"] = "file" if copied else "atomic+random"
        restart["restart_files"] = restart["restart_files"] + copied
    return restart
