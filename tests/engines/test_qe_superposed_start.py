"""QEEngine.write_inputs with a superposed starting density (no pw.x run; real ld1.x pseudopotentials).

The fragments are synthetic pw.x-format densities of the junction's own cell; the check is the
contract: a sum that holds the calculation's electrons becomes pw.x's starting density
(startingpot 'file') and the parts are recorded; a sum that does not add up starts cold and
says why.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tipsurf.config import Config
from tipsurf.engines.presets import load_preset
from tipsurf.engines.qe import QEEngine
from tipsurf.engines.qe.inputs import get_pw_parameter
from tipsurf.engines.qe.charge_density import ChargeDensity, read_charge_density, write_charge_density
from tipsurf.engines.qe.gvectors import qe_miller_order
from tipsurf.engines.qe.superpose import DensityPart, calc_save_dir
from tipsurf.structures import JunctionSpec, MnW110Spec, TipSpec

BOHR_PER_A = 1.0 / 0.529177210903


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """tipsurf's own Fe/Mn/W pseudopotentials (generated once, ~10 s) and no pw.x call."""
    if shutil.which("ld1.x") is None:
        pytest.skip("needs ld1.x on PATH (Debian quantum-espresso)")
    return Config(cache_dir=tmp_path_factory.mktemp("cache"), qe_version="6.7")


def _junction(d: float = 4.5):
    return JunctionSpec(
        MnW110Spec(w_layers=1, size=(2, 1), one_sided=True, vacuum_A=5.0, mn_w_spacing_A=2.10),
        TipSpec(apex="Fe", layers=2, a_A=3.17, shape="bcc110", layer_spacing_A=2.0, cell_size=(2, 1)),
        "top", 0, d, "ap", vacuum_above_tip_A=8.0, scan_d_max_A=6.5,
    ).build()


def _fragment_density(cell_A: np.ndarray, electrons: float, z_A: float, polarisation: float) -> ChargeDensity:
    cell_bohr = cell_A * BOHR_PER_A
    b = 2 * np.pi * np.linalg.inv(cell_bohr).T
    miller = qe_miller_order(b, 40.0, float(np.linalg.norm(cell_bohr[0])))
    g = miller @ b
    rho = electrons * np.exp(-0.5 * (g**2).sum(axis=1)) * np.exp(-1j * g[:, 2] * z_A * BOHR_PER_A) / abs(np.linalg.det(cell_bohr))
    return ChargeDensity(False, b, miller, np.stack([rho, polarisation * rho]))


def _save(folder: Path, density: ChargeDensity) -> Path:
    save = Path(calc_save_dir(folder))
    save.mkdir(parents=True)
    write_charge_density(save / "charge-density.dat", density)
    return folder


def test_fragments_that_add_up_start_the_junction(tmp_path: Path, config: Config) -> None:
    atoms = _junction()
    cell = np.asarray(atoms.cell)
    slab = _save(tmp_path / "slab", _fragment_density(cell, 4 * 14 + 4 * 15, 3.0, 0.0))  # W 14 e, Mn 15 e
    tip = _save(tmp_path / "tip", _fragment_density(cell, 5 * 16, 12.0, 0.2))  # Fe 16 e
    parts = [DensityPart(calc_save_dir(slab)), DensityPart(calc_save_dir(tip), -2.0, 1.0, True)]
    folder = tmp_path / "point"
    QEEngine().write_inputs(atoms, load_preset("demo", "qe"), folder, config=config, start_density=parts)
    assert get_pw_parameter(folder / "pw.in", "electrons", "startingpot") == "file"
    info = json.loads((folder / "tipsurf_calc.json").read_text())
    assert info["restart_method"] == "superposed" and info["restart_parts"] == [p.as_dict() for p in parts]
    written = read_charge_density(Path(calc_save_dir(folder)) / "charge-density.dat")
    assert written.rho_g[0][0].real * abs(np.linalg.det(cell * BOHR_PER_A)) == pytest.approx(196.0, abs=1e-6)
    # the ap copy of the p tip: magnetisation negated
    assert info["restart_diagnostics"]["magnetization_muB"] == pytest.approx(-0.2 * 80, abs=1e-6)


def test_a_neighbour_lends_its_wavefunctions(tmp_path: Path, config: Config) -> None:
    atoms = _junction()
    cell = np.asarray(atoms.cell)
    neighbour = _save(tmp_path / "neighbour", _fragment_density(cell, 196.0, 5.0, 0.1))
    save = Path(calc_save_dir(neighbour))
    for name in ("wfcup1.dat", "wfcdw1.dat", "data-file-schema.xml"):
        (save / name).write_bytes(name.encode())
    folder = tmp_path / "point"
    QEEngine().write_inputs(atoms, load_preset("demo", "qe"), folder, config=config,
                            start_density=[DensityPart(str(save))], start_wavefunctions=str(save))
    assert get_pw_parameter(folder / "pw.in", "electrons", "startingwfc") == "file"
    assert (Path(calc_save_dir(folder)) / "wfcdw1.dat").read_bytes() == b"wfcdw1.dat"
    info = json.loads((folder / "tipsurf_calc.json").read_text())
    assert {"wfcup1.dat", "wfcdw1.dat", "data-file-schema.xml", "charge-density.dat"} <= set(info["restart_files"])
    assert (Path(calc_save_dir(folder)) / "data-file-schema.xml").is_file()  # pw.x reads the states only with it


def test_fragments_that_do_not_add_up_start_cold_and_say_why(tmp_path: Path, config: Config) -> None:
    atoms = _junction()
    tip = _save(tmp_path / "tip", _fragment_density(np.asarray(atoms.cell), 80.0, 12.0, 0.2))
    folder = tmp_path / "point"
    QEEngine().write_inputs(atoms, load_preset("demo", "qe"), folder, config=config,
                            start_density=[DensityPart(calc_save_dir(tip))])  # the slab is missing
    assert get_pw_parameter(folder / "pw.in", "electrons", "startingpot") == "atomic"
    info = json.loads((folder / "tipsurf_calc.json").read_text())
    assert info["restart_method"] == "cold-fallback"
    assert "80.0000 electrons" in info["restart_note"] and "196.0000" in info["restart_note"]


def test_scan_points_place_the_dipole_in_the_vacuum_behind_the_tip(tmp_path: Path, config: Config) -> None:
    values, gates = set(), set()
    preset = load_preset("demo", "qe")
    n1, n2, _ = preset["kpoints"]["mesh"]
    for d in (6.5, 4.5):
        QEEngine().write_inputs(_junction(d), preset, tmp_path / str(d), config=config)
        values.add(float(get_pw_parameter(tmp_path / str(d) / "pw.in", "system", "emaxpos")))
        gates.add(float(get_pw_parameter(tmp_path / str(d) / "pw.in", "system", "zgate")))
        assert get_pw_parameter(tmp_path / str(d) / "pw.in", "control", "gate") == ".true."  # symmetry kept
        assert f"{n1} {n2} 1  1 1 0" in (tmp_path / str(d) / "pw.in").read_text()  # shifted, none along z
    (emaxpos,) = values  # one dipole plane for every point of the scan ...
    (zgate,) = gates  # ... and one (1e-8 e) gate plate, in the vacuum below the sawtooth
    assert 0.0 < emaxpos - zgate < 0.2
    atoms = _junction(6.5)
    n = atoms.info["n_surface_atoms"]
    frac = atoms.get_scaled_positions()[:, 2]
    assert frac[n:].max() < 1.0 and (emaxpos + 0.05) % 1.0 < frac[:n].min()  # ... between the tip's back and the slab image
