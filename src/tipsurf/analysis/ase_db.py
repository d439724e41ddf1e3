"""Stored result records as rows of an ASE database (SQLite, :func:`ase.db.connect`).

One row per calculation: the final structure with its starting moments
(``initial_magmoms``), a :class:`~ase.calculators.singlepoint.SinglePointCalculator` holding the
energy, forces and final moments, and flat key-value pairs to filter on::

    ase db results.db config=ap,d_A<4.5
    ase db results.db species=TiH2,site=bridge -c formula,energy,mgo_layers

Keys (only those that apply to a record are written): ``campaign`` (the campaign the row was
exported for; the CLI's ``--all`` credits a shared calculation to the first campaign that
stored it), ``campaigns`` (every campaign that uses the calculation, comma-separated),
``role``, ``kind``, ``surface``, ``site``, ``site_index``, ``tip``, ``tip_base``,
``tip_layers``, ``d_A``, ``delta_d_A``, ``config``, ``fragment``, ``species``, ``n_H``,
``mgo_layers``, ``code``, ``preset``, ``calculation``, ``converged``, ``fingerprint``,
``spin_flip``, ``m_apex_muB``, ``m_ref_muB``, ``total_magnetization_muB``,
``absolute_magnetization_muB``, ``fermi_eV``, ``n_scf``, ``walltime_s``, ``n_corrections``.
The full metadata, pseudopotentials, corrections and provenance travel in the row's ``data``.

The ``fingerprint`` key is the row's identity: exporting a calculation again replaces its row
(same row id) instead of adding one.  ASE refuses text that reads as a number, so the rare
fingerprint made only of digits (and at most one ``e``) is stored as ``fp:<fingerprint>``;
:func:`fingerprint_key` gives the stored form.

This module only converts and writes; the records come from the caller (the CLI reads them
from the results store), so the analysis stage never touches the workflows.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from tipsurf.analysis.exchange import CONFIGS, MOMENT_THRESHOLD_MUB_DEFAULT, configuration_problem, flipped_moments
from tipsurf.atomic import atomic_path
from tipsurf.errors import InputError

ASE_DB_SUFFIX = ".db"
FINGERPRINT_PREFIX = "fp:"

KeyValue = str | int | float | bool

#: Record metadata copied as keys: ASE key -> metadata key.
_META_TEXT = {"kind": "kind", "surface": "surface", "site": "site", "tip": "tip", "tip_base": "tip_base",
              "fragment": "fragment", "species": "species"}
_META_INT = {"site_index": "site_index", "mgo_layers": "mgo_layers"}
#: Record fields copied as keys (same name).
_RECORD_NUMBERS = ("total_magnetization_muB", "absolute_magnetization_muB", "fermi_eV", "n_scf", "walltime_s")


@dataclass
class RowContext:
    """What a record alone does not say about its row: where it was exported from.

    Attributes
    ----------
    campaign
        Campaign the row is exported for (key ``campaign``).
    campaigns
        Every campaign that uses the calculation (key ``campaigns``); default: ``[campaign]``.
    preset
        Name of the preset the campaign ran with (key ``preset``).
    role
        The campaign's role of the point (``point``, ``fragment-tip``, ``slab``, ``adsorbate``,
        ``reference`` ...; key ``role``).
    d0_A
        Reference distance of the scan; gives the key ``delta_d_A = d_A - d0_A``.
    """

    campaign: str
    campaigns: list[str] = field(default_factory=list)
    preset: str | None = None
    role: str | None = None
    d0_A: float | None = None


@dataclass
class ExportSummary:
    """What :func:`write_ase_db` did.

    Attributes
    ----------
    path
        The database file.
    inserted, updated
        Fingerprints of the rows added and of the rows replaced (already present).
    n_rows
        Rows in the database after the export.
    """

    path: Path
    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    n_rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict."""
        return {"path": str(self.path), "inserted": list(self.inserted), "updated": list(self.updated),
                "n_rows": self.n_rows}


# ----------------------------------------------------------------------------- values


def _reads_as_number(text: str) -> bool:
    """True if ASE would read ``text`` back as a bool, int or float (and so refuses it)."""
    if text in ("True", "False"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def ase_value(value: Any) -> KeyValue | None:
    """``value`` as an ASE key-value (bool, int, finite float or non-numeric text), else None."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and value and not _reads_as_number(value):
        return value
    return None


def fingerprint_key(fingerprint: str) -> str:
    """The value of the ``fingerprint`` key for a record's fingerprint (see the module notes)."""
    return FINGERPRINT_PREFIX + fingerprint if _reads_as_number(fingerprint) else fingerprint


# ----------------------------------------------------------------------------- moments


def initial_moments_muB(record: dict[str, Any]) -> list[float] | None:
    """Starting moments per atom in the record's atom order (None if the record has none).

    QE records carry them in ``extra['initial_magmoms_muB']``; VASP records in the INCAR
    ``MAGMOM`` (POSCAR order), mapped back with ``extra['poscar_order']``.
    """
    extra = record.get("extra") or {}
    n_atoms = len(record.get("symbols") or [])
    moments = extra.get("initial_magmoms_muB")
    if moments is None:
        moments = _vasp_initial_moments(extra, n_atoms)
    if moments is None or len(moments) != n_atoms:
        return None
    return [float(m) for m in moments]


def _vasp_initial_moments(extra: dict[str, Any], n_atoms: int) -> list[float] | None:
    incar = ((extra.get("parameters") or {}).get("incar")) or {}
    magmom, order = incar.get("MAGMOM"), extra.get("poscar_order")
    if not isinstance(magmom, list) or not order or len(magmom) != n_atoms or len(order) != n_atoms:
        return None
    out = [0.0] * n_atoms
    for k, original in enumerate(order):
        out[int(original)] = float(magmom[k])
    return out


def spin_flip(record: dict[str, Any], threshold_muB: float = MOMENT_THRESHOLD_MUB_DEFAULT) -> bool | None:
    """Whether a converged record's moments left their starting pattern (None: cannot tell).

    True if some atom that started magnetic (tip base, a surface Mn, a Ti adatom ...) changed
    sign or lost its moment (:func:`~tipsurf.analysis.exchange.flipped_moments`), or, for a
    p/ap scan point, if apex and reference atoms show the other configuration or lost their
    moments (:func:`~tipsurf.analysis.exchange.configuration_problem`).
    """
    if not record.get("converged") or record.get("magmoms_muB") is None:
        return None
    start = initial_moments_muB(record)
    checked = {**record, "extra": {**(record.get("extra") or {}), "initial_magmoms_muB": start}}
    if start is not None and flipped_moments(checked, threshold_muB):
        return True
    meta = record.get("metadata") or {}
    if meta.get("config") in CONFIGS and meta.get("apex_index") is not None and meta.get("reference_indices"):
        return configuration_problem(record, threshold_muB) is not None
    return False if start is not None else None


def _site_moments(record: dict[str, Any]) -> dict[str, float]:
    """Apex and mean reference moment of a scan point (empty when not applicable)."""
    meta = record.get("metadata") or {}
    mags = record.get("magmoms_muB")
    apex, refs = meta.get("apex_index"), meta.get("reference_indices")
    out: dict[str, float] = {}
    if mags is None:
        return out
    if apex is not None and 0 <= int(apex) < len(mags):
        out["m_apex_muB"] = float(mags[int(apex)])
    if refs and meta.get("config") in CONFIGS and all(0 <= int(i) < len(mags) for i in refs):
        out["m_ref_muB"] = float(np.mean([mags[int(i)] for i in refs]))
    return out


# ----------------------------------------------------------------------------- atoms and keys


def record_atoms(record: dict[str, Any]) -> Atoms:
    """Final structure of a record with starting moments and a single-point calculator.

    Parameters
    ----------
    record
        A stored result record (``CalcResult.as_dict()`` fields; ``_`` extras ignored).

    Returns
    -------
    ase.Atoms
        Positions and cell (Å), periodic when the record has a cell; ``initial_magmoms`` (μB)
        when recorded; a :class:`SinglePointCalculator` with ``energy`` (eV), ``forces`` (eV/Å),
        ``magmoms`` and ``magmom`` (μB) for whatever the record holds (nothing for an
        unconverged record).

    Raises
    ------
    InputError
        The record has no structure, or positions/forces/moments of the wrong length.
    """
    symbols = record.get("symbols") or []
    positions = record.get("positions_A") or []
    if not symbols or len(positions) != len(symbols):
        raise InputError(f"record {record.get('fingerprint')} has no final structure (symbols/positions_A); cannot export it")
    cell = record.get("cell_A") or None
    atoms = Atoms(symbols=symbols, positions=positions, cell=cell, pbc=bool(cell) and bool(np.any(cell)))
    start = initial_moments_muB(record)
    if start is not None:
        atoms.set_initial_magnetic_moments(start)
    atoms.calc = SinglePointCalculator(atoms, **_results(record, len(symbols)))
    return atoms


def _results(record: dict[str, Any], n_atoms: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if record.get("energy_eV") is not None:
        out["energy"] = float(record["energy_eV"])
    for key, name in (("forces_eV_per_A", "forces"), ("magmoms_muB", "magmoms")):
        values = record.get(key)
        if values is None:
            continue
        array = np.asarray(values, dtype=float)
        if len(array) != n_atoms:
            raise InputError(f"record {record.get('fingerprint')} has {len(array)} {key} for {n_atoms} atoms")
        out[name] = array
    if record.get("total_magnetization_muB") is not None:
        out["magmom"] = float(record["total_magnetization_muB"])
    return out


def record_key_values(record: dict[str, Any], context: RowContext) -> dict[str, KeyValue]:
    """Key-value pairs of a record's row (only the keys that apply; see the module notes)."""
    meta = record.get("metadata") or {}
    pairs: dict[str, Any] = {
        "campaign": context.campaign,
        "campaigns": ",".join(context.campaigns or [context.campaign]),
        "role": context.role, "preset": context.preset,
        "code": record.get("code"), "calculation": record.get("_calculation"),
        "converged": bool(record.get("converged")),
        "fingerprint": fingerprint_key(str(record.get("fingerprint") or "")),
        "spin_flip": spin_flip(record),
        "n_corrections": len(record.get("corrections") or []),
    }
    pairs.update({key: meta.get(name) for key, name in _META_TEXT.items()})
    pairs.update({key: _int_or_none(meta.get(name)) for key, name in _META_INT.items()})
    pairs.update({key: record.get(key) for key in _RECORD_NUMBERS})
    pairs.update(_tip_layers(meta))
    pairs.update(_scan_keys(meta, context.d0_A))
    pairs.update(_site_moments(record))
    if isinstance(meta.get("species"), str):
        pairs["n_H"] = sum(1 for s in record.get("symbols") or [] if s == "H")
    return {key: value for key, value in ((k, ase_value(v)) for k, v in pairs.items()) if value is not None}


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else None


def _tip_layers(meta: dict[str, Any]) -> dict[str, Any]:
    value = meta.get("tip_layers")
    if value is None:
        return {}
    return {"tip_layers": int(value) if isinstance(value, (int, np.integer)) else str(value)}


def _scan_keys(meta: dict[str, Any], d0_A: float | None) -> dict[str, Any]:
    """``config``, ``d_A`` and ``delta_d_A`` of a tip-surface junction (not of its fragments)."""
    if meta.get("kind") not in (None, "junction") or meta.get("config") not in CONFIGS or meta.get("distance_A") is None:
        return {}
    d_A = float(meta["distance_A"])
    out: dict[str, Any] = {"config": meta["config"], "d_A": d_A}
    if d0_A is not None:
        out["delta_d_A"] = round(d_A - float(d0_A), 6)
    return out


def record_data(record: dict[str, Any]) -> dict[str, Any]:
    """Non-searchable extras of a row: metadata, pseudopotentials, corrections, provenance."""
    data = {
        "metadata": record.get("metadata") or {},
        "pseudopotentials": record.get("pseudopotentials") or {},
        "corrections": record.get("corrections") or [],
        "provenance": record.get("_provenance") or {},
        "code_version": record.get("code_version"),
    }
    return {k: v for k, v in data.items() if v not in (None, {}, [])}


# ----------------------------------------------------------------------------- database


def check_ase_db_path(path: str | os.PathLike[str]) -> Path:
    """The output path, checked before anything is read or written.

    Raises
    ------
    InputError
        Not a ``.db`` file, its folder does not exist, or it exists and is not a file.
    """
    out = Path(path)
    if out.suffix != ASE_DB_SUFFIX:
        raise InputError(f"output {out} must end in {ASE_DB_SUFFIX} (an ASE SQLite database), e.g. results.db")
    if not out.parent.is_dir():
        raise InputError(f"folder {out.parent} of the output {out} does not exist; create it first")
    if out.exists() and not out.is_file():
        raise InputError(f"output {out} exists and is not a file")
    return out


def write_ase_db(path: str | os.PathLike[str], items: Iterable[tuple[dict[str, Any], RowContext]]) -> ExportSummary:
    """Insert or replace one row per record (keyed by fingerprint) in an ASE SQLite database.

    All rows are converted first and written into a copy of the database that replaces the
    file only when everything succeeded, so a failure leaves the old file untouched.

    Parameters
    ----------
    path
        ``.db`` file; created if missing, extended if present.
    items
        ``(record, context)`` pairs; a fingerprint given twice is written once (the last pair).

    Returns
    -------
    ExportSummary

    Raises
    ------
    InputError
        Bad output path, a record without fingerprint or structure, or an existing file that is
        not an ASE SQLite database.
    """
    out = check_ase_db_path(path)
    _require_ase_tables(out)
    rows = _rows(items)
    summary = ExportSummary(out)
    with atomic_path(out) as tmp:
        if out.exists():
            shutil.copyfile(out, tmp)
        _write_rows(tmp, rows, summary)
    return summary


def _require_ase_tables(file: Path) -> None:
    """An existing, non-empty output must already be an ASE database (never extend another SQLite file)."""
    import sqlite3
    from contextlib import closing

    if not file.is_file() or file.stat().st_size == 0:
        return
    try:
        with closing(sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)) as con:
            tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{file} is not an ASE SQLite database ({exc}); choose another output file") from None
    if not {"systems", "keys"} <= tables:
        raise InputError(f"{file} is an SQLite file but not an ASE database (no 'systems' table); choose another output file")


def _rows(items: Iterable[tuple[dict[str, Any], RowContext]]) -> dict[str, tuple[Atoms, dict[str, KeyValue], dict[str, Any]]]:
    rows: dict[str, tuple[Atoms, dict[str, KeyValue], dict[str, Any]]] = {}
    for record, context in items:
        if not record.get("fingerprint"):
            raise InputError("a result record without a fingerprint cannot be exported")
        pairs = record_key_values(record, context)
        rows[str(pairs["fingerprint"])] = (record_atoms(record), pairs, record_data(record))
    return rows


def _write_rows(file: Path, rows: dict[str, tuple[Atoms, dict[str, KeyValue], dict[str, Any]]],
                summary: ExportSummary) -> None:
    import sqlite3

    from ase.db import connect

    try:
        with connect(str(file), type="db", use_lock_file=False) as db:
            for key, (atoms, pairs, data) in rows.items():
                existing = [row.id for row in db.select(fingerprint=key)]
                db.write(atoms, key_value_pairs=pairs, data=data, id=existing[0] if existing else None)
                for extra_id in existing[1:]:  # duplicates written by other tools: keep one row
                    del db[extra_id]
                (summary.updated if existing else summary.inserted).append(key)
            summary.n_rows = db.count()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{summary.path} is not an ASE SQLite database ({exc}); choose another output file") from None
