"""Exchange energy and exchange force of a magnetic tip over a surface from stored records.

For every tip–surface distance d two single points exist: apex moment parallel (``p``) and
antiparallel (``ap``) to the reference surface atom(s).  Then

    E_ex(d) = E_ap(d) − E_p(d)          (> 0: ferromagnetic coupling)
    F_ex(d) = F_ap(d) − F_p(d)          (F = total z-force on the tip atoms, + = away from surface)

per (surface, site, tip) group, also against Δd = d − d0.  A point enters E_ex/F_ex only if both
records converged and their moments show the requested p/ap pattern; everything else is
listed in :attr:`ExchangeTable.excluded` and flagged in the rows, never silently used.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from tipsurf.engines.record import tip_force_z
from tipsurf.errors import InputError

D0_A_DEFAULT = 5.0
MOMENT_THRESHOLD_MUB_DEFAULT = 0.5
DISTANCE_DECIMALS = 4
ENERGY_TOLERANCE_EV = 1e-6
CONFIGS = ("p", "ap")

ROW_COLUMNS = (
    "surface", "site", "tip", "d_A", "delta_d_A",
    "E_p_eV", "E_ap_eV", "E_ex_eV", "E_ex_meV",
    "F_p_eV_per_A", "F_ap_eV_per_A", "F_ex_eV_per_A",
    "F_ex_fd_eV_per_A", "F_ex_fd_diff_eV_per_A",
    "m_apex_p_muB", "m_apex_ap_muB", "m_ref_p_muB", "m_ref_ap_muB",
    "valid", "flags",
)

GroupKey = tuple[str, str, str]


@dataclass
class ExchangeTable:
    """Serializable result of :func:`exchange_table`.

    Attributes
    ----------
    rows
        One dict per (group, distance) with the keys :data:`ROW_COLUMNS`; invalid points carry
        ``None`` in the exchange columns, ``valid=False`` and the reason in ``flags``.
    groups
        One summary per (surface, site, tip): point counts and the largest disagreement between
        F_ex and −dE_ex/dd (finite differences).
    excluded
        One entry per excluded point: group, ``d_A``, ``config`` and ``reason``.
    d0_A, moment_threshold_muB
        Settings used.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    d0_A: float = D0_A_DEFAULT
    moment_threshold_muB: float = MOMENT_THRESHOLD_MUB_DEFAULT
    columns: tuple[str, ...] = ROW_COLUMNS

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict."""
        return {
            "columns": list(self.columns),
            "rows": [dict(r) for r in self.rows],
            "groups": [dict(g) for g in self.groups],
            "excluded": [dict(e) for e in self.excluded],
            "d0_A": self.d0_A,
            "moment_threshold_muB": self.moment_threshold_muB,
        }

    def valid_rows(self, surface: str | None = None, site: str | None = None, tip: str | None = None) -> list[dict[str, Any]]:
        """Valid rows, optionally restricted to one group, sorted by distance."""
        out = [r for r in self.rows if r["valid"]
               and (surface is None or r["surface"] == surface)
               and (site is None or r["site"] == site)
               and (tip is None or r["tip"] == tip)]
        return sorted(out, key=lambda r: r["d_A"])


# ----------------------------------------------------------------------------- record access


def _meta(record: dict[str, Any], index: int) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise InputError(f"record #{index} is a {type(record).__name__}, not a result record (dict)")
    meta = record.get("metadata")
    if not isinstance(meta, dict):
        raise InputError(f"record #{index} has no metadata; it is not a tip-surface scan point")
    for key in ("site", "distance_A", "config"):
        if meta.get(key) is None:
            raise InputError(f"record #{index} lacks metadata '{key}'; it is not a tip-surface scan point")
    if meta["config"] not in CONFIGS:
        raise InputError(f"record #{index} has config '{meta['config']}'; expected 'p' or 'ap'")
    return meta


def _group_key(meta: dict[str, Any]) -> GroupKey:
    return (str(meta.get("surface") or "?"), str(meta["site"]), str(meta.get("tip") or "?"))


def _moments(record: dict[str, Any]) -> tuple[float | None, list[float] | None]:
    meta = record.get("metadata", {})
    mags = record.get("magmoms_muB")
    apex, refs = meta.get("apex_index"), meta.get("reference_indices")
    if mags is None or apex is None or not refs:
        return None, None
    return float(mags[apex]), [float(mags[i]) for i in refs]


def configuration_problem(record: dict[str, Any], threshold_muB: float = MOMENT_THRESHOLD_MUB_DEFAULT) -> str | None:
    """Why a record's converged moments do not show its requested p/ap pattern (None if they do).

    The apex moment (``apex_index``) and every reference moment (``reference_indices``) must
    exceed ``threshold_muB`` in magnitude; the reference moments must share one sign; ``p``
    requires sign(apex) == sign(reference), ``ap`` the opposite.
    """
    config = record["metadata"]["config"]
    apex, refs = _moments(record)
    if apex is None or refs is None:
        return "no moments (magmoms_muB, apex_index or reference_indices missing); configuration cannot be verified"
    if abs(apex) < threshold_muB:
        return f"apex moment vanished ({apex:+.2f} muB < {threshold_muB:g})"
    small = [m for m in refs if abs(m) < threshold_muB]
    if small:
        return f"reference moment vanished ({small[0]:+.2f} muB < {threshold_muB:g})"
    signs = {math.copysign(1.0, m) for m in refs}
    if len(signs) > 1:
        return "reference moments have mixed signs " + ", ".join(f"{m:+.2f}" for m in refs)
    parallel = math.copysign(1.0, apex) == signs.pop()
    if parallel != (config == "p"):
        found = "p" if parallel else "ap"
        return f"spin flip: requested {config} but converged to {found} (apex {apex:+.2f}, ref {refs[0]:+.2f} muB)"
    flipped = flipped_moments(record, threshold_muB)
    if flipped:
        return "spin flip: " + ", ".join(flipped)
    return None


def flipped_moments(record: dict[str, Any], threshold_muB: float = MOMENT_THRESHOLD_MUB_DEFAULT) -> list[str]:
    """Atoms (tip base, every surface Mn, ...) whose converged moment lost its starting sign.

    Compares ``magmoms_muB`` with the starting moments the engine recorded
    (``extra['initial_magmoms_muB']``) for every atom that started with at least
    ``threshold_muB``: a moment that changed sign or fell below the threshold is listed as
    ``"Mn5 +3.60 -> -3.41"``.  Empty when nothing flipped or no starting moments are recorded.
    """
    start = (record.get("extra") or {}).get("initial_magmoms_muB")
    final = record.get("magmoms_muB")
    if not start or final is None or len(start) != len(final):
        return []
    symbols = record.get("symbols") or ["X"] * len(final)
    out = []
    for i, (m0, m) in enumerate(zip(start, final)):
        if abs(m0) >= threshold_muB and (abs(m) < threshold_muB or m * m0 < 0):
            out.append(f"{symbols[i]}{i} {m0:+.2f} -> {m:+.2f}")
    return out


def _record_problem(record: dict[str, Any], threshold_muB: float, check_moments: bool) -> str | None:
    if not record.get("converged") or record.get("energy_eV") is None:
        return "not converged (no valid energy)"
    if check_moments:
        return configuration_problem(record, threshold_muB)
    return None


# ----------------------------------------------------------------------------- pairing


def _index_records(records: Iterable[dict[str, Any]]) -> dict[GroupKey, dict[float, dict[str, dict[str, Any]]]]:
    """group -> distance -> config -> record, rejecting conflicting duplicates."""
    table: dict[GroupKey, dict[float, dict[str, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    layers: dict[GroupKey, set[Any]] = defaultdict(set)
    campaigns: dict[GroupKey, set[Any]] = defaultdict(set)
    for i, rec in enumerate(records):
        meta = _meta(rec, i)
        key = _group_key(meta)
        d = round(float(meta["distance_A"]), DISTANCE_DECIMALS)
        layers[key].add(None if meta.get("tip_layers") is None else str(meta.get("tip_layers")))
        if meta.get("campaign") is not None:
            campaigns[key].add(meta.get("campaign"))
        slot = table[key][d]
        config = meta["config"]
        if config in slot:
            _check_duplicate(slot[config], rec, key, d, config)
            continue
        slot[config] = rec
    for key in table:
        if len(layers[key]) > 1:
            raise InputError(f"records of {_label(key)} mix tip_layers {sorted(map(str, layers[key]))}; analyse one tip geometry at a time")
        if len(campaigns[key]) > 1:
            raise InputError(f"records of {_label(key)} come from several campaigns {sorted(map(str, campaigns[key]))}; analyse one campaign at a time")
    return table


def _check_duplicate(old: dict[str, Any], new: dict[str, Any], key: GroupKey, d: float, config: str) -> None:
    e_old, e_new = old.get("energy_eV"), new.get("energy_eV")
    same = (e_old is None and e_new is None) or (
        e_old is not None and e_new is not None and abs(e_old - e_new) <= ENERGY_TOLERANCE_EV)
    if not same:
        raise InputError(f"two '{config}' records at d={d:.3f} A for {_label(key)} with different energies ({e_old} vs {e_new} eV); remove the stale one")


def _label(key: GroupKey) -> str:
    return f"surface={key[0]}, site={key[1]}, tip={key[2]}"


def _check_partners(table: dict[GroupKey, dict[float, dict[str, dict[str, Any]]]]) -> None:
    for key, by_d in table.items():
        for d, slot in sorted(by_d.items()):
            for config in CONFIGS:
                if config not in slot:
                    other = "p" if config == "ap" else "ap"
                    raise InputError(f"missing '{config}' partner of the '{other}' record at d={d:.3f} A ({_label(key)}); run or remove that point")


# ----------------------------------------------------------------------------- table


def exchange_table(
    records: Iterable[dict[str, Any]],
    d0_A: float = D0_A_DEFAULT,
    moment_threshold_muB: float = MOMENT_THRESHOLD_MUB_DEFAULT,
    check_moments: bool = True,
    single_group: bool = False,
) -> ExchangeTable:
    """Build E_ex(d), F_ex(d) per (surface, site, tip) from result-record dicts.

    Parameters
    ----------
    records
        Dicts from ``CalcResult.as_dict()`` with scan metadata (site, distance_A, config,
        apex_index, tip_indices, reference_indices, surface, tip, tip_layers).
    d0_A
        Reference distance for Δd = d − d0.
    moment_threshold_muB
        Smallest |moment| of apex and reference atoms that counts as magnetic.
    check_moments
        Verify the converged p/ap pattern (spin-flip guard).  Disable only for non-magnetic tests.
    single_group
        Require all records to belong to one (surface, site, tip) group.

    Raises
    ------
    InputError
        Missing p/ap partner, conflicting duplicates, mixed tip geometries or campaigns in one
        group, several groups with ``single_group``, or records without scan metadata.
    """
    records = list(records)
    if not records:
        raise InputError("no result records to analyse; check the campaign name or the records file")
    table = _index_records(records)
    if single_group and len(table) > 1:
        raise InputError("records from several (surface, site, tip) groups were given for one table: " + "; ".join(_label(k) for k in sorted(table)))
    _check_partners(table)
    out = ExchangeTable(d0_A=float(d0_A), moment_threshold_muB=float(moment_threshold_muB))
    for key in sorted(table):
        rows = [_make_row(key, d, slot, d0_A, moment_threshold_muB, check_moments, out.excluded)
                for d, slot in sorted(table[key].items())]
        max_diff = _finite_difference_check(rows)
        out.rows.extend(rows)
        out.groups.append({
            "surface": key[0], "site": key[1], "tip": key[2],
            "n_points": len(rows), "n_valid": sum(r["valid"] for r in rows),
            "max_fd_diff_eV_per_A": max_diff,
        })
    return out


def settings_mismatch(p: dict[str, Any], ap: dict[str, Any]) -> str | None:
    """One line naming both points if their physical settings differ (None if they agree).

    The settings are those each calculation finally ran with (``extra['physics_settings']``,
    after any recovery step such as a broader smearing), so a p point recovered with other
    physics is never subtracted from an ap point without it.
    """
    sp = (p.get("extra") or {}).get("physics_settings")
    sap = (ap.get("extra") or {}).get("physics_settings")
    if not sp or not sap:
        return None
    differ = sorted(k for k in set(sp) | set(sap) if sp.get(k) != sap.get(k))
    if not differ:
        return None
    what = ", ".join(f"{k} {sp.get(k)} vs {sap.get(k)}" for k in differ)
    return f"p {p.get('fingerprint')} and ap {ap.get('fingerprint')} ran with different physics ({what}); not paired"


def _make_row(key: GroupKey, d: float, slot: dict[str, dict[str, Any]], d0_A: float,
              threshold: float, check_moments: bool, excluded: list[dict[str, Any]]) -> dict[str, Any]:
    p, ap = slot["p"], slot["ap"]
    flags = []
    for config, rec in (("p", p), ("ap", ap)):
        problem = _record_problem(rec, threshold, check_moments)
        if problem:
            flags.append(f"{config}: {problem}")
            excluded.append({"surface": key[0], "site": key[1], "tip": key[2], "d_A": d,
                             "config": config, "reason": problem, "fingerprint": rec.get("fingerprint")})
    mismatch = None if flags else settings_mismatch(p, ap)
    if mismatch:
        flags.append(mismatch)
        excluded.append({"surface": key[0], "site": key[1], "tip": key[2], "d_A": d, "config": "p+ap",
                         "reason": mismatch, "fingerprint": f"{p.get('fingerprint')}+{ap.get('fingerprint')}"})
    valid = not flags
    f_p, f_ap = tip_force_z(p), tip_force_z(ap)
    if valid and (f_p is None or f_ap is None):
        flags.append("no tip forces (forces_eV_per_A or tip_indices missing): F_ex not available")
    e_p, e_ap = p.get("energy_eV"), ap.get("energy_eV")
    e_ex = (e_ap - e_p) if valid else None
    f_ex = (f_ap - f_p) if valid and f_p is not None and f_ap is not None else None
    m_apex_p, m_ref_p = _moments(p)
    m_apex_ap, m_ref_ap = _moments(ap)
    return {
        "surface": key[0], "site": key[1], "tip": key[2],
        "d_A": d, "delta_d_A": round(d - d0_A, DISTANCE_DECIMALS + 2),
        "E_p_eV": e_p, "E_ap_eV": e_ap,
        "E_ex_eV": e_ex, "E_ex_meV": None if e_ex is None else 1e3 * e_ex,
        "F_p_eV_per_A": f_p, "F_ap_eV_per_A": f_ap, "F_ex_eV_per_A": f_ex,
        "F_ex_fd_eV_per_A": None, "F_ex_fd_diff_eV_per_A": None,
        "m_apex_p_muB": m_apex_p, "m_apex_ap_muB": m_apex_ap,
        "m_ref_p_muB": None if m_ref_p is None else float(np.mean(m_ref_p)),
        "m_ref_ap_muB": None if m_ref_ap is None else float(np.mean(m_ref_ap)),
        "valid": valid, "flags": "; ".join(flags),
    }


def minus_derivative(d_A: np.ndarray, energy_eV: np.ndarray) -> np.ndarray:
    """−dE/dd by second-order finite differences on a (possibly non-uniform) grid.

    Central three-point formula inside, one-sided second-order formulas at the ends
    (first order if only two points).
    """
    x = np.asarray(d_A, dtype=float)
    y = np.asarray(energy_eV, dtype=float)
    if x.size < 2:
        return np.full(x.size, np.nan)
    return -np.gradient(y, x, edge_order=2 if x.size >= 3 else 1)


def _finite_difference_check(rows: list[dict[str, Any]]) -> float | None:
    """Fill F_ex_fd and its difference to F_ex on the valid rows; return the max |difference|."""
    valid = [r for r in rows if r["valid"]]
    if len(valid) < 2:
        return None
    fd = minus_derivative(np.array([r["d_A"] for r in valid]), np.array([r["E_ex_eV"] for r in valid]))
    diffs = []
    for r, value in zip(valid, fd):
        r["F_ex_fd_eV_per_A"] = float(value)
        if r["F_ex_eV_per_A"] is not None:
            r["F_ex_fd_diff_eV_per_A"] = float(r["F_ex_eV_per_A"] - value)
            diffs.append(abs(r["F_ex_fd_diff_eV_per_A"]))
    return max(diffs) if diffs else None
