"""What every engine (one per code) provides to the workflows.

An engine turns an Atoms object (built by :mod:`tipsurf.structures`, carrying initial magnetic
moments, constraints and ``atoms.info`` metadata) plus a preset into input files, runs the
code under custodian, and parses the outputs into a :class:`~tipsurf.engines.record.CalcResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ase import Atoms

from tipsurf.config import Config
from tipsurf.engines.record import CalcResult


@dataclass
class PreparedCalc:
    """What ``write_inputs`` produced: enough to run, fingerprint and store the calculation."""

    directory: str
    code: str
    fingerprint: str
    parameters: dict[str, Any]
    pseudopotentials: dict[str, dict[str, str]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return dict(self.__dict__)


class Engine(Protocol):
    """Interface of ``tipsurf.engines.qe.QEEngine`` and ``tipsurf.engines.vasp.VaspEngine``."""

    code: str

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
    ) -> PreparedCalc:
        """Write all input files into ``directory`` and return what was prepared."""
        ...

    def run(self, directory: str | Path, *, config: Config | None = None, max_errors: int = 5) -> CalcResult:
        """Run the code in ``directory`` under custodian (with error handlers) and parse it."""
        ...

    def parse(self, directory: str | Path) -> CalcResult:
        """Parse the outputs in ``directory`` into a result record (raises OutputError)."""
        ...


def get_engine(code: str) -> Engine:
    """Return the engine for ``code`` (``"qe"`` or ``"vasp"``)."""
    from tipsurf.errors import InputError

    if code == "qe":
        from tipsurf.engines.qe import QEEngine

        return QEEngine()
    if code == "vasp":
        from tipsurf.engines.vasp import VaspEngine

        return VaspEngine()
    raise InputError(f"unknown code '{code}'; choose 'qe' or 'vasp'")
