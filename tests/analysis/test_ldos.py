"""Vacuum LDOS spin polarization: geometry, VASP PARCHG path, and a real pw.x + pp.x run."""

from __future__ import annotations

import json
import os
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
    qe_ldos_polarization,
    read_qe_calc,
    site_point,
    vasp_parchg_polarization,
)
from tipsurf.analysis.volumetric import HARTREE_EV, read_cube_pair
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


def test_site_points_top_and_hollow() -> None:
    """Square lattice: hollow at (a/2, a/2); hexagonal lattice: hollow at a threefold site."""
    a = 2.5
    pos = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 3.0]])  # two layers, top one at z = 3
    cell = np.diag([a, a, 15.0])
    np.testing.assert_allclose(site_point(pos, cell, "top", 3.0), [0.0, 0.0, 6.0])
    hollow = site_point(pos, cell, "hollow", 3.0)
    np.testing.assert_allclose(hollow, [a / 2, a / 2, 6.0], atol=1e-9)
    hexcell = np.array([[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, 15.0]])
    h = site_point(np.array([[0.0, 0.0, 2.0]]), hexcell, "hollow", 2.0)
    assert min(np.linalg.norm(h[:2] - (i * hexcell[0] + j * hexcell[1])[:2]) for i in (-1, 0, 1, 2) for j in (-1, 0, 1, 2)) == pytest.approx(a / np.sqrt(3), abs=0.02)
    np.testing.assert_allclose(site_point(pos, cell, "hollow", 1.0, xy_A=(0.3, 0.4)), [0.3, 0.4, 4.0])
    with pytest.raises(InputError, match="top or hollow"):
        site_point(pos, cell, "bridge-ish", 1.0)


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
    table = vasp_parchg_polarization(tmp_path, site="hollow", height_A=2.0)
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
Fe 55.845 fe_pbe_v1.5.uspp.F.UPF
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
def fe_monolayer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A free-standing Fe monolayer (1 atom, 2.5 Å square, 11 Å cell), spin-polarized pw.x run."""
    from tests.conftest import require_shared

    pw = require_program("pw.x")
    require_program("pp.x")
    pseudo = require_shared("pseudo")
    calc = tmp_path_factory.mktemp("feml")
    (calc / "pw.in").write_text(_PW_IN.format(pseudo=pseudo))
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
    code = main(["analyze", "ldos", str(fe_monolayer), "--site", "hollow", "--height", "2.5",
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
    electrons of the GBRV Fe pseudopotential, and the atom's moment plus the vacuum moment the
    total magnetization pw.x prints (an independent integral of the same spin density).
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
