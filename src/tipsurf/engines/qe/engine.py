"""The Quantum ESPRESSO engine class: pw.x inputs from Atoms + preset, custodian run, parse.

A calculation folder written by :meth:`QEEngine.write_inputs` holds ``pw.in`` (rendered from
its namelists, kept as data in ``tipsurf_pw_input.json``: :mod:`.pw_input`), ``structure.json``
(the Atoms with moments, constraints and info) and ``tipsurf_calc.json`` (fingerprint,
parameters, pseudopotential checksums, metadata, species labels), so that :meth:`QEEngine.run` and :meth:`QEEngine.parse` need nothing but the folder.  The pieces live
beside it: pseudopotentials in :mod:`.pseudo`, namelists and cards in :mod:`.inputs`, the
starting density in :mod:`.starts`, the custodian run in :mod:`.job`, the record in :mod:`.result`.
"""

from __future__ import annotations

from pathlib import Path

from ase import Atoms
from ase.io import write as ase_write

from tipsurf.atomic import atomic_path, write_json_atomic
from tipsurf.config import Config, load_config
from tipsurf.engines.fingerprint import fingerprint
from tipsurf.engines.input_sets import input_set
from tipsurf.engines.interface import EngineBase, InputRequest
from tipsurf.engines.qe.handlers import CALC_FILE, STATE_FILE
from tipsurf.engines.qe.recovery import saved_density
from tipsurf.engines.qe.inputs import (
    PW_INPUT,
    PW_OUTPUT,
    build_namelists,
    kpoint_mesh,
    render_pw_input,
    split_species,
)
from tipsurf.engines.qe.pw_input import apply_actions, pw_input_data, write_pw_input
from tipsurf.engines.qe.job import CORRECTIONS_FILE, PW_STDERR, read_corrections, run_pw
from tipsurf.engines.qe.pseudo import UpfInfo, pseudo_directory, recheck_pseudopotentials, resolve_pseudopotentials, valence_electrons
from tipsurf.engines.qe.result import read_calc_info, read_result
from tipsurf.engines.qe.starts import STRUCTURE_FILE, prepare_start
from tipsurf.engines.qe.superpose import DensityPart
from tipsurf.engines.qe.version import parse_version, qe_version
from tipsurf.engines.record import CalcResult, PreparedCalc
from tipsurf.errors import CalculationFailedError, ConfigurationError, InputError, OutputError
from tipsurf.jsonable import to_jsonable

__all__ = ["QEEngine"]

RESULT_FILE = "tipsurf_result.json"
CALCULATIONS = ("scf", "relax")
_STALE = (PW_OUTPUT, PW_STDERR, STATE_FILE, CORRECTIONS_FILE, RESULT_FILE, "custodian.json", "projwfc.out")


def _pw_command(config: Config) -> list[str] | None:
    try:
        return config.command("pw")
    except ConfigurationError:
        return None


def _write_structure(atoms: Atoms, path: Path) -> None:
    clean = atoms.copy()
    clean.info = to_jsonable(dict(atoms.info))
    with atomic_path(path) as tmp:
        ase_write(str(tmp), clean, format="json")


class QEEngine(EngineBase):
    """Quantum ESPRESSO (pw.x) engine; see :class:`tipsurf.engines.interface.EngineBase`."""

    code = "qe"
    calculations = CALCULATIONS

    def write_request(
        self,
        request: InputRequest,
        *,
        start_density: list[DensityPart] | None = None,
        start_wavefunctions: str | Path | None = None,
    ) -> PreparedCalc:
        """Write ``pw.in``, ``structure.json`` and ``tipsurf_calc.json`` (see :meth:`EngineBase.write_inputs`).

        Parameters
        ----------
        request
            The checked calculation; its ``walltime_s`` gives pw.x ``max_seconds`` = 90 % of it
            (pw.x stops cleanly), its ``settings`` the namelists.
        start_density
            Converged densities (fragments, a neighbour) whose superposition starts this one
            (:mod:`tipsurf.engines.qe.superpose`); used when ``restart_from`` is None.  If
            they do not fit (another cell or cut-off, an electron count that does not add up)
            the calculation starts cold and says why (``restart_method='cold-fallback'``).
        start_wavefunctions
            ``<prefix>.save`` folder of a converged calculation in the same cell, k-points,
            cut-off and band count (a scan neighbour) whose Kohn–Sham states start the
            diagonalisation (``startingwfc='file'``) together with ``start_density``.

        Raises
        ------
        InputError, ConfigurationError
            Bad structure; pseudopotentials missing or for the wrong element.
        """
        atoms, preset, settings, directory, config = (request.atoms, request.preset, request.settings,
                                                      request.directory, request.config)
        calculation, walltime_s, restart_from = request.calculation, request.walltime_s, request.restart_from
        elements = sorted(set(atoms.get_chemical_symbols()))
        pseudo_dir, generated_map = pseudo_directory(elements, config)
        file_map = generated_map if generated_map is not None else (preset.get("pseudopotentials") or {})
        pseudos: dict[str, UpfInfo] = resolve_pseudopotentials(elements, file_map, pseudo_dir)
        version_text = qe_version(config)
        version = parse_version(version_text)
        split = split_species(
            atoms,
            {el: Path(info.path).name for el, info in pseudos.items()},
            {el: info.z_valence for el, info in pseudos.items()},
        )
        namelists, hub_card = build_namelists(
            atoms, settings, split, version, pseudo_dir=pseudo_dir, calculation=calculation, walltime_s=walltime_s
        )
        mesh, shift = kpoint_mesh(atoms, settings["kpoints"], float(settings["slab_vacuum_A"]))
        directory.mkdir(parents=True, exist_ok=True)
        for name in _STALE:
            (directory / name).unlink(missing_ok=True)
        restart = prepare_start(
            directory, atoms, namelists["electrons"], ecutrho_Ry=float(namelists["system"]["ecutrho"]),
            qe_version=version, pw_command=_pw_command(config), electrons=valence_electrons(atoms, pseudos),
            restart_from=restart_from, start_density=start_density, start_wavefunctions=start_wavefunctions,
        )
        text = render_pw_input(namelists, split, atoms, mesh, shift, hub_card)
        physical = input_set("qe").fingerprinted(preset)  # the preset as given, no defaults: stable fingerprints
        parameters = to_jsonable({**physical, "calculation": calculation, "kpoint_mesh": mesh, "kpoint_shift": shift})
        pseudo_record = {el: {"file": Path(info.path).name, "md5": info.md5} for el, info in pseudos.items()}
        fp = fingerprint(atoms, "qe", parameters, {el: info.md5 for el, info in pseudos.items()})
        metadata = to_jsonable(dict(atoms.info))
        calc_info = {
            "code": "qe",
            "fingerprint": fp,
            "parameters": parameters,
            "preset_name": preset.get("name"),
            "pseudopotentials": pseudo_record,
            "pseudo_dir": str(pseudo_dir.resolve()),
            "metadata": metadata,
            "qe_version": version_text,
            "species": [
                {"label": sp.label, "element": sp.element, "moment_muB": sp.moment_muB,
                 "starting_magnetization": round(sp.starting_magnetization, 6), "pseudo": sp.pseudo_file}
                for sp in split.species
            ],
            "species_labels": split.labels,
            "calculation": calculation,
            "restart_from": str(Path(restart_from).resolve()) if restart_from is not None else None,
            **restart,
            "walltime_s": walltime_s,
            "scf_recovery": preset.get("scf_recovery"),
            "initial_magmoms_muB": [float(m) for m in atoms.get_initial_magnetic_moments()],
        }
        _write_structure(atoms, directory / STRUCTURE_FILE)
        write_json_atomic(directory / CALC_FILE, calc_info)
        write_pw_input(directory, pw_input_data(namelists, text))  # pw.in and its namelists as data
        return PreparedCalc(
            directory=str(directory.resolve()),
            code="qe",
            fingerprint=fp,
            parameters=parameters,
            pseudopotentials=pseudo_record,
            metadata=metadata,
        )

    def run(self, directory: str | Path, *, config: Config | None = None, max_errors: int = 5) -> CalcResult:
        """Run pw.x under custodian in ``directory`` and return the parsed record.

        Raises
        ------
        ProgramNotFoundError
            pw.x (or the launcher) is not installed.
        CalculationFailedError
            The error handlers could not recover, or the SCF ended unconverged.
        """
        config = config or load_config()
        directory = Path(directory)
        info = read_calc_info(directory)
        if not (directory / PW_INPUT).is_file():
            raise InputError(f"{directory / PW_INPUT} does not exist; write the inputs first ('tipsurf inputs')")
        recheck_pseudopotentials(info)
        run_pw(directory, config.command("pw"), max_errors=max_errors, scf_recovery=info.get("scf_recovery"))
        result = self.parse(directory)
        if not result.converged:
            raise CalculationFailedError(f"pw.x finished in {directory} without a converged SCF; see {directory / PW_OUTPUT}")
        write_json_atomic(directory / RESULT_FILE, result.as_dict())
        return result

    def resumable(self, directory: str | Path, fingerprint: str) -> bool:
        """True if ``directory`` holds a run of ``fingerprint`` stopped at its wall time, ready to go on.

        That is: the inputs are those of ``fingerprint``, the last correction is the wall-time
        stop that left ``pw.in`` prepared to restart (``startingpot='file'``) and pw.x saved a
        charge density.  Rewriting the inputs would throw that away.
        """
        directory = Path(directory)
        try:
            info = read_calc_info(directory)
        except (OutputError, InputError):
            return False
        corrections = read_corrections(directory)
        last = corrections[-1] if corrections else {}
        return (info.get("fingerprint") == fingerprint and last.get("handler") == "WalltimeHandler"
                and last.get("actions") is None and bool(last.get("prepared")) and saved_density(directory) is not None
                and (directory / PW_INPUT).is_file())

    def prepare_resume(self, directory: str | Path, walltime_s: float | None) -> None:
        """Give a wall-time-stopped run the new allocation's ``max_seconds`` (90 % of it), nothing else."""
        seconds = float(max(1.0, round(0.9 * float(walltime_s), 1))) if walltime_s else None
        apply_actions(directory, [{"namelist": "control", "set": {"max_seconds": seconds}}])

    def parse(self, directory: str | Path) -> CalcResult:
        """Build the result record from the files in ``directory`` (raises OutputError)."""
        return read_result(directory)
