"""The code-neutral records that travel from engines to workflows and analysis.

* :class:`PreparedCalc` — what an engine's ``write_inputs`` prepared (folder, fingerprint,
  parameters, pseudopotentials, metadata);
* :class:`CalcResult` — the parsed outcome of one calculation;
* :func:`calc_metadata` — the structure's ``atoms.info`` that every engine keeps in the
  folder's ``tipsurf_calc.json`` (sites, surface plane), for the steps after the engine.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from tipsurf.errors import InputError

RECORD_SCHEMA_VERSION = 1
#: The file in which the engines keep a calculation's inputs, fingerprint and structure metadata.
CALC_FILE = "tipsurf_calc.json"


def calc_metadata(folder: str | Path) -> dict[str, Any] | None:
    """``metadata`` (the structure's ``atoms.info``) of ``folder/tipsurf_calc.json``; None if absent.

    Raises
    ------
    InputError
        The file is not valid JSON.
    """
    path = Path(folder) / CALC_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); rewrite the inputs with tipsurf") from None
    meta = data.get("metadata") if isinstance(data, dict) else None
    return meta if isinstance(meta, dict) else None


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


@dataclass
class CalcResult:
    """Outcome of one single-point (or relaxation) calculation.

    Every number carries its unit in its name.  A record whose ``converged`` is False must not
    be used as a valid energy by any analysis.

    Attributes
    ----------
    code, code_version
        ``"qe"`` or ``"vasp"`` and the program's version string.
    energy_eV
        Total (free) energy of the final structure.
    forces_eV_per_A
        Per-atom forces, shape (n_atoms, 3).
    magmoms_muB
        Per-site magnetic moments in the code's own site partition.
    total_magnetization_muB, absolute_magnetization_muB
        Cell totals.
    fermi_eV
        Fermi energy.
    converged
        Electronic (and, for relaxations, ionic) convergence reached.
    n_scf
        Number of SCF iterations of the final electronic minimisation.
    walltime_s
        Wall time reported by the code.
    corrections
        Actions taken by the custodian error handlers, in order.
    pseudopotentials
        ``{element: {"file": name, "md5": hex}}`` (QE) or POTCAR symbols/hashes (VASP).
    fingerprint
        Deterministic hash of every input that determines the result.
    symbols, positions_A, cell_A
        Final structure.
    metadata
        Structure metadata (site, distance_A, config, apex_index, tip_indices, ...).
    extra
        Code-specific extras (Löwdin charges, parameters, directory).
    """

    code: str
    energy_eV: float | None
    forces_eV_per_A: list[list[float]] | None = None
    magmoms_muB: list[float] | None = None
    total_magnetization_muB: float | None = None
    absolute_magnetization_muB: float | None = None
    fermi_eV: float | None = None
    converged: bool = False
    n_scf: int | None = None
    code_version: str | None = None
    walltime_s: float | None = None
    corrections: list[dict[str, Any]] = field(default_factory=list)
    pseudopotentials: dict[str, dict[str, str]] = field(default_factory=dict)
    fingerprint: str | None = None
    symbols: list[str] = field(default_factory=list)
    positions_A: list[list[float]] = field(default_factory=list)
    cell_A: list[list[float]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = RECORD_SCHEMA_VERSION

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (round-trips through :meth:`from_dict`)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CalcResult":
        """Rebuild a record from :meth:`as_dict` output (unknown keys are rejected)."""
        if not isinstance(data, dict):
            raise InputError(f"a result record must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        payload = {k: v for k, v in data.items() if not k.startswith("_")}
        unknown = set(payload) - names
        if unknown:
            raise InputError(f"unknown field(s) {sorted(unknown)} in result record")
        if "code" not in payload or "energy_eV" not in payload:
            raise InputError("result record lacks 'code' or 'energy_eV'")
        return cls(**payload)

    def tip_force_z_eV_per_A(self) -> float:
        """Total z-force on the tip atoms (``metadata['tip_indices']``); + is away from the surface."""
        if self.forces_eV_per_A is None:
            raise InputError("record has no forces; rerun with forces enabled (QE tprnfor)")
        if not self.metadata.get("tip_indices"):
            raise InputError("record has no 'tip_indices' in its metadata; it is not a tip-surface junction")
        return float(tip_force_z({"forces_eV_per_A": self.forces_eV_per_A, "metadata": self.metadata}))


def tip_force_z(record: Mapping[str, Any]) -> float | None:
    """Total z-force on the tip atoms of a record dict (eV/Å; + is away from the surface).

    Parameters
    ----------
    record
        A :meth:`CalcResult.as_dict` record (``forces_eV_per_A``, ``metadata['tip_indices']``).

    Returns
    -------
    float or None
        The sum of the z-forces on ``metadata['tip_indices']``; None without forces or tip indices.
    """
    forces = record.get("forces_eV_per_A")
    tip = (record.get("metadata") or {}).get("tip_indices")
    if forces is None or not tip:
        return None
    return float(sum(forces[i][2] for i in tip))
