"""``tipsurf analyze bader`` and ``tipsurf analyze ldos``: volumetric analyses.

* ``analyze bader PATH... [--reference AECCAR0 AECCAR2] [--valence El=Z ...] -o FILE``:
  PATH is a VASP CHGCAR (total + magnetization blocks), ``total.cube [spin.cube]`` from QE
  ``pp.x`` (``plot_num=0`` and ``plot_num=6``), or a finished QE calculation folder (pp.x is
  then run to write those two cubes into ``<FILE stem>_pp/``); FILE ends in ``.json``/``.csv``.
* ``analyze ldos DIR --site NAME [--site-index I] [--xy X Y] --height H -o OUTDIR``: DIR is a
  finished spin-polarized pw.x calculation (QE; ``pp.x`` is run for each energy window and
  spin) or a folder of VASP ``PARCHG_<Emin>_<Emax>`` files (energies relative to E_F in eV,
  ISPIN = 2).  The site is the surface builder's (``metadata.sites`` of ``tipsurf_calc.json``
  in DIR, see :func:`tipsurf.analysis.ldos.site_xy`); without it only ``top`` (above the
  highest atom) or an explicit ``--xy`` is possible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tipsurf.cli import analyze_app
from tipsurf.errors import InputError


def _parse_valences(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        sym, sep, value = item.partition("=")
        try:
            if not sep or not sym.strip():
                raise ValueError
            out[sym.strip()] = float(value)
        except ValueError:
            raise InputError(f"--valence {item!r}: write it as El=Z, e.g. --valence Fe=8") from None
    return out


@analyze_app.command("bader")
def bader_command(
    paths: list[Path] = typer.Argument(
        ..., help="CHGCAR; or total.cube (and optionally spin.cube) from pp.x; or a finished QE calculation folder."
    ),
    reference: Optional[tuple[Path, Path]] = typer.Option(
        None, "--reference", help="Two reference densities to partition on (AECCAR0 AECCAR2)."
    ),
    valence: list[str] = typer.Option([], "--valence", help="Valence electrons El=Z (repeat per element)."),
    vacuum_e_per_bohr3: float = typer.Option(1e-3, "--vacuum", help="Vacuum threshold on the density, e/bohr³ (0 = none)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output file, .json or .csv."),
) -> None:
    """Bader charges, net charges, moments and volumes per atom (weight method)."""
    from tipsurf.analysis.bader import bader_analysis
    from tipsurf.analysis.volumetric import read_bader_inputs
    from tipsurf.api.volumetric import bader_density_files

    if output.suffix.lower() not in {".json", ".csv"}:
        raise InputError(f"output file {output} must end in .json or .csv")
    valences = _parse_valences(valence)
    refs = [p for p in (reference or ()) if p is not None]
    paths = bader_density_files(paths, work_dir=output.parent / f"{output.stem}_pp")
    grid, ref = read_bader_inputs(list(paths), reference=refs or None)
    result = bader_analysis(grid, reference_e_per_A3=ref, valences=valences or None,
                            vacuum_threshold_e_per_bohr3=vacuum_e_per_bohr3 or None)
    result.write(output)
    for row in result.rows():
        mom = "" if row["moment_muB"] is None else f"  moment {row['moment_muB']:+.3f} muB"
        typer.echo(f"{row['index']:4d} {row['symbol']:<3s} charge {row['charge_e']:.4f} e{mom}  volume {row['volume_A3']:.3f} A3")
    typer.echo(f"vacuum charge {result.vacuum_charge_e:.4f} e; written {output}")


@analyze_app.command("ldos")
def ldos_command(
    directory: Path = typer.Argument(..., help="Finished QE calculation folder, or folder of VASP PARCHG_<Emin>_<Emax> files."),
    site: str = typer.Option("top", "--site", help="Site of the surface builder: top or hollow (mn-w110); o-top, bridge or hollow (mgo-ag100)."),
    site_index: int = typer.Option(0, "--site-index", help="Which site of that kind (as in the builder's info['sites'])."),
    xy_A: Optional[tuple[float, float]] = typer.Option(None, "--xy", help="Explicit lateral position x y (Å) instead of the site records."),
    height_A: float = typer.Option(3.0, "--height", help="Height above the topmost atom, Å."),
    emin_eV: float = typer.Option(-1.0, "--emin", help="Lowest E − E_F of the windows (QE), eV."),
    emax_eV: float = typer.Option(1.0, "--emax", help="Highest E − E_F of the windows (QE), eV."),
    step_eV: float = typer.Option(0.2, "--step", help="Window width (QE), eV."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder (ldos_<site>.csv/.json/.png)."),
) -> None:
    """Vacuum LDOS spin polarization P(E) = (n↑ − n↓)/(n↑ + n↓) above a site (Tersoff–Hamann)."""
    from tipsurf.analysis.ldos import energy_windows
    from tipsurf.api.volumetric import ldos_table

    table = ldos_table(directory, energy_windows(emin_eV, emax_eV, step_eV), site=site, site_index=site_index,
                       height_A=height_A, xy_A=xy_A, work_dir=output / "pp_work")
    stem = f"ldos_{site}" if site_index == 0 else f"ldos_{site}{site_index}"
    paths = table.write(output, stem=stem)
    p_ef = table.polarization_at_fermi()
    x, y = table.point_A[:2]
    typer.echo(f"P(E_F) = {p_ef:+.4f} at {site} site {site_index} (x, y = {x:.3f}, {y:.3f} A, from the "
               f"{table.meta.get('site_xy_source')}), {height_A:.2f} A above the surface; written {', '.join(map(str, paths))}")
