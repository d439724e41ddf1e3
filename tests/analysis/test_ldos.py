"""Vacuum LDOS spin polarization: geometry, VASP PARCHG path, and a real pw.x + pp.x run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_program
from tipsurf.analysis.bader import bader_analysis
from tipsurf.analysis.ldos import (
    LdosTable,
    energy_windows,
    interpolate_periodic,
    site_point,
    site_xy,
    vasp_parchg_polarization,
)
from tipsurf.analysis.volumetric import HARTREE_EV, read_cube_pair
from tipsurf.api.volumetric import qe_ldos_polarization
from tipsurf.engines.qe.pp import read_qe_calc
from tipsurf.engines.record import calc_metadata
from tipsurf.errors import InputError, OutputError


def test_trilinear_periodic_interpolation_is_exact_on_grid_and_linear_between() -> None:
    """Grid values are reproduced; between points the result is the trilinear blend; periodic wrap."""
    cell = np.array([[4.0, 0, 0], [1.0, 3.0, 0], [0, 0, 5.0]])
    rng = np.random.default_rng(3)
    vals = rng.random((4, 5, 6))
    frac_step = 1.0 / np.array(vals.shape)
    p = (np.array([2, 3, 4]) * frac_step) @ cell
    assert interpolate_periodic(vals, cell, p) == pytest.approx(vals[2, 3, 4])
    mid = (np.array([3.5, 4.0, 5.0]) * frac_step) @ cell  # halfway between i=3 and i=0 (wrapped)
    assert interpolate_periodic(vals, cell, mid) == pytest.approx(0.5 * (vals[3, 4, 5] + vals[0, 4, 5]))
    shifted = p + cell[0] - 2 * cell[2]
    assert interpolate_periodic(vals, cell, shifted) == pytest.approx(vals[2, 3, 4])


def test_site_lookup_uses_the_builders_records_and_refuses_to_guess() -> None:
    """Records win; without them only top (highest atom) or explicit xy; junctions are refused."""
    pos = np.array([[0.0, 0.0, 1.0], [1.2, 0.4, 3.0]])  # two layers, top one at z = 3
    info = {"surface": "mn-w110", "sites": {"top": [{"xy_A": [1.2, 0.4], "reference_indices": [1]}],
                                            "hollow": [{"xy_A": [2.785, 0.4], "reference_indices": [1]}]}}
    point, source = site_point(pos, "hollow", 3.0, 0, info)
    np.testing.assert_allclose(point, [2.785, 0.4, 6.0])
    assert source == "site records"
    assert site_xy(pos, "top", 0, None)[1] == "highest atom"
    np.testing.assert_allclose(site_xy(pos, "top", 0, None)[0], [1.2, 0.4])
    np.testing.assert_allclose(site_point(pos, "hollow", 1.0, xy_A=(0.3, 0.4))[0], [0.3, 0.4, 4.0])
    with pytest.raises(InputError, match="--xy"):
        site_xy(pos, "hollow", 0, None)
    with pytest.raises(InputError, match="choose one of: top, hollow"):
        site_xy(pos, "bridge", 0, info)
    with pytest.raises(InputError, match="hollow sites are 0..0"):
        site_xy(pos, "hollow", 1, info)
    with pytest.raises(InputError, match="xy_A"):
        site_xy(pos, "top", 0, {"sites": {"top": [[1.2, 0.4]]}})  # the old [x, y] form is not a site record
    with pytest.raises(InputError, match="junction"):
        site_xy(pos, "top", 0, {"kind": "junction", "site": "top", "site_xy_A": [0.0, 0.0]})


def _write_finished_qe_calc(atoms, calc: Path, pseudos) -> None:
    """tipsurf's QE engine writes the inputs; a synthetic XML stands in for the finished pw.x run.

    ``pseudos``: an explicit pseudopotential folder covering the structure's elements (without
    ../shared: tipsurf's generated set, Ag included; no pw.x runs here).
    """
    from tipsurf.analysis.volumetric import BOHR_A
    from tipsurf.engines.presets import load_preset, merge_preset
    from tipsurf.engines.qe import QEEngine

    preset = merge_preset(load_preset("fast", "qe"), pseudos.preset_overrides())
    QEEngine().write_inputs(atoms, preset, calc, config=pseudos.config(qe_version="6.7"))
    text = (calc / "pw.in").read_text()
    prefix = re.search(r"prefix\s*=\s*'([^']+)'", text).group(1)
    outdir = re.search(r"outdir\s*=\s*'([^']+)'", text).group(1)
    save = (calc / outdir / f"{prefix}.save").resolve()
    save.mkdir(parents=True)
    root = ET.Element("espresso")
    out = ET.SubElement(root, "output")
    struct = ET.SubElement(out, "atomic_structure", nat=str(len(atoms)))
    positions = ET.SubElement(struct, "atomic_positions")
    for sym, xyz in zip(atoms.get_chemical_symbols(), atoms.positions / BOHR_A):
        ET.SubElement(positions, "atom", name=sym).text = " ".join(f"{v:.10f}" for v in xyz)
    cell = ET.SubElement(struct, "cell")
    for i, vec in enumerate(atoms.cell.array / BOHR_A, start=1):
        ET.SubElement(cell, f"a{i}").text = " ".join(f"{v:.10f}" for v in vec)
    bands = ET.SubElement(out, "band_structure")
    ET.SubElement(bands, "lsda").text = "true"
    ET.SubElement(bands, "fermi_energy").text = "0.25"
    ET.ElementTree(root).write(save / "data-file-schema.xml")


def _synthetic_pp_ildos(calc, emin_abs_eV, emax_abs_eV, spin_component, work_dir, tag):
    """Stands in for pp.x: a uniform ILDOS cube, 3 (up) / 1 (down) states per bohr³ per eV."""
    from ase import Atoms
    from ase.io.cube import write_cube

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    cube = work_dir / f"{tag}.cube"
    per_eV = 3.0 if spin_component == 1 else 1.0
    with open(cube, "w") as handle:
        write_cube(handle, Atoms(calc.symbols, positions=calc.positions_A, cell=calc.cell_A, pbc=True),
                   np.full((4, 4, 12), per_eV * (emax_abs_eV - emin_abs_eV)))
    return cube


@pytest.mark.parametrize("surface,sites", [("mn-w110", ("top", "hollow")), ("mgo-ag100", ("o-top", "hollow"))])
def test_cli_ldos_on_a_tipsurf_built_calculation_uses_the_builders_sites(
    surface: str, sites: tuple[str, str], qe_pseudo_library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12 item 1: `analyze ldos` on a calculation tipsurf wrote from its own builders.

    The metadata is written by the real QE engine (``tipsurf_calc.json`` 'metadata' = atoms.info,
    whose 'sites' are lists of {xy_A, reference_indices} records); pp.x is replaced by uniform
    synthetic ILDOS cubes.  The point must lie over the builders' site (name and index), not a
    site re-derived from the geometry (the old "farthest point" hollow of Mn/W(110) was the
    quasi-threefold site, not the builder's bcc-continuation hollow).
    """
    from tipsurf.analysis import ldos
    from tipsurf.cli import main
    from tipsurf.engines.qe import pp
    from tipsurf.structures.mgo_ag100 import build_mgo_ag100
    from tipsurf.structures.mn_w110 import build_mn_w110

    atoms = (build_mn_w110(w_layers=2, size=(2, 1), one_sided=True) if surface == "mn-w110"
             else build_mgo_ag100(mgo_layers=2, ag_layers=2, size=1, vacuum_A=8.0))
    calc = tmp_path / "calc"
    _write_finished_qe_calc(atoms, calc, qe_pseudo_library)
    monkeypatch.setattr(pp, "run_pp_ildos", _synthetic_pp_ildos)
    z_top = atoms.positions[:, 2].max()
    for site in sites:
        for index in (0, 1):
            out = tmp_path / f"out-{site}{index}"
            args = ["analyze", "ldos", str(calc), "--site", site, "--site-index", str(index), "--height", "3",
                    "--emin", "-0.2", "--emax", "0.2", "--step", "0.2", "-o", str(out)]
            assert main(args) == 0
            data = json.loads((out / (f"ldos_{site}" + (f"{index}" if index else "") + ".json")).read_text())
            expected_xy = atoms.info["sites"][site][index]["xy_A"]
            np.testing.assert_allclose(data["point_A"], [*expected_xy, z_top + 3.0], atol=1e-6)
            assert data["meta"]["site_xy_source"] == "site records" and data["meta"]["site_index"] == index
            assert data["P_at_EF"] == pytest.approx(0.5)
    table = qe_ldos_polarization(calc, ldos.energy_windows(-0.1, 0.1, 0.2), site=sites[1], site_index=1,
                                 work_dir=tmp_path / "pp")
    np.testing.assert_allclose(table.point_A[:2], atoms.info["sites"][sites[1]][1]["xy_A"], atol=1e-6)
    if surface == "mn-w110":  # the builder's hollow is a/2 along [001] from a Mn atom
        np.testing.assert_allclose(np.subtract(atoms.info["sites"]["hollow"][0]["xy_A"], atoms.info["sites"]["top"][0]["xy_A"]),
                                   [atoms.info["a_A"] / 2, 0.0], atol=1e-9)
    with pytest.raises(InputError, match="outside the surface"):
        qe_ldos_polarization(calc, ldos.energy_windows(-0.1, 0.1, 0.2), site=sites[0], site_index=99)


def test_ildos_post_step_record_is_what_the_analysis_reads(qe_pseudo_library, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13 item 5: the engine's post-step writes the cubes and a JSON record naming them (with
    E_F, structure and the builder's sites); the analysis needs nothing else of the calculation."""
    from tipsurf.analysis.ldos import ldos_from_cubes
    from tipsurf.engines.qe import pp
    from tipsurf.structures.mn_w110 import build_mn_w110
    from tipsurf.workflows.tasks import resolve_callable

    atoms = build_mn_w110(w_layers=2, size=(2, 1), one_sided=True)
    calc = tmp_path / "calc"
    _write_finished_qe_calc(atoms, calc, qe_pseudo_library)
    monkeypatch.setattr(pp, "run_pp_ildos", _synthetic_pp_ildos)
    post_step = resolve_callable("tipsurf.engines.qe.pp:qe_ildos_cubes")  # as a workflow's PostStepTask names it
    record = post_step(str(calc), windows_eV=[[-0.2, 0.0], [0.0, 0.2]], work_dir=tmp_path / "cubes")
    assert json.loads(json.dumps(record)) == json.loads((tmp_path / "cubes" / pp.ILDOS_RECORD).read_text()) == record
    assert record["fermi_eV"] == pytest.approx(0.25 * HARTREE_EV, rel=1e-7) and len(record["windows"]) == 2
    calc.rename(tmp_path / "elsewhere")  # the calculation folder is not needed any more
    table = ldos_from_cubes(record, site="hollow", height_A=3.0)
    np.testing.assert_allclose(table.point_A[:2], atoms.info["sites"]["hollow"][0]["xy_A"], atol=1e-6)
    np.testing.assert_allclose(table.polarization, [0.5, 0.5])


def test_ldos_table_polarization_and_files(tmp_path: Path) -> None:
    """P = (n↑ − n↓)/(n↑ + n↓), P(E_F) from the window holding E_F, files written with units."""
    table = LdosTable(energy_windows(-0.4, 0.4, 0.2), np.array([1.0, 2.0, 3.0, 1.0]), np.array([1.0, 1.0, 1.0, 3.0]),
                      np.zeros(3), "top", 3.0)
    np.testing.assert_allclose(table.polarization, [0.0, 1 / 3, 0.5, -0.5])
    assert table.polarization_at_fermi() == pytest.approx(1 / 3)  # window [-0.2, 0.0] comes first
    paths = table.write(tmp_path / "out", stem="ldos_top")
    assert [p.suffix for p in paths] == [".csv", ".json", ".png"] and all(p.stat().st_size > 0 for p in paths)
    assert (tmp_path / "out" / "ldos_top.csv").read_text().splitlines()[0] == \
        "E_minus_EF_eV,E_lo_eV,E_hi_eV,n_up_per_A3_eV,n_down_per_A3_eV,P"
    with pytest.raises(InputError, match="empty"):
        energy_windows(1.0, -1.0, 0.1)


def test_vasp_parchg_polarization_from_written_files(tmp_path: Path) -> None:
    """PARCHG (ISPIN=2) total/magnetization blocks → n↑ = (tot+mag)/2, n↓ = (tot−mag)/2.

    Files are written with pymatgen from known constant densities (format round trip, no VASP
    run), so the expected LDOS is exact: density/(window width).
    """
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.vasp.outputs import Chgcar

    cell = np.diag([3.0, 3.0, 12.0])
    struct = Structure(Lattice(cell), ["Mn"], [[0.0, 0.0, 3.0]], coords_are_cartesian=True)
    vol = 108.0
    for lo, hi, up, dn in [(-0.2, 0.0, 0.03, 0.01), (0.0, 0.2, 0.01, 0.02)]:
        tot, mag = np.full((6, 6, 24), up + dn), np.full((6, 6, 24), up - dn)
        Chgcar(struct, {"total": tot * vol, "diff": mag * vol}).write_file(str(tmp_path / f"PARCHG_{lo:.2f}_{hi:.2f}"))
    with pytest.raises(InputError, match="--xy"):  # no site records: only top or explicit xy
        vasp_parchg_polarization(tmp_path, site="hollow", height_A=2.0)
    (tmp_path / "tipsurf_calc.json").write_text(json.dumps(
        {"metadata": {"sites": {"hollow": [{"xy_A": [1.5, 1.5], "reference_indices": [0]}]}}}))
    table = vasp_parchg_polarization(tmp_path, site="hollow", height_A=2.0, info=calc_metadata(tmp_path))
    np.testing.assert_allclose(table.n_up, [0.03 / 0.2, 0.01 / 0.2], rtol=1e-5)
    np.testing.assert_allclose(table.n_down, [0.01 / 0.2, 0.02 / 0.2], rtol=1e-5)
    np.testing.assert_allclose(table.point_A, [1.5, 1.5, 5.0])
    assert table.polarization_at_fermi() == pytest.approx(0.5, rel=1e-5)
    (tmp_path / "PARCHG").write_text("x")
    with pytest.raises(InputError, match="PARCHG_<Emin>_<Emax>"):
        vasp_parchg_polarization(tmp_path)


def test_qe_folder_without_output_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "pw.in").write_text("&control\n  prefix = 'x'\n  outdir = './out'\n/\n")
    with pytest.raises(OutputError, match="has not finished"):
        read_qe_calc(tmp_path)
    from tipsurf.cli import main

    assert main(["analyze", "ldos", str(tmp_path), "--site", "top", "--height", "3", "-o", str(tmp_path / "o")]) != 0
    assert not (tmp_path / "o" / "ldos_top.csv").exists()


_PW_IN = """&control
  calculation = 'scf'
  prefix = 'feml'
  outdir = './out'
  pseudo_dir = '{pseudo}'
/
&system
  ibrav = 0, nat = 1, ntyp = 1, ecutwfc = 25, ecutrho = 200,
  occupations = 'smearing', smearing = 'mv', degauss = 0.02,
  nspin = 2, starting_magnetization(1) = 0.6
/
&electrons
  conv_thr = 1e-7, mixing_beta = 0.3
/
ATOMIC_SPECIES
Fe 55.845 {fe_file}
CELL_PARAMETERS angstrom
2.5 0.0 0.0
0.0 2.5 0.0
0.0 0.0 11.0
ATOMIC_POSITIONS angstrom
Fe 0.0 0.0 3.0
K_POINTS automatic
4 4 1 0 0 0
"""


@pytest.fixture(scope="module")
def fe_monolayer(tmp_path_factory: pytest.TempPathFactory, pseudo_provider) -> Path:
    """A free-standing Fe monolayer (1 atom, 2.5 Å square, 11 Å cell), spin-polarized pw.x run.

    Fe: GBRV from ../shared/pseudo, else tipsurf's generated Fe (both 16 valence electrons).
    """
    pw = require_program("pw.x")
    require_program("pp.x")
    pseudos = pseudo_provider.library()
    calc = tmp_path_factory.mktemp("feml")
    (calc / "pw.in").write_text(_PW_IN.format(pseudo=pseudos.folder, fe_file=pseudos.files["Fe"]))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(calc / "pw.out", "w") as out:
        proc = subprocess.run([pw, "-in", "pw.in"], cwd=calc, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    assert proc.returncode == 0, (calc / "pw.out").read_text()[-2000:]
    return calc


def _states_in_window_from_bands(calc: Path, lo: float, hi: float) -> tuple[float, float]:
    """Σ_k w_k · #(bands with E − E_F in [lo, hi]) per spin, from the XML band energies."""
    bs = ET.parse(calc / "out" / "feml.save" / "data-file-schema.xml").getroot().find("output/band_structure")
    ef = float(bs.findtext("fermi_energy")) * HARTREE_EV
    nup = int(bs.findtext("nbnd_up"))
    up = dn = 0.0
    for ks in bs.findall("ks_energies"):
        w = float(ks.find("k_point").get("weight"))
        e = np.array(ks.findtext("eigenvalues").split(), float) * HARTREE_EV - ef
        up += w * np.count_nonzero((e[:nup] > lo) & (e[:nup] < hi))
        dn += w * np.count_nonzero((e[nup:] > lo) & (e[nup:] < hi))
    return up, dn


@pytest.mark.pwx
def test_qe_fe_monolayer_vacuum_polarization(fe_monolayer: Path, tmp_path: Path) -> None:
    """Real pw.x + pp.x: n↑, n↓ ≥ 0, |P| ≤ 1, P(E_F) ≠ 0 for a magnetic layer.

    Independent check of the spin channels: the cell integral of each pp.x ILDOS must equal the
    number of states of that spin in the window counted from the band energies in the XML
    (Σ_k w_k · #bands), so the spin-resolved DOS at E_F from the same run has the same sign of
    polarization as the cell-integrated ILDOS.  (The vacuum P need not share that sign: the
    vacuum is dominated by slowly decaying s/d_z² states; here the minority d states dominate
    the cell DOS at E_F while the vacuum is majority-polarized.)
    """
    windows = np.array([[-0.3, 0.3], [-1.0, -0.3]])
    table = qe_ldos_polarization(fe_monolayer, windows, site="top", height_A=2.0, work_dir=tmp_path / "pp")
    assert (table.n_up >= 0).all() and (table.n_down >= 0).all()
    assert table.meta["raw_n_up_min"] >= -1e-8 and table.meta["raw_n_down_min"] >= -1e-8
    pol = table.polarization
    assert np.all(np.abs(pol[np.isfinite(pol)]) <= 1.0)
    p_ef = table.polarization_at_fermi()
    assert abs(p_ef) > 0.01
    for k, (lo, hi) in enumerate(windows):
        up, dn = _states_in_window_from_bands(fe_monolayer, lo, hi)
        assert table.meta["cell_states_up"][k] == pytest.approx(up, abs=2e-3)
        assert table.meta["cell_states_down"][k] == pytest.approx(dn, abs=2e-3)
    up0, dn0 = _states_in_window_from_bands(fe_monolayer, -0.3, 0.3)
    assert np.sign(table.meta["cell_states_up"][0] - table.meta["cell_states_down"][0]) == np.sign(up0 - dn0) != 0
    np.testing.assert_allclose(table.point_A, [0.0, 0.0, 5.0], atol=1e-6)


@pytest.mark.pwx
def test_cli_ldos_on_qe_folder(fe_monolayer: Path, tmp_path: Path) -> None:
    """`tipsurf analyze ldos DIR --site hollow` writes the P(E) table, JSON and plot."""
    from tipsurf.cli import main

    out = tmp_path / "ldos"
    code = main(["analyze", "ldos", str(fe_monolayer), "--site", "hollow", "--xy", "1.25", "1.25", "--height", "2.5",
                 "--emin", "-0.2", "--emax", "0.2", "--step", "0.4", "-o", str(out)])
    assert code == 0
    data = json.loads((out / "ldos_hollow.json").read_text())
    assert data["site"] == "hollow" and len(data["rows"]) == 1
    assert -1.0 <= data["P_at_EF"] <= 1.0
    np.testing.assert_allclose(data["point_A"], [1.25, 1.25, 5.5], atol=1e-6)
    assert (out / "ldos_hollow.png").stat().st_size > 0


@pytest.mark.pwx
def test_qe_bader_from_pp_cubes(fe_monolayer: Path, tmp_path: Path) -> None:
    """pp.x total (plot_num 0) + spin (plot_num 6) cubes → Bader on real QE data (via the CLI).

    One Fe atom per cell: the atom's Bader volume plus the vacuum must hold all 16 valence
    electrons of the Fe pseudopotential (GBRV or tipsurf's generated one: both have 16), and
    the atom's moment plus the vacuum moment the total magnetization pw.x prints (an
    independent integral of the same spin density).
    """
    import re

    from tipsurf.cli import main

    out = tmp_path / "bader.json"
    assert main(["analyze", "bader", str(fe_monolayer), "--valence", "Fe=16", "-o", str(out)]) == 0
    cubes = sorted((tmp_path / "bader_pp").glob("*.cube"))
    assert [c.name for c in cubes] == ["density_spin.cube", "density_total.cube"]
    grid = read_cube_pair(cubes[1], cubes[0])
    assert grid.symbols == ["Fe"]
    res = bader_analysis(grid, valences={"Fe": 16})
    data = json.loads(out.read_text())
    assert data["atoms"][0]["charge_e"] == pytest.approx(res.charge_e[0], abs=1e-9)
    pw_out = (fe_monolayer / "pw.out").read_text()
    total_mag = float(re.findall(r"total magnetization\s+=\s+([-\d.]+)", pw_out)[-1])
    assert res.charge_e[0] + res.vacuum_charge_e == pytest.approx(16.0, abs=2e-3)
    assert res.moment_muB[0] + res.vacuum_moment_muB == pytest.approx(total_mag, abs=0.01)
    assert res.charge_e[0] > 15.0 and res.moment_muB[0] > 2.5
    assert res.net_charge_e[0] == pytest.approx(16.0 - res.charge_e[0])


@pytest.mark.pwx
def test_qe_record_of_a_real_run_reads_its_xml(fe_monolayer: Path) -> None:
    """Issue 13 item 3 on a real pw.x 6.7 run: the record's numbers come from this run's XML and
    agree with what the text output prints (to its printed digits); the moments stay the text's."""
    from tipsurf.engines.qe import QEEngine
    from tipsurf.engines.qe.outputs import parse_pw_output

    record = QEEngine().parse(fe_monolayer)
    text = parse_pw_output(fe_monolayer / "pw.out")
    assert record.extra["xml_output"] == str(fe_monolayer.resolve() / "out" / "feml.save" / "data-file-schema.xml")
    assert record.extra["outcome"] == "converged" and record.converged
    assert record.energy_eV == pytest.approx(text.energy_eV, abs=2e-7)
    assert record.fermi_eV == pytest.approx(text.fermi_eV, abs=1e-4)
    assert record.total_magnetization_muB == pytest.approx(text.total_magnetization_muB, abs=0.005)
    assert record.magmoms_muB == text.magmoms_muB and record.n_scf == text.n_scf
    np.testing.assert_allclose(record.positions_A, [[0.0, 0.0, 3.0]], atol=1e-6)
