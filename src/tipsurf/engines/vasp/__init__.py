"""VASP engine: pymatgen inputs, custodian runs, parsing into :class:`CalcResult`.

VASP itself is licensed and not run by the test-suite; inputs are checked field by field and
the parser is tested on real VASP outputs.  See :mod:`.inputs` for the atom-order convention
(POSCAR groups species; the permutation is recorded in ``tipsurf_calc.json`` and undone when
parsing, so forces and moments come back in the original Atoms order).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tipsurf.atomic import write_json_atomic, write_text_atomic
from tipsurf.concurrency import released
from tipsurf.config import Config, load_config
from tipsurf.engines.fingerprint import fingerprint, structure_payload
from tipsurf.engines.interface import EngineBase, InputRequest
from tipsurf.engines.record import CalcResult, PreparedCalc
from tipsurf.engines.vasp.inputs import build_incar, build_kpoints, build_poscar, incar_object, species_order
from tipsurf.engines.vasp.outputs import read_vasp_outputs
from tipsurf.engines.vasp.potcar import build_potcar, potcar_symbol, resolve_potcar_dir
from tipsurf.errors import CalculationFailedError, ConfigurationError, InputError, OutputError, ProgramNotFoundError
from tipsurf.jsonable import to_jsonable

CALC_FILE = "tipsurf_calc.json"
__all__ = ["VaspEngine", "CALC_FILE", "load_calc_file"]


def load_calc_file(directory: str | Path) -> dict[str, Any] | None:
    """Contents of ``directory/tipsurf_calc.json`` (None if absent)."""
    path = Path(directory) / CALC_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise OutputError(f"{path} is not valid JSON; rewrite the inputs with write_inputs") from None


def _require_chgcar(source: Path) -> None:
    if not any((source / n).is_file() for n in ("CHGCAR", "CHGCAR.gz")):
        raise InputError(f"restart source {source} has no CHGCAR; restart from a finished VASP run with LCHARG")


#: ICHARG values of non-self-consistent runs (the charge density is kept fixed): a restart
#: must not turn them into ICHARG 1, which would make the run self-consistent again.
NON_SCF_ICHARG = (11, 12)


def _restart_icharg(incar: dict[str, Any]) -> int:
    """ICHARG of a run started from a copied CHGCAR: 1 (read, then iterate) unless non-SCF."""
    icharg = incar.get("ICHARG")
    return int(icharg) if icharg in NON_SCF_ICHARG else 1


def _require_density_for_nscf(directory: Path) -> None:
    """ICHARG 11 reads a fixed CHGCAR: refuse to start VASP in a folder without one."""
    from pymatgen.io.vasp.inputs import Incar

    icharg = Incar.from_file(directory / "INCAR").get("ICHARG")
    if icharg == 11 and not (directory / "CHGCAR").is_file():
        raise InputError(
            f"{directory} is a non-self-consistent run (ICHARG 11) without a CHGCAR; "
            "write it with restart_from (a finished self-consistent run) or copy the CHGCAR in"
        )


def _copy_restart(source: Path, directory: Path, incar: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Copy CHGCAR (required) and WAVECAR (optional) from ``source``; return INCAR changes.

    ICHARG becomes 1 (start from the copied density) except for a non-self-consistent run
    (ICHARG 11 or 12 in ``incar``), which keeps its ICHARG and reads the copied CHGCAR as is.
    """
    copied: list[str] = []
    for name, required in (("CHGCAR", True), ("WAVECAR", False)):
        plain, gz = source / name, source / f"{name}.gz"
        if plain.is_file() and plain.stat().st_size > 0:
            shutil.copyfile(plain, directory / name)
        elif gz.is_file():
            with gzip.open(gz, "rb") as fin, open(directory / name, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        elif required:
            raise InputError(f"restart source {source} has no CHGCAR; restart from a finished VASP run with LCHARG")
        else:
            continue
        copied.append(name)
    return {"ICHARG": _restart_icharg(incar), "ISTART": 1 if "WAVECAR" in copied else 0}, copied


class VaspEngine(EngineBase):
    """The VASP implementation of :class:`tipsurf.engines.interface.EngineBase`."""

    code = "vasp"

    def write_request(self, request: InputRequest, *, allow_missing_potcar: bool = False) -> PreparedCalc:
        """Write INCAR, POSCAR, KPOINTS, POTCAR and ``tipsurf_calc.json`` (see :meth:`EngineBase.write_inputs`).

        Parameters
        ----------
        request
            The checked calculation.  Its ``restart_from`` (a finished calculation) gives the
            CHGCAR (and WAVECAR) that start this one: ICHARG 1, or the calculation's own
            ICHARG 11 for ``nscf`` (the density then stays fixed); its ``walltime_s`` is used
            by :meth:`run` for custodian's WalltimeHandler; its ``calculation`` is ``scf``
            (single point), ``relax``, ``nscf`` or a block of the preset's ``calculations``.
        allow_missing_potcar
            Write everything except POTCAR when no POTCAR folder is configured (for checking
            inputs); such a folder cannot be run and its fingerprint uses POTCAR symbols.

        Raises
        ------
        ConfigurationError
            No POTCAR folder configured (unless ``allow_missing_potcar``) or a POTCAR missing.
        InputError
            No ``incar`` mapping, unsupported constraint or calculation, missing restart CHGCAR.
        """
        atoms, preset, settings, directory, config = (request.atoms, request.preset, request.settings,
                                                      request.directory, request.config)
        calculation, walltime_s, restart_from = request.calculation, request.walltime_s, request.restart_from
        if not isinstance(preset.get("incar"), dict):
            raise InputError("VASP preset lacks an 'incar:' mapping")
        species, order = species_order(atoms.get_chemical_symbols())
        incar = build_incar(atoms, settings, calculation)
        poscar = build_poscar(atoms, comment=str(atoms.info.get("label", atoms.get_chemical_formula())))
        kpoints = build_kpoints(settings)
        potcar, pseudos = self._potcar(species, settings, config, allow_missing_potcar)
        parameters = {
            "incar": to_jsonable(incar),
            "kpoints": to_jsonable(preset.get("kpoints")),
            "potcar_functional": str(settings["potcar_functional"]),
            "potcar_symbols": {sp: potcar_symbol(sp, preset.get("potcar_symbols") or {}) for sp in species},
        }
        pseudo_md5 = {el: info.get("md5") or f"symbol:{info['symbol']}" for el, info in pseudos.items()}
        fp = fingerprint(atoms, self.code, parameters, pseudo_md5)
        if restart_from is not None:
            _require_chgcar(Path(restart_from))
        directory.mkdir(parents=True, exist_ok=True)
        run_incar = dict(incar)
        restart_files: list[str] = []
        if restart_from is not None:
            changes, restart_files = _copy_restart(Path(restart_from), directory, incar)
            run_incar.update(changes)
        incar_object(run_incar).write_file(directory / "INCAR")
        write_text_atomic(directory / "POSCAR", poscar.get_str(significant_figures=10))
        write_text_atomic(directory / "KPOINTS", str(kpoints))
        if potcar is not None:
            potcar.write_file(directory / "POTCAR")
        metadata = to_jsonable(dict(atoms.info))
        record = {
            "code": self.code,
            "fingerprint": fp,
            "calculation": calculation,
            "parameters": parameters,
            "pseudopotentials": pseudos,
            "potcar_written": potcar is not None,
            "poscar_order": order,
            "structure": structure_payload(atoms),
            "metadata": metadata,
            "walltime_s": walltime_s,
            "restart_from": None if restart_from is None else str(restart_from),
            "restart_files": restart_files,
            "preset_description": preset.get("description"),
        }
        write_json_atomic(directory / CALC_FILE, to_jsonable(record))
        return PreparedCalc(
            directory=str(directory),
            code=self.code,
            fingerprint=fp,
            parameters=parameters,
            pseudopotentials=pseudos,
            metadata=metadata,
        )

    @staticmethod
    def _potcar(
        species: list[str], preset: dict[str, Any], config: Config, allow_missing: bool
    ) -> tuple[Any, dict[str, dict[str, str]]]:
        symbols = preset.get("potcar_symbols") or {}
        functional = str(preset["potcar_functional"])
        try:
            root = resolve_potcar_dir(config)
        except ConfigurationError:
            if not allow_missing:
                raise
            return None, {sp: {"symbol": potcar_symbol(sp, symbols)} for sp in species}
        return build_potcar(species, symbols, root, functional)

    def run(self, directory: str | Path, *, config: Config | None = None, max_errors: int = 5) -> CalcResult:
        """Run VASP in ``directory`` under custodian (error handlers, STOPCAR wall time) and parse.

        Raises
        ------
        ConfigurationError
            Inputs written without POTCAR.
        InputError
            A non-self-consistent run (ICHARG 11) without the CHGCAR it reads.
        ProgramNotFoundError
            The configured VASP command is not on PATH.
        CalculationFailedError
            custodian gave up (unrecoverable error or too many corrections).
        """
        from custodian.custodian import CustodianError

        from tipsurf.engines.vasp.jobs import make_custodian

        directory = Path(directory)
        config = config or load_config()
        calc = load_calc_file(directory) or {}
        for name in ("INCAR", "POSCAR", "KPOINTS", "POTCAR"):
            if not (directory / name).is_file():
                raise ConfigurationError(
                    f"{directory / name} is missing; write the inputs with a configured POTCAR folder before running"
                )
        _require_density_for_nscf(directory)
        command = config.command("vasp")
        if shutil.which(command[0]) is None:
            raise ProgramNotFoundError(f"VASP command '{command[0]}' not found on PATH; set commands: vasp: in the tipsurf config")
        custodian = make_custodian(directory, config, walltime_s=calc.get("walltime_s"), max_errors=max_errors)
        try:
            with released():  # other workers may use the campaign store while VASP runs
                custodian.run()
        except CustodianError as exc:
            raise CalculationFailedError(f"VASP in {directory} failed: {' '.join(str(exc).split())[:300]}") from None
        return self.parse(directory)

    def parse(self, directory: str | Path) -> CalcResult:
        """Parse ``directory`` (vasprun.xml and/or OUTCAR, maybe gzipped) into a :class:`CalcResult`.

        Forces, moments and the structure are returned in the original Atoms order when
        ``tipsurf_calc.json`` is present (otherwise in POSCAR order); metadata, fingerprint and
        parameters come from that file too, and corrections from ``custodian.json``.

        ``converged`` needs the electronic loop of the final ionic step to have reached EDIFF
        and, for a relaxation, the ionic loop to have reached EDIFFG (as VASP reports them in
        OUTCAR and vasprun.xml; every file present must agree).  Like the QE engine, an
        unconverged record carries no energy, forces, moments or Fermi energy (all None); the
        last moments are kept for diagnosis in ``extra['unconverged_last_iteration']``.

        Raises
        ------
        OutputError
            Missing, truncated or inconsistent outputs.
        """
        directory = Path(directory)
        data = read_vasp_outputs(directory)
        calc = load_calc_file(directory) or {}
        n = len(data["symbols"])
        order = calc.get("poscar_order") or list(range(n))
        if len(order) != n:
            raise OutputError(f"outputs in {directory} have {n} atoms but the inputs had {len(order)}; wrong directory?")
        inverse = np.argsort(np.asarray(order))
        expected = (calc.get("structure") or {}).get("symbols")
        symbols = [data["symbols"][k] for k in inverse]
        if expected and symbols != expected:
            raise OutputError(f"species in the outputs of {directory} do not match the written inputs")

        def back(values: Any) -> Any:
            return None if values is None else np.asarray(values, dtype=float)[inverse].tolist()

        converged = bool(data["converged_electronic"] and data["converged_ionic"])
        extra: dict[str, Any] = {
            "directory": str(directory),
            "calculation": calc.get("calculation"),
            "parameters": calc.get("parameters"),
            "energy_sigma0_eV": data.get("energy_sigma0_eV") if converged else None,
            "converged_electronic": bool(data["converged_electronic"]),
            "converged_ionic": bool(data["converged_ionic"]),
            "convergence_by_file": data.get("convergence_by_file"),
            "n_ionic_steps": data.get("n_ionic_steps"),
            "poscar_order": list(order),
            "output_files": data.get("files"),
        }
        if not converged:  # for diagnosis only, under a name no analysis reads as a result
            extra["unconverged_last_iteration"] = {
                "magmoms_muB": back(data.get("magmoms_muB")),
                "total_magnetization_muB": data.get("total_magnetization_muB"),
            }
        return CalcResult(
            code="vasp",
            energy_eV=float(data["energy_eV"]) if converged else None,
            forces_eV_per_A=back(data.get("forces_eV_per_A")) if converged else None,
            magmoms_muB=back(data.get("magmoms_muB")) if converged else None,
            total_magnetization_muB=data.get("total_magnetization_muB") if converged else None,
            absolute_magnetization_muB=None,
            fermi_eV=data.get("fermi_eV") if converged else None,
            converged=converged,
            n_scf=data.get("n_scf"),
            code_version=data.get("code_version"),
            walltime_s=data.get("walltime_s"),
            corrections=_corrections(directory),
            pseudopotentials=calc.get("pseudopotentials") or {},
            fingerprint=calc.get("fingerprint"),
            symbols=symbols,
            positions_A=back(data["positions_A"]),
            cell_A=np.asarray(data["cell_A"], dtype=float).tolist(),
            metadata=calc.get("metadata") or {},
            extra=to_jsonable(extra),
        )


def _corrections(directory: Path) -> list[dict[str, Any]]:
    """Corrections custodian logged in ``custodian.json`` (one dict per correction)."""
    path = directory / "custodian.json"
    if not path.is_file():
        return []
    try:
        log = json.loads(path.read_text())
    except json.JSONDecodeError:
        return []
    out: list[dict[str, Any]] = []
    for job in log if isinstance(log, list) else []:
        for corr in job.get("corrections", []) if isinstance(job, dict) else []:
            out.append(to_jsonable(corr))
    return out
