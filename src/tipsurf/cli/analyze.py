"""Analysis commands: ``analyze exchange``, ``analyze gibbs``, ``fit exchange``, ``esr-map``, ``sader-jarvis``.

Every command computes everything first and writes its files only when nothing failed, so a
user error leaves no output behind (one-line ``error: ...``, non-zero exit).

Defaults of ``analyze gibbs``: T = 1.0 K and p = 1e-8 Pa, the conditions of the reference
ESR-STM experiments (sample at 0.4–1.2 K in ultra-high vacuum).  There Δμ_H ≈ −1 meV, i.e. the
"hydrogen from gas-phase H2" limit Δμ_H ≈ 0 discussed in the reference study; the JSON always
lists the full stability ranges along Δμ_H and the transition temperatures at the chosen p, so
other conditions can be read off without re-running.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import typer

from tipsurf.analysis.esr import CONTACT_DISTANCE_A, MEASURABLE_F0_GHZ, STUDY_B_EXT_T, STUDY_Z_ABOVE_CONTACT_A
from tipsurf.cli import analyze_app, app, fit_app
from tipsurf.errors import InputError

GIBBS_T_DEFAULT_K = 1.0
GIBBS_P_DEFAULT_PA = 1e-8


# ----------------------------------------------------------------------------- helpers


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None


def _records_from_file(path: Path) -> list[dict[str, Any]]:
    data = _read_json(path, "records file")
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InputError(f"records file {path} must hold a JSON list of result records (CalcResult.as_dict())")
    return data


def _records_from_db(name: str, launchpad: Optional[str]) -> list[dict[str, Any]]:
    try:
        from tipsurf.workflows.store import load_campaign_records
    except ImportError:
        raise InputError("the campaign database is not available in this installation (tipsurf.workflows.store); use --records FILE.json") from None
    return load_campaign_records(name, launchpad=launchpad)


def _load_records(name: Optional[str], records: Optional[Path], launchpad: Optional[str]) -> list[dict[str, Any]]:
    if (name is None) == (records is None):
        raise InputError("give exactly one of --name CAMPAIGN or --records FILE.json")
    return _records_from_file(records) if records is not None else _records_from_db(name, launchpad)


def _numbers(text: str, option: str, count: int, form: str) -> tuple[float, ...]:
    """``count`` comma-separated numbers of an option (InputError naming the ``form`` otherwise)."""
    try:
        parts = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        parts = []
    if len(parts) != count:
        raise InputError(f"{option} {text!r}: give {form}")
    return tuple(parts)


def _vector(text: str, option: str) -> tuple[float, float, float]:
    x, y, z = _numbers(text, option, 3, "three comma-separated numbers x,y,z")
    return x, y, z


def _pair(text: str, option: str) -> tuple[float, float]:
    lo, hi = _numbers(text, option, 2, "two comma-separated numbers LO,HI")
    return lo, hi


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "all"


def _print_flags(table: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table(title="exchange groups")
    for col in ("surface", "site", "tip", "points", "valid", "max |F_ex + dE_ex/dd| (eV/A)"):
        summary.add_column(col)
    for g in table["groups"]:
        diff = g["max_fd_diff_eV_per_A"]
        summary.add_row(g["surface"], g["site"], g["tip"], str(g["n_points"]), str(g["n_valid"]),
                        "-" if diff is None else f"{diff:.4f}")
    console.print(summary)
    flagged = [r for r in table["rows"] if r["flags"]]
    if flagged:
        flags = Table(title="flagged points (excluded from E_ex/F_ex unless only forces are missing)")
        for col in ("site", "tip", "d_A", "flags"):
            flags.add_column(col)
        for r in flagged:
            flags.add_row(r["site"], r["tip"], f"{r['d_A']:.3f}", r["flags"])
        console.print(flags)


# ----------------------------------------------------------------------------- analyze exchange


@analyze_app.command("exchange")
def exchange_command(
    name: Optional[str] = typer.Option(None, "--name", help="Campaign name in the workflows database."),
    records: Optional[Path] = typer.Option(None, "--records", help="JSON list of result records instead of --name."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder (exchange.csv, exchange.json, exchange.png)."),
    d0_A: float = typer.Option(5.0, "--d0-A", help="Reference distance d0 (A) of delta_d = d - d0."),
    moment_threshold_muB: float = typer.Option(0.5, "--moment-threshold-muB", help="Smallest |moment| (muB) of apex/reference counted as magnetic."),
    launchpad: Optional[str] = typer.Option(None, "--launchpad", help="Launchpad file or URI (default: configured one)."),
) -> None:
    """Exchange energy E_ex = E_ap - E_p and force F_ex = F_ap - F_p per (surface, site, tip)."""
    from tipsurf.analysis.report import write_exchange_report

    recs = _load_records(name, records, launchpad)
    if name is not None:  # a stored scan also holds its slab and tip computed alone (and relaxations)
        from tipsurf.workflows.scan import scan_point_records

        recs = scan_point_records(recs)
    table, _ = write_exchange_report(recs, output, d0_A=d0_A, moment_threshold_muB=moment_threshold_muB)
    _print_flags(table)
    typer.echo(f"{len(table['rows'])} distances, {len(table['excluded'])} excluded record(s); written {output}/exchange.csv, exchange.json, exchange.png")


# ----------------------------------------------------------------------------- analyze gibbs


def _energy_groups(data: Any, path: Path) -> dict[str, dict[str, float]]:
    if not isinstance(data, dict) or not data:
        raise InputError(f"energies file {path} must map species (Ti, TiH, ..., H2) to total energies in eV")
    if all(isinstance(v, dict) for k, v in data.items() if k != "H2"):
        h2 = data.get("H2")
        groups = {}
        for label, energies in data.items():
            if label == "H2":
                continue
            merged = dict(energies)
            if "H2" not in merged and h2 is not None:
                merged["H2"] = h2
            groups[label] = merged
        return groups
    return {path.stem: data}


@analyze_app.command("gibbs")
def gibbs_command(
    name: Optional[str] = typer.Option(None, "--name", help="Adsorbate campaign in the workflows database."),
    energies: Optional[Path] = typer.Option(None, "--energies", help="JSON {Ti: E, TiH: E, ..., H2: E} in eV (or {label: {...}, H2: E})."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder (gibbs.json, gibbs_<label>.png)."),
    temperature_K: float = typer.Option(GIBBS_T_DEFAULT_K, "--temperature", "--temperature-K", help="Temperature (K), 0.1-1000. Default: 1 K (ESR-STM conditions)."),
    pressure_Pa: float = typer.Option(GIBBS_P_DEFAULT_PA, "--pressure", "--pressure-Pa", help="H2 partial pressure (Pa). Default: 1e-8 Pa (UHV)."),
    corrections: Optional[Path] = typer.Option(None, "--corrections", help="JSON {species: eV} added to the energies (ZPE, vibrations)."),
    source: str = typer.Option("auto", "--thermo", help="H2 thermochemistry: auto (JANAF, ideal gas below 100 K), janaf, statmech."),
    launchpad: Optional[str] = typer.Option(None, "--launchpad", help="Launchpad file or URI (with --name)."),
) -> None:
    """Gibbs free energy of hydrogenation dG(x; dmu_H) of Ti/TiHx: stable species and transitions."""
    from tipsurf.analysis.export import write_json
    from tipsurf.analysis.gibbs import energies_from_records, gibbs_lines, gibbs_report
    from tipsurf.analysis.plots import plot_gibbs

    if (name is None) == (energies is None):
        raise InputError("give exactly one of --name CAMPAIGN or --energies FILE.json")
    if energies is not None:
        groups = _energy_groups(_read_json(energies, "energies file"), energies)
    else:
        groups = energies_from_records(_records_from_db(name, launchpad))
    corr = _read_json(corrections, "corrections file") if corrections is not None else None
    if corr is not None and not isinstance(corr, dict):
        raise InputError(f"corrections file {corrections} must map species to eV")
    reports, lines_by_label = [], {}
    for label, group in sorted(groups.items()):
        lines = gibbs_lines(group, corr, label=label)
        lines_by_label[label] = lines
        reports.append(gibbs_report(lines, temperature_K, pressure_Pa, source))
    result = {"formula": "dG(x) = E[TiHx/slab] - E[Ti/slab] - x (E[H2]/2 + dmu_H)",
              "thermo_reference": "NIST-JANAF Thermochemical Tables, 4th ed. (Chase 1998); ideal-gas H2 below 100 K",
              "groups": reports}
    write_json(output / "gibbs.json", result)
    for rep in reports:
        plot_gibbs(lines_by_label[rep["label"]], output / f"gibbs_{_slug(rep['label'])}.png", pressure_Pa,
                   marked_dmu_eV=rep["delta_mu_H_eV"], source=source)
        tr = ", ".join(f"{t['from']}->{t['to']} at {t['delta_mu_H_eV']:+.3f} eV" for t in rep["transitions"]) or "none"
        typer.echo(f"[{rep['label']}] dmu_H({temperature_K:g} K, {pressure_Pa:g} Pa) = {rep['delta_mu_H_eV']:+.4f} eV; "
                   f"stable: {rep['stable_species']}; transitions: {tr}; never stable: {', '.join(rep['never_stable']) or 'none'}")
    typer.echo(f"written {output}/gibbs.json")


# ----------------------------------------------------------------------------- fit exchange


@fit_app.command("exchange")
def fit_exchange_command(
    table: Path = typer.Argument(..., help="exchange.csv written by 'tipsurf analyze exchange'."),
    output: Path = typer.Option(..., "-o", "--output", help="Output JSON file."),
    site: Optional[str] = typer.Option(None, "--site", help="Select one site if the table holds several."),
    tip: Optional[str] = typer.Option(None, "--tip", help="Select one tip (apex element)."),
    surface: Optional[str] = typer.Option(None, "--surface", help="Select one surface."),
    d_min_A: Optional[float] = typer.Option(None, "--d-min", "--d-min-A", help="Smallest d (A) to fit."),
    d_max_A: Optional[float] = typer.Option(None, "--d-max", "--d-max-A", help="Largest d (A) to fit."),
) -> None:
    """Exponential fit J(d) = J0 exp(-d/lambda) of E_ex (and F_ex) with uncertainties, as JSON."""
    from tipsurf.analysis.export import read_csv_rows, write_json
    from tipsurf.analysis.fits import fit_exchange_rows

    rows = read_csv_rows(table, required=("d_A", "E_ex_eV"))
    rows = [r for r in rows
            if (site is None or str(r.get("site")) == site) and (tip is None or str(r.get("tip")) == tip)
            and (surface is None or str(r.get("surface")) == surface)]
    if not rows:
        raise InputError(f"no rows of {table} match the selection (--site/--tip/--surface)")
    result = fit_exchange_rows(rows, d_min_A, d_max_A)
    result["source_table"] = str(table)
    write_json(output, result)
    e = result["E_ex"]
    typer.echo(f"E_ex: J0 = {e['J0']:.4g} +- {e['J0_err']:.2g} eV, lambda = {e['lambda_A']:.4f} +- {e['lambda_err_A']:.4f} A "
               f"({e['n_points']} points); written {output}")


# ----------------------------------------------------------------------------- esr-map


@app.command("esr-map")
def esr_map_command(
    output: Path = typer.Option(..., "-o", "--output", help="Output folder (esr_map.npz, esr_map.json, esr_map.png)."),
    mode: str = typer.Option("dipolar", "--mode", help="Tip field: dipolar or exchange."),
    height_A: Optional[float] = typer.Option(None, "--height-A", help="Tip-spin to atom distance (A); default --z-A + --contact-distance-A."),
    z_A: float = typer.Option(STUDY_Z_ABOVE_CONTACT_A, "--z-A", help="Tip height above point contact (A); default the ESR-STM study's (Fig. 2)."),
    contact_distance_A: float = typer.Option(CONTACT_DISTANCE_A, "--contact-distance-A", help="Tip-atom centre distance at point contact (A); default Fe-Ti in FeTi."),
    extent_A: float = typer.Option(10.0, "--extent-A", help="Side of the square scan (A)."),
    points: int = typer.Option(101, "--points", help="Grid points per side."),
    B_ext_T: str = typer.Option(",".join(f"{b:g}" for b in STUDY_B_EXT_T), "--B-ext-T", help="External field x,y,z (T); default the ESR-STM study's (Fig. 1a)."),
    g: float = typer.Option(2.0, "--g", help="g-factor of the surface spin."),
    tip_moment_muB: Optional[str] = typer.Option(None, "--tip-moment-muB", help="Tip magnetic moment x,y,z (muB); default 0,0,2."),
    tip_spin: Optional[str] = typer.Option(None, "--tip-spin", help="Tip spin x,y,z instead (moment = -g_tip * spin)."),
    g_tip: float = typer.Option(2.0, "--g-tip", help="Tip g-factor (with --tip-spin)."),
    fit: Optional[Path] = typer.Option(None, "--fit", help="Fit JSON from 'tipsurf fit exchange' (exchange mode: J0, lambda)."),
    J0_eV: Optional[float] = typer.Option(None, "--J0-eV", help="Exchange prefactor J0 (eV) without --fit."),
    lambda_A: Optional[float] = typer.Option(None, "--lambda-A", help="Exchange decay length (A) without --fit."),
    J_scale: float = typer.Option(1.0, "--J-scale", help="Factor applied to J(r); with --fit, J = -J_scale * E_ex(r) (spin-1/2 atom mapping)."),
    spread_A: float = typer.Option(0.0, "--spread-A", help="Gaussian spread (sigma, A) of the tip moment."),
    f_drive_GHz: Optional[float] = typer.Option(None, "--f-drive-GHz", help="Driving frequency (GHz) for the resonant slice."),
    linewidth_GHz: float = typer.Option(0.05, "--linewidth-GHz", help="Resonance half-width (GHz)."),
    f_range_GHz: str = typer.Option(",".join(f"{f:g}" for f in MEASURABLE_F0_GHZ), "--f-range-GHz", help="f0 range LO,HI (GHz) an ESR-STM experiment measures; outside it: a warning."),
) -> None:
    """ESR-STM resonance-frequency map f0(x, y) at one tip height and the resonant slice.

    Defaults follow the ESR-STM study (seed 000, Willke et al. 2019; see :mod:`tipsurf.analysis.esr`):
    B = (0.9, 0, 0.1) T (Fig. 1a) and the tip 2.4 A above point contact (Fig. 2a, c), i.e.
    2.4 + 2.58 = 4.98 A from the atom (2.58 A: assumed contact distance, Fe-Ti in FeTi).
    """
    import numpy as np

    from tipsurf.analysis.esr import EsrModel, exchange_mapping_note, measurability, moment_from_spin, resonance_map, resonant_slice
    from tipsurf.analysis.export import write_json, write_npz
    from tipsurf.analysis.fits import ExponentialFit
    from tipsurf.analysis.plots import plot_esr_map

    if tip_moment_muB is not None and tip_spin is not None:
        raise InputError("give --tip-moment-muB or --tip-spin, not both")
    f_range = _pair(f_range_GHz, "--f-range-GHz")
    if height_A is None:
        if not z_A > 0 or not contact_distance_A > 0:
            raise InputError(f"--z-A {z_A} and --contact-distance-A {contact_distance_A} must be positive (A)")
        height = z_A + contact_distance_A
        height_note = f"{z_A:g} A above point contact + {contact_distance_A:g} A contact distance"
    else:
        height, height_note = height_A, "given (--height-A)"
    moment = (_vector(tip_moment_muB, "--tip-moment-muB") if tip_moment_muB is not None
              else tuple(moment_from_spin(_vector(tip_spin, "--tip-spin"), g_tip)) if tip_spin is not None else (0.0, 0.0, 2.0))
    model = EsrModel(mode=mode, B_ext_T=_vector(B_ext_T, "--B-ext-T"), g=g, tip_moment_muB=tuple(float(m) for m in moment),
                     spread_A=spread_A)
    fit_range = None
    if mode == "exchange":
        if fit is not None:
            data = _read_json(fit, "fit file")
            ef = ExponentialFit.from_dict(data.get("E_ex", data) if isinstance(data, dict) else data)
            # Spin-1/2 atom: E_p = +J/2, E_ap = -J/2, so J = -E_ex (see tipsurf.analysis.esr).
            model.J0_eV, model.lambda_A = -float(ef.J_ref * np.exp(ef.d_ref_A / ef.lambda_A)), float(ef.lambda_A)
            fit_range = (float(ef.d_min_A), float(ef.d_max_A)) if getattr(ef, "d_min_A", None) is not None else None
        elif J0_eV is not None and lambda_A is not None:
            model.J0_eV, model.lambda_A = J0_eV, lambda_A
        else:
            raise InputError("exchange mode needs --fit FILE or both --J0-eV and --lambda-A")
        model.J0_eV *= J_scale
    result = resonance_map(model, height, extent_A, points)
    if mode == "exchange":
        r_max = float(np.sqrt(height**2 + 2 * (extent_A / 2) ** 2))
        mapping = exchange_mapping_note("fit" if fit is not None else "given", J_scale, model.J0_eV, model.lambda_A,
                                        (height, r_max), fit_range)
    else:
        mapping = (f"dipolar mapping: B_tip = point-dipole field of the tip moment {list(model.tip_moment_muB)} muB"
                   f"{f' spread over sigma = {spread_A:g} A' if spread_A > 0 else ''}; the adatom spin follows B + B_tip")
    check = measurability(result["f0_GHz"], result["B_tip_T"], model.B_ext_T, f_range)
    mask = resonant_slice(result["f0_GHz"], f_drive_GHz, linewidth_GHz) if f_drive_GHz is not None else None
    summary = {"model": result["model"], "height_A": height, "height_note": height_note, "extent_A": extent_A, "points": points,
               "f0_min_GHz": float(result["f0_GHz"].min()), "f0_max_GHz": float(result["f0_GHz"].max()),
               "f_drive_GHz": f_drive_GHz, "linewidth_GHz": linewidth_GHz,
               "resonant_fraction": None if mask is None else float(mask.mean()),
               "moment_convention": "tip_moment_muB is the magnetic moment; a spin S gives m = -g_tip S",
               "mapping": mapping, **check,
               "defaults_source": "B_ext_T and z_A default to the ESR-STM study (seed 000, Willke et al. 2019): "
                                  "Bx = 0.9 T, Bz = 0.1 T (Fig. 1a), 2.4 A above point contact (Fig. 2a, c)"}
    arrays = {"x_A": result["x_A"], "y_A": result["y_A"], "f0_GHz": result["f0_GHz"], "B_tip_T": result["B_tip_T"]}
    if mask is not None:
        arrays["resonant"] = mask
    write_npz(output / "esr_map.npz", **arrays)
    write_json(output / "esr_map.json", summary)
    plot_esr_map(result, output / "esr_map.png", mask)
    typer.echo(mapping)
    if check["warning"]:
        typer.echo(f"warning: {check['warning']}", err=True)
    typer.echo(f"f0 from {summary['f0_min_GHz']:.4f} to {summary['f0_max_GHz']:.4f} GHz at {height:.3g} A ({height_note}); "
               f"written {output}/esr_map.npz, esr_map.json, esr_map.png")


# ----------------------------------------------------------------------------- sader-jarvis


@app.command("sader-jarvis")
def sader_jarvis_command(
    table: Path = typer.Argument(..., help="CSV with columns z_m, df_Hz."),
    amplitude_m: float = typer.Option(..., "--amplitude-m", help="Oscillation amplitude A (m)."),
    stiffness_N_per_m: float = typer.Option(..., "--stiffness-N-per-m", help="Cantilever stiffness k (N/m)."),
    f0_Hz: float = typer.Option(..., "--f0-Hz", help="Free resonance frequency f0 (Hz)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output file (.csv with z_m, F_N, or .json)."),
) -> None:
    """Force F(z) from a frequency-shift curve (Sader & Jarvis 2004)."""
    from tipsurf.analysis.export import read_csv_rows, write_csv, write_json
    from tipsurf.analysis.sader_jarvis import sader_jarvis_force

    rows = read_csv_rows(table, required=("z_m", "df_Hz"))
    try:
        z = [float(r["z_m"]) for r in rows]
        df = [float(r["df_Hz"]) for r in rows]
    except (TypeError, ValueError):
        raise InputError(f"table {table}: every z_m and df_Hz must be a number") from None
    zs, force = sader_jarvis_force(z, df, amplitude_m, stiffness_N_per_m, f0_Hz)
    out_rows = [{"z_m": float(a), "F_N": float(b)} for a, b in zip(zs, force)]
    if output.suffix.lower() == ".json":
        write_json(output, {"amplitude_m": amplitude_m, "stiffness_N_per_m": stiffness_N_per_m, "f0_Hz": f0_Hz,
                            "method": "Sader & Jarvis, Appl. Phys. Lett. 84, 1801 (2004)", "rows": out_rows})
    else:
        write_csv(output, out_rows, ("z_m", "F_N"))
    typer.echo(f"{len(out_rows)} points; written {output}")
