"""The adsorbate campaign's table: energies, Ti Löwdin and Bader charges and moments, ΔG(Δμ_H).

From the stored records of an adsorbate campaign (:mod:`tipsurf.workflows.adsorbates`):

* one row per calculation: role, species, site, total energy, SCF/relaxation state, Ti height
  above the top MgO plane, and for the Ti atom its Löwdin valence population, net charge and
  moment (projwfc.x, the record's ``_post.lowdin``) and its Bader population, net charge and
  moment (the weight method of :mod:`tipsurf.analysis.bader` on the total and spin density cubes
  the run's pp.x post-step wrote, ``_post.density_cubes``);
* per site: the ΔG(x; Δμ_H) lines of :mod:`tipsurf.analysis.gibbs` from those energies and the
  H2 record's, the stable species per Δμ_H range and the transition temperatures at a pressure;
* the statements of the reference study (Ti/TiHx on MgO/Ag(100), DESIGN.md section 2) checked
  against them: each with ``holds`` True/False/None (not computable) and the measured numbers.

Net charges are ``z_valence − population`` (positive = electrons given away).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from tipsurf.analysis.gibbs import GibbsLines, energies_from_records, gibbs_lines, gibbs_report
from tipsurf.errors import InputError

#: Columns of ``adsorbates.csv``.
COLUMNS: tuple[str, ...] = (
    "label", "role", "species", "site", "mgo_layers", "energy_eV", "converged", "relaxed", "n_scf",
    "ti_height_A", "ti_lowdin_population_e", "ti_lowdin_net_charge_e", "ti_lowdin_moment_muB",
    "ti_bader_population_e", "ti_bader_net_charge_e", "ti_bader_moment_muB", "total_moment_muB", "walltime_s",
    "state",
)
#: The study's Ti moments (muB, DFT, 2 and 3 ML, large cells): Table 6 of the reference study.
STUDY_TI_MOMENT_MUB = {"o-top": (2.1, 2.3), "bridge": (0.9, 1.3)}
#: |Δμ_H| (eV) below which "Δμ_H ≈ 0" is taken, and the Δμ_H (eV) taken as "hydrogen scarce".
DMU_NEAR_ZERO_EV = 0.05
DMU_SCARCE_EV = -1.0


def ti_index(record: dict[str, Any]) -> int | None:
    """Index of the (one) Ti atom of a record, or None."""
    symbols = list(record.get("symbols") or [])
    found = [i for i, s in enumerate(symbols) if s == "Ti"]
    return found[0] if len(found) == 1 else None


def _lowdin(record: dict[str, Any], i: int, z_val: float | None) -> dict[str, float | None]:
    data = ((record.get("_post") or {}).get("lowdin")) or {}
    charges, moments = data.get("charges_e") or [], data.get("moments_muB") or []
    pop = float(charges[i]) if i < len(charges) and charges[i] is not None else None
    mom = float(moments[i]) if i < len(moments) and moments[i] is not None else None
    return {"ti_lowdin_population_e": pop, "ti_lowdin_moment_muB": mom,
            "ti_lowdin_net_charge_e": None if pop is None or z_val is None else z_val - pop}


def bader_of_record(record: dict[str, Any], valences: dict[str, float] | None = None) -> Any:
    """Bader analysis on the density cubes of a record's ``_post.density_cubes`` post-step.

    Raises
    ------
    InputError
        The record has no density cubes (post-step not run or failed).
    """
    from tipsurf.analysis.bader import bader_analysis
    from tipsurf.analysis.volumetric import read_cube_pair

    cubes = (record.get("_post") or {}).get("density_cubes")
    if not cubes or not cubes[0] or not Path(cubes[0]).is_file():
        raise InputError(f"record {record.get('fingerprint')} has no density cubes (the pp.x post-step did not run)")
    grid = read_cube_pair(cubes[0], cubes[1] if len(cubes) > 1 else None)
    return bader_analysis(grid, valences=valences)


def _bader(record: dict[str, Any], i: int, z_val: float | None) -> dict[str, float | None]:
    try:
        result = bader_of_record(record)
    except InputError:
        return {"ti_bader_population_e": None, "ti_bader_net_charge_e": None, "ti_bader_moment_muB": None}
    pop = float(result.charge_e[i])
    mom = None if result.moment_muB is None else float(result.moment_muB[i])
    return {"ti_bader_population_e": pop, "ti_bader_moment_muB": mom,
            "ti_bader_net_charge_e": None if z_val is None else z_val - pop}


def _ti_height_A(record: dict[str, Any], i: int | None) -> float | None:
    positions, symbols = record.get("positions_A"), record.get("symbols") or []
    if i is None or not positions:
        return None
    z = np.asarray(positions, float)[:, 2]
    o_z = [z[j] for j, s in enumerate(symbols) if s == "O"]
    return float(z[i] - max(o_z)) if o_z else None


def point_label(metadata: dict[str, Any]) -> str:
    """``TiH2@o-top``, ``H2`` or ``slab`` from a point's metadata."""
    species, site = metadata.get("species"), metadata.get("site")
    kind = metadata.get("kind") or metadata.get("role")
    return f"{species}@{site}" if species and site else (species or ("slab" if kind in ("surface", "slab") else str(kind)))


def record_row(record: dict[str, Any], z_valence: dict[str, float] | None = None) -> dict[str, Any]:
    """One table row of a stored record (see :data:`COLUMNS`)."""
    meta = record.get("metadata") or {}
    i = ti_index(record)
    z_ti = (z_valence or {}).get("Ti")
    species, site = meta.get("species"), meta.get("site")
    kind = meta.get("kind") or meta.get("role")
    row: dict[str, Any] = {
        "label": point_label(meta), "role": meta.get("role") or kind, "species": species, "site": site,
        "mgo_layers": meta.get("mgo_layers"), "energy_eV": record.get("energy_eV"),
        "converged": bool(record.get("converged")), "relaxed": bool(record.get("converged")),
        "n_scf": record.get("n_scf"), "ti_height_A": _ti_height_A(record, i),
        "total_moment_muB": record.get("total_magnetization_muB"), "walltime_s": record.get("walltime_s"),
        "state": "done" if record.get("converged") else "not converged",
    }
    if i is not None:
        row.update(_lowdin(record, i, z_ti))
        row.update(_bader(record, i, z_ti))
    return row


def unfinished_row(point: dict[str, Any]) -> dict[str, Any]:
    """A table row for a campaign point without a converged record: no energy, its state and why.

    ``point`` is ``{metadata, state, reason}`` (a point of the campaign status, plus the failure
    line the run reported).
    """
    meta = point.get("metadata") or {}
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    reason = point.get("reason")
    row.update({"label": point_label(meta), "role": meta.get("role") or meta.get("kind"), "species": meta.get("species"),
                "site": meta.get("site"), "mgo_layers": meta.get("mgo_layers"), "converged": False, "relaxed": False,
                "state": f"{point.get('state') or 'failed'}" + (f": {reason}" if reason else "")})
    return row


def site_gibbs(
    records: Sequence[dict[str, Any]], temperature_K: float, pressure_Pa: float,
) -> tuple[dict[str, GibbsLines], list[dict[str, Any]], list[str]]:
    """ΔG lines and their reports per (site, MgO thickness) group, from the records' own energies.

    A group whose bare Ti point has no converged energy gets no ΔG (every line is referenced to
    E[Ti/slab]); the third item says which groups were left out and why, so one failed point
    costs its own site's ΔG, not the whole table.
    """
    lines: dict[str, GibbsLines] = {}
    reports: list[dict[str, Any]] = []
    groups = energies_from_records(records, allow_missing=True)
    if not groups:
        return lines, reports, ["no ΔG: no converged adsorbate record in the campaign"]
    skipped = []
    for label, energies in sorted(groups.items()):
        if "H2" not in energies:
            skipped.append(f"no ΔG for {label}: the H2 molecule has no converged energy (ΔG needs E[H2])")
            continue
        if "Ti" not in energies:
            skipped.append(f"no ΔG for {label}: its bare Ti point has no converged energy (ΔG is referenced to E[Ti/slab])")
            continue
        gl = gibbs_lines(energies, label=label)
        lines[label] = gl
        reports.append(gibbs_report(gl, temperature_K, pressure_Pa))
    return lines, reports, skipped


def _moment(row: dict[str, Any]) -> float | None:
    for key in ("ti_bader_moment_muB", "ti_lowdin_moment_muB"):
        if row.get(key) is not None:
            return abs(float(row[key]))
    return None


def study_comparison(rows: Iterable[dict[str, Any]], lines: dict[str, GibbsLines]) -> list[dict[str, Any]]:
    """The reference study's statements against this campaign: ``[{claim, holds, measured}]``.

    ``holds`` is None where the campaign lacks what the claim needs (e.g. no bridge site).
    """
    rows = list(rows)
    bare = {r["site"]: r for r in rows if r.get("site") and r.get("species") == "Ti" and r.get("converged")}
    out = []
    top, bridge = (_moment(bare[s]) if s in bare else None for s in ("o-top", "bridge"))
    measured = f"|m_Ti| O-top {_fmt(top)} muB, bridge {_fmt(bridge)} muB (Bader, else Löwdin)"
    out.append({"claim": "Ti moment larger on O-top than on bridge (study: 2.1-2.3 vs 0.9-1.3 muB)",
                "holds": None if top is None or bridge is None else top > bridge, "measured": measured})
    for claim, dmu, want in (("TiH2 favoured at dmu_H ~ 0", 0.0, "TiH2"),
                             (f"bare Ti stable when H is scarce (dmu_H = {DMU_SCARCE_EV:g} eV)", DMU_SCARCE_EV, "Ti")):
        stable = {label: gl.stable_at(dmu) for label, gl in lines.items()}
        holds = None
        if stable and all(want in gl.species for gl in lines.values()):
            holds = all(s == want for s in stable.values())
        out.append({"claim": claim, "holds": holds,
                    "measured": "; ".join(f"{label}: {s}" for label, s in stable.items()) or "no ΔG lines"})
    return out


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def adsorbate_report(
    records: Sequence[dict[str, Any]], *, z_valence: dict[str, float] | None = None,
    temperature_K: float = 1.0, pressure_Pa: float = 1e-8, unfinished: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Rows, ΔG per site and the study comparison of an adsorbate campaign (JSON-ready).

    Parameters
    ----------
    records
        The campaign's stored records (with ``_post`` post-step outputs).
    unfinished
        Campaign points that did not finish (``{metadata, state, reason}``): they get a row
        with no energy and their state, and a site whose bare Ti point is among them gets no ΔG.
    z_valence
        Valence electrons per element of the pseudopotentials (net charges need Ti's).
    temperature_K, pressure_Pa
        Where Δμ_H(T, p) is evaluated and the pressure of the temperature transitions.
    """
    rows = [record_row(r, z_valence) for r in records]
    have = {(r["label"], r["mgo_layers"]) for r in rows if r["converged"]}
    for point in unfinished:
        row = unfinished_row(point)
        if (row["label"], row["mgo_layers"]) not in have:
            rows.append(row)
    lines, reports, skipped = site_gibbs(records, temperature_K, pressure_Pa)
    return {"rows": rows, "gibbs": reports, "gibbs_skipped": skipped, "comparison": study_comparison(rows, lines),
            "formula": "dG(x) = E[TiHx/slab] - E[Ti/slab] - x (E[H2]/2 + dmu_H)",
            "net_charge": "z_valence - population (positive: electrons given away)",
            "_lines": lines}


def write_adsorbate_report(report: dict[str, Any], output_dir: str | Path, notes: Sequence[str] = ()) -> list[Path]:
    """``adsorbates.csv``, ``adsorbates.json`` and one ``phase_<site>.png`` per ΔG group."""
    from tipsurf.analysis.export import write_csv, write_json
    from tipsurf.analysis.plots import plot_gibbs

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_csv(out / "adsorbates.csv", report["rows"], COLUMNS)]
    data = {k: v for k, v in report.items() if not k.startswith("_")}
    written.append(write_json(out / "adsorbates.json", {**data, "notes": list(notes)}))
    for rep in report["gibbs"]:
        slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in rep["label"]).strip("_")
        written.append(plot_gibbs(report["_lines"][rep["label"]], out / f"phase_{slug}.png", rep["pressure_Pa"],
                                  marked_dmu_eV=rep["delta_mu_H_eV"]))
    return written
