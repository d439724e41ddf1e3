"""VASP inputs written by VaspEngine, checked field by field (VASP itself cannot run here)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.constraints import FixAtoms
from pymatgen.io.vasp.inputs import Incar, Poscar

from tipsurf.engines.vasp import VaspEngine, load_calc_file
from tipsurf.errors import ConfigurationError, InputError
from tipsurf.templates import load_template

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
# fake_potcar_dir (conftest.py): test-written POTCARs Fe, Fe_pv and O (real ones are licensed)


@pytest.fixture
def no_potcar_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    from pymatgen.core import SETTINGS

    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    monkeypatch.setitem(SETTINGS, "PMG_VASP_PSP_DIR", None)


def feo_interleaved() -> Atoms:
    """Fe O Fe O Fe with AFM moments of mixed sign; atoms 3 and 4 fixed; tip = atom 4."""
    atoms = Atoms(
        "FeOFeOFe",
        positions=[[0, 0, 5.0], [2.1, 0, 5.0], [0, 2.1, 7.1], [2.1, 2.1, 7.1], [1.0, 1.0, 12.0]],
        cell=[4.2, 4.2, 25.0],
        pbc=True,
    )
    atoms.set_initial_magnetic_moments([4.0, 0.3, -4.0, -0.2, 2.5])
    atoms.set_constraint(FixAtoms(indices=[2, 3]))
    atoms.info.update({"site": "top", "distance_A": 4.9, "tip_indices": [4], "apex_index": 4})
    return atoms


def feo_preset() -> dict:
    preset = copy.deepcopy(load_template("presets", "tio-mgo-vasp"))
    preset["potcar_symbols"] = {"Fe": "Fe_pv", "O": "O"}
    return preset


def test_vasp_magmom_and_selective_dynamics_follow_poscar_order(tmp_path: Path, fake_potcar_dir: Path) -> None:
    atoms = feo_interleaved()
    VaspEngine().write_inputs(atoms, feo_preset(), tmp_path)
    poscar = Poscar.from_file(tmp_path / "POSCAR")
    incar = Incar.from_file(tmp_path / "INCAR")
    assert poscar.site_symbols == ["Fe", "O"] and poscar.natoms == [3, 2]
    # Fe atoms (original 0, 2, 4) then O atoms (1, 3), each block in original order.
    assert incar["MAGMOM"] == pytest.approx([4.0, -4.0, 2.5, 0.3, -0.2])
    assert np.allclose(poscar.structure.cart_coords[1], [0, 2.1, 7.1])
    assert np.allclose(poscar.structure.cart_coords[4], [2.1, 2.1, 7.1])
    # Original atoms 2 and 3 are fixed -> POSCAR rows 1 (second Fe) and 4 (second O).
    lines = (tmp_path / "POSCAR").read_text().splitlines()
    assert lines[7].strip().lower().startswith("selective")
    flags = [line.split()[3:6] for line in lines[9:14]]
    assert flags == [["T"] * 3, ["F"] * 3, ["T"] * 3, ["T"] * 3, ["F"] * 3]
    assert load_calc_file(tmp_path)["poscar_order"] == [0, 2, 4, 1, 3]


def test_vasp_incar_fields_dipole_and_potcar(tmp_path: Path, fake_potcar_dir: Path) -> None:
    atoms = feo_interleaved()
    prepared = VaspEngine().write_inputs(atoms, feo_preset(), tmp_path, calculation="relax")
    incar = Incar.from_file(tmp_path / "INCAR")
    expected = {"ISPIN": 2, "ENCUT": 400, "LORBIT": 11, "IVDW": 11, "LDIPOL": True, "IDIPOL": 3,
                "LCHARG": True, "LAECHG": True, "IBRION": 2, "NSW": 100, "EDIFFG": -0.02, "ISMEAR": 0}
    for key, value in expected.items():
        assert incar[key] == value, key
    assert "LDAU" not in incar  # U only on Ti, no Ti here
    # DIPOL: mass-weighted centre of the slab (atoms 0-3; atom 4 is the tip) in fractions.
    m_fe, m_o = atoms.get_masses()[0], atoms.get_masses()[1]
    com = (m_fe * np.array([0, 0, 5.0]) + m_o * np.array([2.1, 0, 5.0]) + m_fe * np.array([0, 2.1, 7.1])
           + m_o * np.array([2.1, 2.1, 7.1])) / (2 * m_fe + 2 * m_o)
    assert incar["DIPOL"] == pytest.approx(com / [4.2, 4.2, 25.0], abs=1e-6)
    potcar_text = (tmp_path / "POTCAR").read_text()
    titels = [line.split("=", 1)[1].strip() for line in potcar_text.splitlines() if "TITEL" in line]
    assert [t.split(";")[0].strip() for t in titels] == ["PAW_PBE Fe_pv 06Sep2000", "PAW_PBE O 08Apr2002"]
    assert prepared.pseudopotentials["Fe"]["symbol"] == "Fe_pv" and len(prepared.pseudopotentials["O"]["md5"]) == 32


def test_vasp_ldau_arrays_align_with_species_and_kpoints_gamma(tmp_path: Path, no_potcar_dir: None) -> None:
    atoms = Atoms("MgOTiAgO", positions=[[0, 0, 8], [2, 0, 8], [0, 0, 10.1], [0, 0, 6], [0, 2, 8]],
                  cell=[4.1, 4.1, 30], pbc=True)
    atoms.set_initial_magnetic_moments([0, 0, 2.0, 0, 0])
    preset = load_template("presets", "tio-mgo-vasp")
    preset["hubbard_u_eV"] = {"Ti": 3.0}  # the preset requires a user-given U on Ti (hubbard_u_required)
    VaspEngine().write_inputs(atoms, preset, tmp_path, allow_missing_potcar=True)
    incar = Incar.from_file(tmp_path / "INCAR")
    assert Poscar.from_file(tmp_path / "POSCAR").site_symbols == ["Mg", "O", "Ti", "Ag"]
    assert incar["LDAU"] is True and incar["LDAUTYPE"] == 2
    assert incar["LDAUL"] == [-1, -1, 2, -1]
    assert incar["LDAUU"] == pytest.approx([0, 0, 3.0, 0])
    assert incar["LDAUJ"] == pytest.approx([0, 0, 0, 0])
    assert incar["MAGMOM"] == pytest.approx([0, 0, 0, 2.0, 0])
    assert incar["NSW"] == 0 and incar["IBRION"] == -1  # default calculation is a single point
    kpts = (tmp_path / "KPOINTS").read_text().splitlines()
    assert kpts[2].strip().lower().startswith("gamma") and kpts[3].split() == ["5", "5", "1"]
    assert not (tmp_path / "POTCAR").exists()
    assert load_calc_file(tmp_path)["potcar_written"] is False


def test_vasp_mnw110_preset_fields(tmp_path: Path, no_potcar_dir: None) -> None:
    preset = load_template("presets", "mnw110-vasp")
    atoms = Atoms("WMnFeCo", positions=[[0, 0, 0], [0, 0, 2.2], [1.5, 1.5, 9.0], [0, 0, 7.2]], cell=[3.17, 4.48, 30])
    atoms.set_initial_magnetic_moments([0.0, 3.5, 2.8, -1.7])
    VaspEngine().write_inputs(atoms, preset, tmp_path, allow_missing_potcar=True)
    incar = Incar.from_file(tmp_path / "INCAR")
    for key, value in {"ENCUT": 450, "ISPIN": 2, "ISMEAR": 1, "SIGMA": 0.1, "EDIFF": 1e-6, "LORBIT": 11, "NSW": 0}.items():
        assert incar[key] == value, key
    assert "LDIPOL" not in incar and "LDAU" not in incar and "LNONCOLLINEAR" not in incar
    assert incar["MAGMOM"] == pytest.approx([0.0, 3.5, 2.8, -1.7])
    assert preset["potcar_symbols"] == {"Fe": "Fe", "Co": "Co", "Mn": "Mn_pv", "W": "W_pv"}


def test_vasp_missing_potcar_dir_is_configuration_error(tmp_path: Path, no_potcar_dir: None) -> None:
    with pytest.raises(ConfigurationError, match="POTCAR") as err:
        VaspEngine().write_inputs(feo_interleaved(), feo_preset(), tmp_path / "calc")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "calc").exists()


def test_vasp_potcar_dir_from_tipsurf_config(tmp_path: Path, test_potcar_root: Path, no_potcar_dir: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"potcar_dir: {test_potcar_root}\n")
    monkeypatch.setenv("TIPSURF_CONFIG", str(cfg))
    VaspEngine().write_inputs(feo_interleaved(), feo_preset(), tmp_path / "calc")
    assert (tmp_path / "calc" / "POTCAR").read_text().count("End of Dataset") == 2


def test_vasp_missing_potcar_symbol_and_bad_calculation(tmp_path: Path, fake_potcar_dir: Path) -> None:
    preset = feo_preset()
    del preset["potcar_symbols"]["O"]
    with pytest.raises(InputError, match="POTCAR symbol for O"):
        VaspEngine().write_inputs(feo_interleaved(), preset, tmp_path)
    with pytest.raises(InputError, match="unknown VASP calculation"):
        VaspEngine().write_inputs(feo_interleaved(), feo_preset(), tmp_path, calculation="md")


def test_vasp_fingerprint_and_restart(tmp_path: Path, fake_potcar_dir: Path) -> None:
    engine, preset = VaspEngine(), feo_preset()
    atoms = feo_interleaved()
    first = engine.write_inputs(atoms, preset, tmp_path / "p")
    (tmp_path / "p" / "CHGCAR").write_text("density\n")
    again = engine.write_inputs(atoms, preset, tmp_path / "p2", restart_from=tmp_path / "p")
    assert again.fingerprint == first.fingerprint  # restart source is not part of the result
    incar = Incar.from_file(tmp_path / "p2" / "INCAR")
    assert incar["ICHARG"] == 1 and incar["ISTART"] == 0  # no WAVECAR to start from
    assert (tmp_path / "p2" / "CHGCAR").read_text() == "density\n"
    flipped = atoms.copy()
    flipped.set_initial_magnetic_moments([4.0, 0.3, -4.0, -0.2, -2.5])  # apex antiparallel
    assert engine.write_inputs(flipped, preset, tmp_path / "ap").fingerprint != first.fingerprint
    with pytest.raises(InputError, match="no CHGCAR"):
        engine.write_inputs(atoms, preset, tmp_path / "x", restart_from=tmp_path / "ap")
    assert not (tmp_path / "x").exists()


# --- ISPIN follows the preset and the structure; nscf restarts keep ICHARG 11 ---------------------

def _without_ispin(preset: dict) -> dict:
    from tipsurf.engines.presets import merge_preset

    return merge_preset(preset, {"incar": {"ISPIN": None}})  # what `--set incar.ISPIN=null` does


def test_vasp_non_magnetic_calculation_is_possible(tmp_path: Path, fake_potcar_dir: Path) -> None:
    """ISPIN 1 from the preset is kept and writes no MAGMOM (it used to be forced to 2)."""
    from tipsurf.engines.presets import merge_preset

    atoms = feo_interleaved()
    atoms.set_initial_magnetic_moments([0.0] * len(atoms))
    preset = merge_preset(feo_preset(), {"incar": {"ISPIN": 1}})
    first = VaspEngine().write_inputs(atoms, preset, tmp_path / "ispin1")
    incar = Incar.from_file(tmp_path / "ispin1" / "INCAR")
    assert incar["ISPIN"] == 1 and "MAGMOM" not in incar
    # No ISPIN in the preset: a structure without moments is not spin polarised either ...
    VaspEngine().write_inputs(atoms, _without_ispin(feo_preset()), tmp_path / "auto0")
    incar = Incar.from_file(tmp_path / "auto0" / "INCAR")
    assert incar["ISPIN"] == 1 and "MAGMOM" not in incar
    # ... and one with moments is (ISPIN 2 with per-site MAGMOM in POSCAR order).
    second = VaspEngine().write_inputs(feo_interleaved(), _without_ispin(feo_preset()), tmp_path / "auto2")
    incar = Incar.from_file(tmp_path / "auto2" / "INCAR")
    assert incar["ISPIN"] == 2 and incar["MAGMOM"] == pytest.approx([4.0, -4.0, 2.5, 0.3, -0.2])
    # An explicit ISPIN 2 is kept for a structure without moments (MAGMOM written as given).
    VaspEngine().write_inputs(atoms, feo_preset(), tmp_path / "ispin2")
    incar = Incar.from_file(tmp_path / "ispin2" / "INCAR")
    assert incar["ISPIN"] == 2 and incar["MAGMOM"] == pytest.approx([0.0] * 5)
    assert first.parameters["incar"]["ISPIN"] == 1 and first.fingerprint != second.fingerprint


def test_vasp_ispin1_with_moments_or_bad_ispin_is_one_line_error(tmp_path: Path, fake_potcar_dir: Path) -> None:
    from tipsurf.engines.presets import merge_preset

    with pytest.raises(InputError, match="ISPIN 1") as err:
        VaspEngine().write_inputs(feo_interleaved(), merge_preset(feo_preset(), {"incar": {"ISPIN": 1}}), tmp_path / "a")
    assert "\n" not in str(err.value) and not (tmp_path / "a").exists()
    with pytest.raises(InputError, match="ISPIN must be 1"):
        VaspEngine().write_inputs(feo_interleaved(), merge_preset(feo_preset(), {"incar": {"ISPIN": 3}}), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_vasp_nscf_restart_keeps_icharg_11(tmp_path: Path, fake_potcar_dir: Path) -> None:
    """A non-self-consistent run reads the copied CHGCAR with ICHARG 11 (it used to become 1)."""
    engine, preset, atoms = VaspEngine(), feo_preset(), feo_interleaved()
    engine.write_inputs(atoms, preset, tmp_path / "scf")
    (tmp_path / "scf" / "CHGCAR").write_text("density\n")
    engine.write_inputs(atoms, preset, tmp_path / "nscf", restart_from=tmp_path / "scf", calculation="nscf")
    incar = Incar.from_file(tmp_path / "nscf" / "INCAR")
    assert incar["ICHARG"] == 11 and incar["ISTART"] == 0 and incar["NSW"] == 0
    assert (tmp_path / "nscf" / "CHGCAR").read_text() == "density\n"
    (tmp_path / "scf" / "WAVECAR").write_bytes(b"\0" * 8)
    engine.write_inputs(atoms, preset, tmp_path / "nscf_wave", restart_from=tmp_path / "scf", calculation="nscf")
    incar = Incar.from_file(tmp_path / "nscf_wave" / "INCAR")
    assert incar["ICHARG"] == 11 and incar["ISTART"] == 1
    # Without the preset's calculations block the built-in nscf settings (ICHARG 11) hold too.
    bare = {k: v for k, v in preset.items() if k != "calculations"}
    engine.write_inputs(atoms, bare, tmp_path / "nscf_default", restart_from=tmp_path / "scf", calculation="nscf")
    assert Incar.from_file(tmp_path / "nscf_default" / "INCAR")["ICHARG"] == 11
    # A self-consistent restart still starts from the density with ICHARG 1.
    engine.write_inputs(atoms, preset, tmp_path / "scf2", restart_from=tmp_path / "scf")
    assert Incar.from_file(tmp_path / "scf2" / "INCAR")["ICHARG"] == 1


def test_vasp_nscf_without_density_is_refused_before_running(tmp_path: Path, fake_potcar_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIPSURF_VASP_COMMAND", "no_such_vasp_binary_xyz")
    VaspEngine().write_inputs(feo_interleaved(), feo_preset(), tmp_path / "nscf", calculation="nscf")
    with pytest.raises(InputError, match="ICHARG 11") as err:
        VaspEngine().run(tmp_path / "nscf")
    assert "\n" not in str(err.value)
