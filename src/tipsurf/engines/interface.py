"""What every engine provides, and the handling of a calculation's parameters the engines share.

Each engine (one per code: :class:`tipsurf.engines.qe.QEEngine`,
:class:`tipsurf.engines.vasp.VaspEngine`) derives from :class:`EngineBase`.  Its
:meth:`~EngineBase.write_inputs` checks the preset against the code's typed input set, puts the
code's defaults under it (:meth:`tipsurf.engines.input_sets.InputSet.resolve`), checks the
calculation and the structure, loads the configuration and hands one :class:`InputRequest` to
the engine's :meth:`~EngineBase.write_request`, which writes the code's files.

This module imports no engine; :mod:`tipsurf.engines.base` finds them by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ase import Atoms

from tipsurf.config import Config, load_config
from tipsurf.engines.input_sets import input_set
from tipsurf.engines.record import CalcResult, PreparedCalc
from tipsurf.errors import InputError

__all__ = ["EngineBase", "InputRequest"]


@dataclass(frozen=True)
class InputRequest:
    """One calculation to write, checked.

    Attributes
    ----------
    atoms
        Structure with initial magnetic moments (μB), constraints and ``info`` metadata.
    preset
        The preset as given (preset < user overrides): what the fingerprint covers.
    settings
        The code's defaults < ``preset``: what the input files are built from.
    directory
        Calculation folder (the engine creates it).
    config
        The tipsurf configuration.
    restart_from
        Folder of a finished calculation whose density starts this one, or None.
    walltime_s
        Wall-time budget of the run (s), or None.
    calculation
        ``scf``, ``relax`` (or, for VASP, ``nscf`` and the preset's own calculation blocks).
    """

    atoms: Atoms
    preset: dict[str, Any]
    settings: dict[str, Any]
    directory: Path
    config: Config
    restart_from: str | Path | None
    walltime_s: float | None
    calculation: str


class EngineBase(ABC):
    """An engine: inputs from Atoms + preset, a custodian run, the outputs parsed into a record."""

    code: ClassVar[str]
    #: Calculations :meth:`write_inputs` accepts; None: the engine checks the name itself.
    calculations: ClassVar[tuple[str, ...] | None] = None

    def write_inputs(
        self,
        atoms: Atoms,
        preset: dict[str, Any],
        directory: str | Path,
        *,
        config: Config | None = None,
        restart_from: str | Path | None = None,
        walltime_s: float | None = None,
        calculation: str = "scf",
        **options: Any,
    ) -> PreparedCalc:
        """Write all input files of one calculation into ``directory`` and return what was prepared.

        Parameters
        ----------
        atoms
            Structure with initial magnetic moments (μB), constraints and ``info`` metadata.
        preset
            A preset of this code, already layered with the user's overrides
            (:func:`tipsurf.engines.presets.merge_preset`).
        directory
            Calculation folder (created).
        config
            Configuration; loaded with :func:`tipsurf.config.load_config` if None.
        restart_from
            Folder of a finished calculation whose charge density starts this one.
        walltime_s
            Wall-time budget of the run (s).
        calculation
            ``"scf"`` or ``"relax"`` (VASP also ``"nscf"`` and the preset's calculation blocks).
        **options
            The engine's own options (see its :meth:`write_request`).

        Raises
        ------
        InputError
            A preset of another code or with a bad key, an unknown calculation, no atoms (and
            the engine's own checks).
        ConfigurationError
            Missing pseudopotentials or POTCARs (the engine's checks).
        """
        return self.write_request(self.request(atoms, preset, directory, config=config, restart_from=restart_from,
                                               walltime_s=walltime_s, calculation=calculation), **options)

    def request(
        self, atoms: Atoms, preset: dict[str, Any], directory: str | Path, *, config: Config | None,
        restart_from: str | Path | None, walltime_s: float | None, calculation: str,
    ) -> InputRequest:
        """Check what :meth:`write_inputs` was given and layer the code's defaults under the preset."""
        if not isinstance(preset, dict) or preset.get("code", self.code) != self.code:
            given = preset.get("code") if isinstance(preset, dict) else type(preset).__name__
            name = preset.get("name", "?") if isinstance(preset, dict) else "?"
            raise InputError(f"preset '{name}' is for code '{given}', not {self.code}")
        settings = input_set(self.code).resolve(preset, names=(f"preset '{preset.get('name', '?')}'",))
        if self.calculations is not None and calculation not in self.calculations:
            raise InputError(f"unknown calculation '{calculation}'; choose one of {', '.join(self.calculations)}")
        if len(atoms) == 0:
            raise InputError(f"the structure has no atoms; cannot write {self.code} inputs for it")
        return InputRequest(atoms, preset, settings, Path(directory), config or load_config(), restart_from,
                            walltime_s, calculation)

    @abstractmethod
    def write_request(self, request: InputRequest, **options: Any) -> PreparedCalc:
        """Write the code's input files for a checked request (see :meth:`write_inputs`)."""

    @abstractmethod
    def run(self, directory: str | Path, *, config: Config | None = None, max_errors: int = 5) -> CalcResult:
        """Run the code in ``directory`` under custodian (with error handlers) and parse it."""

    @abstractmethod
    def parse(self, directory: str | Path) -> CalcResult:
        """Parse the outputs in ``directory`` into a result record (raises OutputError)."""
