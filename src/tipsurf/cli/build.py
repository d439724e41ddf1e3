"""`tipsurf build ...`: write tips, slabs, adsorbates, molecules and junctions as extended XYZ.

Every command validates its options through the structure specs (one-line ``error: ...`` and
a non-zero exit on bad input, no file written), writes the file atomically and prints a short
summary (formula, atom count, site, distance, moments of the apex and reference atoms).
Numbers are parsed here (not by click) so that a bad number is also a one-line error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from ase import Atoms

from tipsurf.cli import build_app
from tipsurf.cli.options import STRUCTURE_OUTPUT_HELP, parse_float, parse_int, parse_size, shared_options
from tipsurf.errors import InputError
from tipsurf.structures import AdsorbateSpec, JunctionSpec, MgOAg100Spec, MnW110Spec, MoleculeSpec, TipSpec, write_structure

slab_app = typer.Typer(help="Build a surface slab: mn-w110 or mgo-ag100.", no_args_is_help=True)
build_app.add_typer(slab_app, name="slab")

OUTPUT_HELP = STRUCTURE_OUTPUT_HELP


def _moment(atoms: Atoms, index: int) -> str:
    return f"{atoms[index].symbol}{index} {atoms.get_initial_magnetic_moments()[index]:+.2f} muB"


def _summary(atoms: Atoms, path: Path) -> None:
    """Print a few lines describing the written structure."""
    info = atoms.info
    lines = [f"wrote {path}", f"formula {atoms.get_chemical_formula()}  atoms {len(atoms)}  kind {info.get('kind')}"]
    if "site" in info:
        where = f"site {info['site']} {info.get('site_index', 0)}"
        if "distance_A" in info:
            where += f"  d {info['distance_A']:.3f} A  config {info['config']}"
        if "height_A" in info:
            where += f"  height {info['height_A']:.3f} A"
        lines.append(where)
    if "apex_index" in info:
        lines.append(f"apex {_moment(atoms, int(info['apex_index']))}")
    if info.get("kind") == "junction":
        lines.append("reference " + ", ".join(_moment(atoms, int(i)) for i in info["reference_indices"]))
    fixed = sum(len(c.get_indices()) for c in atoms.constraints)
    lines.append(f"fixed atoms {fixed}")
    for line in lines:
        typer.echo(line)


def _write(atoms: Atoms, output: Path) -> None:
    write_structure(atoms, output)
    _summary(atoms, output)


@build_app.command("tip")
def tip_command(
    apex: str = typer.Option("Fe", "--apex", help="Apex element: Fe, Co or Mn (also Cr, Ni)."),
    layers: str = typer.Option("3", "--layers", metavar="N", help="Layers 1..6 (3 = 14 atoms)."),
    base: str = typer.Option("Fe", "--base", help="Base element of the bcc pyramid."),
    a: str = typer.Option("2.85", "--a", metavar="A", help="bcc lattice constant (Angstrom)."),
    output: Path = typer.Option(..., "-o", "--output", help=OUTPUT_HELP),
) -> None:
    """Build an isolated bcc(001) pyramidal tip."""
    spec = TipSpec(apex=apex, layers=parse_int("--layers", layers), base=base, a_A=parse_float("--a", a))
    _write(spec.build(), output)


@slab_app.command("mn-w110")
def mn_w110_command(
    w_layers: str = typer.Option("5", "--w-layers", metavar="N", help="Number of W(110) layers."),
    size: str = typer.Option("1x1", "--size", metavar="NXxNY", help="Lateral repetitions of the a x a*sqrt(2) cell."),
    one_sided: bool = typer.Option(False, "--one-sided", help="Mn on the top side only."),
    mn_order: str = typer.Option("c2x2-afm", "--mn-order", help="Mn starting order: c2x2-afm (ground state) or ferro (reference)."),
    a: str = typer.Option("3.17", "--a", metavar="A", help="W lattice constant (Angstrom)."),
    vacuum: str = typer.Option("10", "--vacuum", metavar="A", help="Vacuum on each side (Angstrom)."),
    output: Path = typer.Option(..., "-o", "--output", help=OUTPUT_HELP),
) -> None:
    """Build a Mn/W(110) slab with c(2x2) antiferromagnetic (or, on request, ferromagnetic) Mn."""
    spec = MnW110Spec(
        w_layers=parse_int("--w-layers", w_layers), size=parse_size(size), a_A=parse_float("--a", a),
        one_sided=one_sided, vacuum_A=parse_float("--vacuum", vacuum), mn_order=mn_order,
    )
    _write(spec.build(), output)


def _mgo_spec(shared: dict[str, Any], a: str, vacuum: str) -> MgOAg100Spec:
    return MgOAg100Spec(
        mgo_layers=parse_int("--mgo-layers", shared["mgo_layers"]), ag_layers=parse_int("--ag-layers", shared["ag_layers"]),
        size=parse_int("--size", shared["mgo_size"]), a_A=parse_float("--a", a), vacuum_A=parse_float("--vacuum", vacuum),
    )


@slab_app.command("mgo-ag100")
@shared_options("mgo_layers", "ag_layers", "mgo_size", "structure_output")
def mgo_ag100_command(
    a: str = typer.Option("4.09", "--a", metavar="A", help="Ag lattice constant (Angstrom)."),
    vacuum: str = typer.Option("20", "--vacuum", metavar="A", help="Vacuum (Angstrom)."),
    **shared: Any,
) -> None:
    """Build an MgO(n)/Ag(100) slab."""
    _write(_mgo_spec(shared, a, vacuum).build(), shared["structure_output"])


@build_app.command("adsorbate")
@shared_options("mgo_layers", "ag_layers", "mgo_size", "structure_output")
def adsorbate_command(
    species: str = typer.Option("Ti", "--species", help="Ti, TiH, TiH2, TiH3, TiH4 (H2: gas-phase molecule)."),
    site: str = typer.Option("o-top", "--site", help="o-top, bridge or hollow."),
    height: str = typer.Option("", "--height", metavar="A", help="Ti height above the MgO (default per site)."),
    **shared: Any,
) -> None:
    """Build Ti/TiHx on MgO/Ag(100) (or the gas-phase H2 reference for --species H2)."""
    output = shared["structure_output"]
    if species == "H2":
        _write(MoleculeSpec("H2").build(), output)
        return
    slab = _mgo_spec(shared, "4.09", "20")
    height_A = parse_float("--height", height) if height.strip() else None
    _write(AdsorbateSpec(species=species, site=site, slab=slab, height_A=height_A).build(), output)


@build_app.command("molecule")
def molecule_command(
    species: str = typer.Option(..., "--species", help="H2, Ti, TiH, TiH2, TiH3 or TiH4."),
    box: str = typer.Option("12", "--box", metavar="A", help="Cubic box edge (Angstrom)."),
    output: Path = typer.Option(..., "-o", "--output", help=OUTPUT_HELP),
) -> None:
    """Build a gas-phase reference molecule in a box."""
    _write(MoleculeSpec(species=species, box_A=parse_float("--box", box)).build(), output)


@build_app.command("junction")
def junction_command(
    surface: str = typer.Option("mn-w110", "--surface", help="Surface (mn-w110)."),
    tip: str = typer.Option("Fe", "--tip", help="Apex element: Fe, Co or Mn."),
    tip_layers: str = typer.Option("3", "--tip-layers", metavar="N", help="Tip layers (3 = 14 atoms)."),
    w_layers: str = typer.Option("5", "--w-layers", metavar="N", help="W(110) layers."),
    size: str = typer.Option("3x2", "--size", metavar="NXxNY", help="Lateral size of the Mn/W(110) cell."),
    one_sided: bool = typer.Option(False, "--one-sided", help="Mn on the top side only."),
    mn_order: str = typer.Option("c2x2-afm", "--mn-order", help="Mn starting order: c2x2-afm (ground state) or ferro (reference)."),
    site: str = typer.Option("top", "--site", help="top or hollow."),
    site_index: str = typer.Option("0", "--site-index", metavar="I", help="Which site of that kind."),
    distance: str = typer.Option(..., "--distance", metavar="D", help="Apex - surface Mn distance (Angstrom)."),
    config: str = typer.Option("p", "--config", help="p (parallel) or ap (antiparallel)."),
    vacuum: str = typer.Option("10", "--vacuum-above-tip", metavar="A", help="Vacuum above the tip (Angstrom)."),
    output: Path = typer.Option(..., "-o", "--output", help=OUTPUT_HELP),
) -> None:
    """Build a tip over a site of Mn/W(110) at distance D with p or ap apex moment."""
    if surface != "mn-w110":
        raise InputError(f"unknown surface {surface!r} for a junction; choose one of: mn-w110")
    spec = JunctionSpec(
        surface=MnW110Spec(w_layers=parse_int("--w-layers", w_layers), size=parse_size(size), one_sided=one_sided,
                           mn_order=mn_order),
        tip=TipSpec(apex=tip, layers=parse_int("--tip-layers", tip_layers)),
        site=site,
        site_index=parse_int("--site-index", site_index),
        distance_A=parse_float("--distance", distance),
        config=config,
        vacuum_above_tip_A=parse_float("--vacuum-above-tip", vacuum),
    )
    _write(spec.build(), output)
