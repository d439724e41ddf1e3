"""``tipsurf analyze …``, ``fit exchange`` and ``sader-jarvis`` as Python functions.

Part of :mod:`tipsurf.api` (the command table is there).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tipsurf.api.structures import PathLike, Record
from tipsurf.errors import InputError


#: ``tipsurf analyze gibbs`` defaults: the ESR-STM conditions (sample at ~1 K, UHV).
GIBBS_TEMPERATURE_K = 1.0
GIBBS_PRESSURE_PA = 1e-8


# ----------------------------------------------------------------------------- analysis


def _records_of(source: str | Iterable[Mapping[str, Any]], what: str, launchpad: PathLike | None,
                project_dir: PathLike | None) -> list[Record]:
    if isinstance(source, str):
        from tipsurf.workflows.store import load_campaign_records

        return load_campaign_records(source, launchpad=launchpad, project_dir=project_dir)
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise InputError(f"{what} must be a campaign name or a list of result records, got {type(source).__name__}")
    records = list(source)
    if not all(isinstance(r, Mapping) for r in records):
        raise InputError(f"{what} must be a list of result-record dicts (CalcResult.as_dict())")
    return [dict(r) for r in records]


def analyze_exchange(
    source: str | Iterable[Mapping[str, Any]],
    *,
    d0_A: float = 5.0,
    moment_threshold_muB: float = 0.5,
    output_dir: PathLike | None = None,
    launchpad: PathLike | None = None,
    project_dir: PathLike | None = None,
) -> Record:
    """E_ex(d) = E_ap − E_p and F_ex(d) = F_ap − F_p per (surface, site, tip) (``tipsurf analyze exchange``).

    Parameters
    ----------
    source
        Campaign name, or result records (e.g. from :func:`load_records`).  A scan's
        pre-steps (slab and tip alone, relaxations) are left out either way.
    d0_A
        Reference distance of Δd = d − d0 (Å).
    moment_threshold_muB
        Smallest |moment| of apex and reference atoms counted as magnetic (spin-flip guard).
    output_dir
        If given, also write ``exchange.csv``, ``exchange.json`` and ``exchange.png`` there.

    Returns
    -------
    dict
        ``rows`` (one per distance: ``d_A``, ``delta_d_A``, ``E_ex_eV``, ``E_ex_meV``,
        ``F_ex_eV_per_A``, moments, ``valid``, ``flags``; ``None`` in the exchange columns of
        an invalid point), ``groups``, ``excluded``, ``checks`` (decay, decay length, F_ex
        against −dE_ex/dd, sign) and the settings.

    Raises
    ------
    InputError
        No records, a missing p/ap partner, conflicting duplicates, unknown campaign.
    """
    from tipsurf.analysis.report import exchange_report, write_exchange_report
    from tipsurf.workflows.scan import scan_point_records

    records = scan_point_records(_records_of(source, "the exchange source", launchpad, project_dir))
    if output_dir is not None:
        return write_exchange_report(records, output_dir, d0_A=d0_A, moment_threshold_muB=moment_threshold_muB)[0]
    return exchange_report(records, d0_A=d0_A, moment_threshold_muB=moment_threshold_muB)


def fit_exchange(table: Mapping[str, Any] | Sequence[Mapping[str, Any]] | PathLike, *, site: str | None = None,
                 tip: str | None = None, surface: str | None = None, d_min_A: float | None = None,
                 d_max_A: float | None = None) -> Record:
    """Exponential fit J(d) = J0 exp(−d/λ) of E_ex (and F_ex) with uncertainties (``tipsurf fit exchange``).

    Parameters
    ----------
    table
        The dict of :func:`analyze_exchange`, its ``rows``, or an ``exchange.csv`` file.
    site, tip, surface
        Select one group if the table holds several.
    d_min_A, d_max_A
        Distance range to fit (Å).

    Returns
    -------
    dict
        ``E_ex`` (``J0``, ``J0_err``, ``lambda_A``, ``lambda_err_A``, ``n_points`` ...) and
        ``F_ex`` when forces are there.
    """
    from tipsurf.analysis.fits import fit_exchange_rows

    if isinstance(table, (str, os.PathLike)):
        from tipsurf.analysis.export import read_csv_rows

        rows = read_csv_rows(Path(table), required=("d_A", "E_ex_eV"))
    elif isinstance(table, Mapping):
        rows = list(table.get("rows") or [])
    else:
        rows = [dict(r) for r in table]
    rows = [r for r in rows if (site is None or str(r.get("site")) == site) and (tip is None or str(r.get("tip")) == tip)
            and (surface is None or str(r.get("surface")) == surface)]
    if not rows:
        raise InputError("no rows of the exchange table match the selection (site/tip/surface)")
    return fit_exchange_rows(rows, d_min_A, d_max_A)


def analyze_bader(
    paths: PathLike | Sequence[PathLike],
    *,
    reference: Sequence[PathLike] | None = None,
    valences: Mapping[str, float] | None = None,
    vacuum_e_per_bohr3: float | None = 1e-3,
    work_dir: PathLike | None = None,
    output: PathLike | None = None,
) -> Record:
    """Bader charges, moments and volumes per atom (weight method; ``tipsurf analyze bader``).

    Parameters
    ----------
    paths
        A VASP CHGCAR; ``total.cube`` (and ``spin.cube``) from pp.x; or a finished QE
        calculation folder (pp.x then writes the two cubes into ``work_dir``).
    reference
        Densities to partition on, e.g. ``["AECCAR0", "AECCAR2"]`` (VASP PAW).
    valences
        Valence electrons per element (``{"Ti": 12, "O": 6}``) for net charges.
    vacuum_e_per_bohr3
        Density below which a point is vacuum (e/bohr³); None or 0: no vacuum.
    work_dir
        pp.x folder for a QE calculation (default ``<calc>/density_pp``).
    output
        If given, also write the result as ``.json`` or ``.csv``.

    Returns
    -------
    dict
        ``atoms`` (``index``, ``symbol``, ``charge_e``, ``net_charge_e``, ``moment_muB``,
        ``volume_A3``), vacuum totals, ``n_maxima``, ``meta``.
    """
    from tipsurf.analysis.bader import bader_analysis
    from tipsurf.analysis.volumetric import read_bader_inputs
    from tipsurf.api.volumetric import bader_density_files

    if output is not None and Path(output).suffix.lower() not in (".json", ".csv"):
        raise InputError(f"output file {output} must end in .json or .csv")
    files = bader_density_files([paths] if isinstance(paths, (str, os.PathLike)) else list(paths), work_dir)
    grid, ref = read_bader_inputs(files, reference=[Path(p) for p in reference] if reference else None)
    result = bader_analysis(grid, reference_e_per_A3=ref, valences=dict(valences) if valences else None,
                            vacuum_threshold_e_per_bohr3=vacuum_e_per_bohr3 or None)
    if output is not None:
        result.write(output)
    return result.as_dict()


def _gibbs_groups(energies: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{species: E}`` (one group) or ``{label: {species: E}, "H2": E}`` (shared H2)."""
    nested = {k: v for k, v in energies.items() if isinstance(v, Mapping)}
    if not nested:
        return {"": dict(energies)}
    h2 = energies.get("H2")
    return {label: {**({"H2": h2} if h2 is not None else {}), **dict(group)} for label, group in nested.items()}


def analyze_gibbs(
    source: str | Mapping[str, Any] | Iterable[Mapping[str, Any]],
    *,
    temperature_K: float = GIBBS_TEMPERATURE_K,
    pressure_Pa: float = GIBBS_PRESSURE_PA,
    corrections_eV: Mapping[str, float] | None = None,
    thermo: str = "auto",
    launchpad: PathLike | None = None,
    project_dir: PathLike | None = None,
) -> Record:
    """ΔG(x; Δμ_H) = E[TiHx/slab] − E[Ti/slab] − x(½E[H2] + Δμ_H): stable species and transitions
    (``tipsurf analyze gibbs``).

    Parameters
    ----------
    source
        Adsorbate campaign name, its result records, or total energies in eV:
        ``{"Ti": E, "TiH": E, ..., "H2": E}`` or ``{label: {"Ti": E, ...}, "H2": E}``.
    temperature_K, pressure_Pa
        Conditions of Δμ_H(T, p) of H2 (default 1 K and 1e-8 Pa, the ESR-STM experiments).
    corrections_eV
        Added to the energies per species (zero-point or vibrational terms), eV.
    thermo
        H2 thermochemistry: ``auto`` (JANAF, ideal gas below 100 K), ``janaf`` or ``statmech``.

    Returns
    -------
    dict
        ``groups``: one report per (site, MgO thickness) with ``delta_mu_H_eV``,
        ``delta_G_eV`` per species, ``stable_species``, ``stability_ranges``, ``transitions``,
        ``temperature_transitions_at_p`` and ``never_stable``.
    """
    from tipsurf.analysis.gibbs import energies_from_records, gibbs_lines, gibbs_report

    if isinstance(source, Mapping):
        groups = _gibbs_groups(source)
    else:
        groups = energies_from_records(_records_of(source, "the Gibbs source", launchpad, project_dir))
    corrections = dict(corrections_eV) if corrections_eV else None
    reports = [gibbs_report(gibbs_lines(group, corrections, label=label), temperature_K, pressure_Pa, thermo)
               for label, group in sorted(groups.items())]
    return {"temperature_K": float(temperature_K), "pressure_Pa": float(pressure_Pa), "groups": reports}


def analyze_ldos(
    directory: PathLike,
    *,
    site: str = "top",
    site_index: int = 0,
    height_A: float = 3.0,
    xy_A: tuple[float, float] | None = None,
    emin_eV: float = -1.0,
    emax_eV: float = 1.0,
    step_eV: float = 0.2,
    output_dir: PathLike | None = None,
) -> Record:
    """Vacuum LDOS spin polarization P(E) = (n↑ − n↓)/(n↑ + n↓) above a site (``tipsurf analyze ldos``).

    Parameters
    ----------
    directory
        Finished spin-polarized QE slab calculation (pp.x runs per window and spin), or a
        folder of VASP ``PARCHG_<Emin>_<Emax>`` files.
    site, site_index, xy_A
        Where: the builder's site, or an explicit lateral position (Å).
    height_A
        Height above the topmost atom (Å).
    emin_eV, emax_eV, step_eV
        Energy windows relative to E_F (QE), eV.
    output_dir
        If given, also write ``ldos_<site>.csv/.json/.png`` there (pp.x works in ``output_dir/pp_work``).

    Returns
    -------
    dict
        The table (windows, n↑, n↓, P per window, P at E_F, the point and its source).
    """
    from tipsurf.analysis.ldos import energy_windows
    from tipsurf.api.volumetric import ldos_table

    work = Path(output_dir) / "pp_work" if output_dir is not None else None
    table = ldos_table(directory, energy_windows(emin_eV, emax_eV, step_eV), site=site, site_index=site_index,
                       height_A=height_A, xy_A=xy_A, work_dir=work)
    if output_dir is not None:
        table.write(output_dir, stem=f"ldos_{site}" if site_index == 0 else f"ldos_{site}{site_index}")
    return table.as_dict()


def sader_jarvis(z_m: Sequence[float], df_Hz: Sequence[float], *, amplitude_m: float, stiffness_N_per_m: float,
                 f0_Hz: float) -> list[Record]:
    """Force F(z) from a frequency-shift curve Δf(z) (Sader & Jarvis 2004; ``tipsurf sader-jarvis``).

    Returns
    -------
    list of dict
        ``{"z_m", "F_N"}`` per height, sorted by z (negative force = attractive).
    """
    from tipsurf.analysis.sader_jarvis import sader_jarvis_force

    zs, force = sader_jarvis_force(list(z_m), list(df_Hz), amplitude_m, stiffness_N_per_m, f0_Hz)
    return [{"z_m": float(z), "F_N": float(f)} for z, f in zip(zs, force)]
