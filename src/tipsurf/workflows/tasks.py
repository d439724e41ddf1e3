"""FireWorks Firetasks of tipsurf: one calculation, a post-processing step, an analysis.

Every task gets the LaunchPad through FireWorks' ``_add_launchpad_and_fw_id`` spec key, so
it stores into the results collection of the very database it was pulled from (embedded or
MongoDB alike) and works under ``rlaunch``/``qlaunch`` as well as under ``tipsurf run``.

Imports and the one-directional data flow
    ``workflows`` never imports or names ``analysis``.  The analysis Firetask runs the function
    whose dotted path (``"package.module:function"``) the layer above handed to the campaign
    (:mod:`tipsurf.api.campaigns` names the E_ex/F_ex table and the Gibbs energies, see
    :func:`dotted_name`) and imports it only when it runs, so the dependency on analysis is
    declared by cli/api, above both stages.  Post-processing steps name engine functions
    (an earlier stage), e.g. :func:`tipsurf.engines.qe.pp.qe_density_cubes`.
"""

from __future__ import annotations

import importlib
import json
import traceback
from pathlib import Path
from typing import Any, Callable

from fireworks import FiretaskBase, FWAction, explicit_serialize

from tipsurf.atomic import write_json_atomic
from tipsurf.concurrency import claim, released
from tipsurf.errors import CalculationFailedError, InputError, TipsurfError
from tipsurf.workflows.assembly import build_atoms
from tipsurf.workflows import store


def resolve_callable(dotted: str) -> Callable[..., Any]:
    """Import ``"tipsurf.module:function"`` lazily and return the function.

    Only functions inside the tipsurf package can be named, so a tampered Firework spec cannot
    make a worker run arbitrary code.

    Raises
    ------
    InputError
        Malformed name, a module outside tipsurf, missing module or missing attribute.
    """
    module_name, _, attr = str(dotted).partition(":")
    if not module_name or not attr or attr.startswith("_"):
        raise InputError(f"'{dotted}' is not a 'package.module:function' name")
    if module_name.split(".")[0] != "tipsurf":  # a tampered database must not call os:system
        raise InputError(f"'{dotted}' is outside tipsurf; Firework specs may only name tipsurf functions")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"cannot import {module_name} for '{dotted}': {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise InputError(f"{module_name} has no '{attr}' (needed by '{dotted}')") from None


def dotted_name(function: Callable[..., Any]) -> str:
    """The ``"tipsurf.module:function"`` name of a tipsurf function (what :func:`resolve_callable` resolves).

    Raises
    ------
    InputError
        A function outside tipsurf, or one not reachable by its module and name (a lambda, a
        nested or private function).
    """
    module, name = getattr(function, "__module__", ""), getattr(function, "__qualname__", "")
    if module.split(".")[0] != "tipsurf" or not name.isidentifier() or name.startswith("_"):
        raise InputError(f"{function!r} is not a public module-level tipsurf function; Firework specs can name only those")
    return f"{module}:{name}"


def _db_of(task: FiretaskBase) -> Any:
    launchpad = getattr(task, "launchpad", None)
    if launchpad is None:
        from fireworks import LaunchPad

        launchpad = LaunchPad.auto_load()
    return launchpad.db


# --------------------------------------------------------------------------------- structures


def processes_running_in(folder: Path) -> list[int]:
    """PIDs of other processes whose working directory is ``folder`` (Linux /proc; else [])."""
    import os

    proc = Path("/proc")
    if not proc.is_dir() or not folder.is_dir():
        return []
    target = folder.resolve()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == target:
                found.append(int(entry.name))
        except OSError:
            continue
    return sorted(found)


# --------------------------------------------------------------------------------- tasks


@explicit_serialize
class CalcTask(FiretaskBase):
    """Write inputs -> run under custodian -> parse -> store the result record.

    Parameters (Firetask fields)
    ----------------------------
    spec : dict
        Structure spec (``as_dict()`` with ``kind``).
    code : str
        ``qe`` or ``vasp``.
    preset : dict
        Preset already merged with overrides.
    fingerprint : str
        Fingerprint computed when the workflow was added; the task refuses to run if the inputs
        now give another one (pseudopotentials or tipsurf changed in between).
    calc_dir : str
        Deterministic folder ``.tipsurf/calcs/<fingerprint>``.
    campaign : str
        Campaign name stored with the record.
    calculation : str, optional
        ``scf`` (default) or ``relax``.
    warm_start_from : list of str, optional
        Fingerprints of neighbouring points of the same configuration, nearest first; the first
        one whose converged result is stored is the restart source (QE startingpot/startingwfc,
        VASP CHGCAR/WAVECAR).
    relaxed_from : dict, optional
        ``{role: fingerprint}`` of pre-step relaxations whose structures feed this point.
    walltime_s : float, optional
        Wall time given to the code (QE max_seconds, VASP STOPCAR) for a clean restart.
    max_errors : int, optional
        Custodian's error budget.
    fragment : str, optional
        ``surface`` or ``tip``: compute that part of the junction ``spec`` alone, in the
        junction's cell (a fragment of the superposed start).
    start_fragments : dict, optional
        ``{"surface": fingerprint, "tip": fingerprint}`` of the scan's fragments (QE): the
        point starts from the slab fragment plus the tip fragment translated to its d (ap:
        magnetisation negated) or, when a neighbour has converged, from the neighbour's
        density minus its tip fragment plus the tip at the new d.  Fragments that did not
        converge leave the usual warm or cold start.
    """

    required_params = ["spec", "code", "preset", "fingerprint", "calc_dir", "campaign"]
    optional_params = ["calculation", "warm_start_from", "relaxed_from", "walltime_s", "max_errors",
                       "fragment", "start_fragments"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        from tipsurf.workflows.launchpad import flush_launchpad

        db = _db_of(self)
        flush_launchpad(getattr(self, "launchpad", None))  # on disk as RUNNING while the code runs
        fingerprint = self["fingerprint"]
        while True:
            done = store.get_result(db, fingerprint)
            if done and done.get("converged"):
                store.tag_results(db, [fingerprint], self["campaign"])
                return FWAction(stored_data={"fingerprint": fingerprint, "reused": True, "energy_eV": done.get("energy_eV")})
            with claim(fingerprint) as owner:
                if owner is None:
                    return self._compute_recording_failure(db, fw_spec)
            with released():  # another campaign's Firework of this point is computing it: wait, then reuse
                owner.wait()

    def _compute_recording_failure(self, db: Any, fw_spec: dict[str, Any]) -> FWAction:
        try:
            return self._compute(db, fw_spec)
        except TipsurfError as err:
            write_json_atomic(Path(self["calc_dir"]) / "tipsurf_failure.json", {"error": str(err), "type": type(err).__name__})
            raise

    def _relaxed_records(self, db: Any) -> dict[str, dict[str, Any]]:
        out = {}
        for role, fp in (self.get("relaxed_from") or {}).items():
            record = store.get_result(db, fp)
            if not record or not record.get("converged"):
                raise CalculationFailedError(f"the {role} relaxation {fp} has no converged result; rerun it first (tipsurf rerun)")
            out[role] = record
        return out

    def _warm_source(self, db: Any) -> tuple[str | None, str | None]:
        for fp in self.get("warm_start_from") or []:
            record = store.get_result(db, fp)
            calc_dir = (record or {}).get("_calc_dir")
            if record and record.get("converged") and calc_dir and Path(calc_dir).is_dir():
                return fp, calc_dir
        return None, None

    def _compute(self, db: Any, fw_spec: dict[str, Any]) -> FWAction:
        from tipsurf.engines.base import get_engine

        engine = get_engine(self["code"])
        relaxed = self._relaxed_records(db)
        atoms = build_atoms(self["spec"], relaxed)
        if self.get("fragment"):
            from tipsurf.structures.junction import junction_fragment

            atoms = junction_fragment(atoms, self["fragment"])
        calc_dir = Path(self["calc_dir"])
        busy = processes_running_in(calc_dir)
        if busy:
            raise CalculationFailedError(
                f"process {busy[0]} (left by a stopped run) still works in {calc_dir}; wait for it or kill it, then run the same command again"
            )
        finished = self._finished_in_folder(engine, calc_dir)
        if finished is not None:  # killed after the code finished but before the store was saved
            return self._store(db, finished.as_dict(), calc_dir, None, finished.fingerprint or self["fingerprint"])
        if getattr(engine, "resumable", None) and engine.resumable(calc_dir, self["fingerprint"]):
            # stopped at the wall time of an earlier allocation: go on from its saved density, with
            # its handler state and corrections, instead of writing the inputs afresh
            engine.prepare_resume(calc_dir, self._walltime_s(fw_spec))
            result = engine.run(calc_dir, max_errors=int(self.get("max_errors", 5)))
            return self._store(db, result.as_dict(), calc_dir, None, self["fingerprint"])
        warm_fp, warm_dir = self._warm_source(db)
        parts = self._fragment_start(db, atoms, warm_fp, warm_dir)
        start: dict[str, Any] = {}
        if parts:  # with a neighbour in the start, its Kohn-Sham states start the diagonalisation
            start = {"start_density": parts, "start_wavefunctions": parts[0].save_dir if len(parts) == 3 else None}
        prepared = engine.write_inputs(
            atoms,
            self["preset"],
            calc_dir,
            restart_from=None if parts else warm_dir,
            walltime_s=self._walltime_s(fw_spec),
            calculation=self.get("calculation", "scf"),
            **start,
        )
        if not relaxed and prepared.fingerprint != self["fingerprint"]:
            raise CalculationFailedError(
                f"inputs of point {self['fingerprint']} now fingerprint as {prepared.fingerprint} "
                "(pseudopotentials, preset or tipsurf changed since the campaign was added); add the campaign again"
            )
        result = engine.run(calc_dir, max_errors=int(self.get("max_errors", 5)))
        record = result.as_dict()
        record.setdefault("metadata", {}).update(
            {k: v for k, v in prepared.metadata.items() if k not in record["metadata"]}
        )
        return self._store(db, record, calc_dir, warm_fp, prepared.fingerprint)

    def _fragment_start(self, db: Any, atoms: Any, warm_fp: str | None, warm_dir: str | None) -> list[Any] | None:
        """Density parts of a superposed start (see ``start_fragments``), or None."""
        from tipsurf.engines.qe.superpose import DensityPart, calc_save_dir

        dirs = {}
        for role, fp in (self.get("start_fragments") or {}).items():
            record = store.get_result(db, fp) or {}
            if not record.get("converged") or not record.get("_calc_dir") or not Path(record["_calc_dir"]).is_dir():
                return None
            dirs[role] = calc_save_dir(record["_calc_dir"])
        if set(dirs) != {"surface", "tip"}:
            return None
        d_max = float(atoms.info["scan_d_max_A"])
        flip = atoms.info.get("config") == "ap"
        tip_here = DensityPart(dirs["tip"], float(atoms.info["distance_A"]) - d_max, 1.0, flip)
        neighbour = store.get_result(db, warm_fp) if warm_fp else None
        d_neighbour = ((neighbour or {}).get("metadata") or {}).get("distance_A")
        if warm_dir and d_neighbour is not None:
            tip_there = DensityPart(dirs["tip"], float(d_neighbour) - d_max, -1.0, flip)
            return [DensityPart(calc_save_dir(warm_dir)), tip_there, tip_here]
        return [DensityPart(dirs["surface"]), tip_here]

    def _walltime_s(self, fw_spec: dict[str, Any]) -> float | None:
        """Task setting, else the Firework spec, else the queue job's ``TIPSURF_WALLTIME_S``."""
        import os

        value = self.get("walltime_s") or fw_spec.get("_tipsurf_walltime_s") or os.environ.get("TIPSURF_WALLTIME_S")
        return float(value) if value else None

    def _finished_in_folder(self, engine: Any, calc_dir: Path) -> Any:
        """A converged result already in the folder for exactly these inputs (else None)."""
        if self.get("relaxed_from") or not calc_dir.is_dir():
            return None
        try:
            result = engine.parse(calc_dir)
        except TipsurfError:
            return None
        if result.converged and result.fingerprint == self["fingerprint"] and result.energy_eV is not None:
            return result
        return None

    def _store(self, db: Any, record: dict[str, Any], calc_dir: Path, warm_fp: str | None, input_fp: str) -> FWAction:
        record["fingerprint"] = self["fingerprint"]
        store.store_result(
            db,
            record,
            campaign=self["campaign"],
            spec=self["spec"],
            calc_dir=calc_dir,
            extra={
                "_warm_start_from": warm_fp,
                "_calculation": self.get("calculation", "scf"),
                "_input_fingerprint": input_fp,
                "_relaxed_from": self.get("relaxed_from") or {},
            },
        )
        if not record.get("converged"):
            raise CalculationFailedError(
                f"calculation {self['fingerprint']} did not converge (see {calc_dir}); its record is stored as not converged"
            )
        return FWAction(stored_data={
            "fingerprint": self["fingerprint"],
            "energy_eV": record.get("energy_eV"),
            "n_scf": record.get("n_scf"),
            "warm_start_from": warm_fp,
            "calc_dir": str(calc_dir),
        })


@explicit_serialize
class PostStepTask(FiretaskBase):
    """Run a post-processing function on a finished calculation folder.

    Parameters (Firetask fields)
    ----------------------------
    function : str
        ``"package.module:function"`` called as ``function(calc_dir, **kwargs)``; it must return
        a JSON-serialisable dict (e.g. the cube files written), stored with the result.
    fingerprint, calc_dir : str
        The calculation it works on.
    kwargs : dict, optional
    """

    required_params = ["function", "fingerprint", "calc_dir"]
    optional_params = ["kwargs", "label"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        db = _db_of(self)
        record = store.get_result(db, self["fingerprint"])
        if not record or not record.get("converged"):
            raise CalculationFailedError(f"post-step on {self['fingerprint']}: the calculation has no converged result")
        function = resolve_callable(self["function"])
        output = function(self["calc_dir"], **(self.get("kwargs") or {}))
        output = json.loads(json.dumps(output, default=str))
        label = self.get("label") or self["function"].rpartition(":")[2]
        db[store.RESULTS].update_one({"fingerprint": self["fingerprint"]}, {"$set": {f"_post.{label}": output}})
        return FWAction(stored_data={"fingerprint": self["fingerprint"], "post": label})


@explicit_serialize
class AnalysisTask(FiretaskBase):
    """Compute a campaign-level table from its stored records and store it with the campaign.

    Parameters (Firetask fields)
    ----------------------------
    campaign : str
    function : str
        ``"package.module:function"`` (imported lazily, see the module docstring), called as
        ``function(records, **kwargs)``; its result (``as_dict()`` if it has one) is stored.
    kwargs : dict, optional
    record_filter : str, optional
        Dotted name of a function ``records -> (records, skipped)`` applied first (e.g. keep
        only distances with both p and ap results).
    """

    required_params = ["campaign", "function"]
    optional_params = ["kwargs", "record_filter"]

    def run_task(self, fw_spec: dict[str, Any]) -> FWAction:
        db = _db_of(self)
        records = store.campaign_records(db, self["campaign"])
        skipped: list[dict[str, Any]] = []
        if self.get("record_filter"):
            records, skipped = resolve_callable(self["record_filter"])(records)
        if not records:  # e.g. a p-only scan, or every point failed: nothing to tabulate yet
            store.store_campaign_analysis(db, self["campaign"], {
                "function": self["function"], "n_records": 0, "skipped": skipped, "table": None,
                "note": "no complete set of results to analyse yet",
            })
            return FWAction(stored_data={"campaign": self["campaign"], "n_records": 0})
        function = resolve_callable(self["function"])
        try:
            output = function(records, **(self.get("kwargs") or {}))
        except TipsurfError as err:
            store.store_campaign_analysis(db, self["campaign"], {"function": self["function"], "error": str(err), "skipped": skipped})
            raise
        except Exception:  # noqa: BLE001  (store the reason, then fizzle)
            store.store_campaign_analysis(db, self["campaign"], {"function": self["function"], "error": traceback.format_exc(limit=3)})
            raise
        table = output.as_dict() if hasattr(output, "as_dict") else output
        analysis = {
            "function": self["function"],
            "kwargs": self.get("kwargs") or {},
            "n_records": len(records),
            "skipped": skipped,
            "table": json.loads(json.dumps(table, default=float)),
        }
        store.store_campaign_analysis(db, self["campaign"], analysis)
        return FWAction(stored_data={"campaign": self["campaign"], "n_records": len(records)})
