"""Typed input sets per code with layered settings (issue 13 item 8): defaults < preset < user."""

from __future__ import annotations

from pathlib import Path

import pytest
from ase import Atoms

from tipsurf.cli.overrides import parse_set_options
from tipsurf.engines.input_sets import INPUT_SETS, input_set
from tipsurf.engines.presets import load_preset, merge_preset
from tipsurf.engines.qe.inputs import build_namelists, split_species
from tipsurf.errors import InputError


def test_unknown_key_is_one_line_naming_it_and_the_valid_ones() -> None:
    with pytest.raises(InputError) as err:
        merge_preset(load_preset("fast"), parse_set_options(["mixing_bet=0.1"]))
    message = str(err.value)
    assert "\n" not in message and "'mixing_bet'" in message and "did you mean 'mixing_beta'" in message
    assert "valid: " in message and "ecutwfc_Ry" in message and "incar" not in message.split("valid: ")[1]


def test_each_code_has_its_own_raw_settings() -> None:
    qe = merge_preset(load_preset("fast"), parse_set_options(["extra.electrons.mixing_ndim=12"]))
    assert qe["extra"]["electrons"]["mixing_ndim"] == 12
    vasp = merge_preset(load_preset("mnw110-vasp"), parse_set_options(["incar.NELM=300"]))
    assert vasp["incar"]["NELM"] == 300
    with pytest.raises(InputError, match=r"unknown key 'extra' for vasp \(raw INCAR tags go under 'incar'"):
        merge_preset(load_preset("mnw110-vasp"), parse_set_options(["extra.electrons.mixing_ndim=12"]))
    with pytest.raises(InputError, match=r"unknown key 'incar' for qe \(raw pw.x settings go under 'extra"):
        merge_preset(load_preset("fast"), {"incar": {"NELM": 300}})
    with pytest.raises(InputError, match=r"unknown key 'extra.electron'; valid: control, system, electrons"):
        merge_preset(load_preset("fast"), {"extra": {"electron": {"mixing_ndim": 12}}})


def test_types_are_data_and_checked_per_layer() -> None:
    assert INPUT_SETS["qe"].keys["mixing_beta"].default == 0.3
    with pytest.raises(InputError, match=r"overrides: 'electron_maxstep' must be a positive integer, got 'abc'"):
        merge_preset(load_preset("fast"), {"electron_maxstep": "abc"})
    with pytest.raises(InputError, match=r"'kpoints.mesh' must be three positive integers"):
        merge_preset(load_preset("fast"), {"kpoints": {"mesh": [2, 2]}})
    with pytest.raises(InputError, match=r"unknown key 'kpoints.mseh'"):
        merge_preset(load_preset("fast"), {"kpoints": {"mseh": [2, 2, 1]}})
    with pytest.raises(InputError, match=r"'hubbard_l.Ti' must be an LDAUL"):
        merge_preset(load_preset("tio-mgo-vasp"), {"hubbard_l": {"Ti": 7}})
    assert merge_preset(load_preset("fast"), {"electron_maxstep": 150.0})["electron_maxstep"] == 150.0


def test_layers_defaults_under_preset_under_user() -> None:
    preset = load_preset("fast")
    user = {"mixing_beta": 0.1, "vdw_corr": None, "kpoints": {"mesh": [2, 2, 1]}}
    settings = input_set("qe").resolve(preset, user)
    assert settings["mixing_beta"] == 0.1  # user over preset
    assert settings["mixing_mode"] == preset["mixing_mode"] != INPUT_SETS["qe"].defaults["mixing_mode"]  # preset over defaults
    assert settings["dipole_keeps_symmetry"] is False and "dipole_keeps_symmetry" not in preset  # defaults fill the rest
    assert "vdw_corr" not in settings and settings["kpoints"] == {"mesh": [2, 2, 1]}  # None removes; kpoints replaced
    assert merge_preset(preset, user) == input_set("qe").layer(preset, user)  # what is fingerprinted: no defaults


def test_qe_defaults_are_what_the_namelists_use_without_them() -> None:
    atoms = Atoms("Fe2", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[2.85] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([2.0, 2.0])
    split = split_species(atoms, {"Fe": "Fe.UPF"}, {"Fe": 8.0})
    bare = {"code": "qe"}
    with_defaults = input_set("qe").resolve(bare)
    assert build_namelists(atoms, bare, split, (6, 7), pseudo_dir=Path(".")) == \
        build_namelists(atoms, with_defaults, split, (6, 7), pseudo_dir=Path("."))


def test_which_keys_enter_the_fingerprint_is_data() -> None:
    preset = merge_preset(load_preset("fast"), {"scf_recovery": [], "relax_parts_before_scan": True})
    physical = input_set("qe").fingerprinted(preset)
    assert not {"name", "description", "code", "pseudopotentials", "scf_recovery", "relax_parts_before_scan"} & set(physical)
    assert physical["ecutwfc_Ry"] == preset["ecutwfc_Ry"] and "kpoints" in physical


def test_real_space_augmentation_is_pw_tqr_and_a_physics_setting(tmp_path: Path) -> None:
    from tipsurf.engines.qe.inputs import physics_settings, render_namelists

    atoms = Atoms("Fe2", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[2.85] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([2.0, 2.0])
    split = split_species(atoms, {"Fe": "Fe.UPF"}, {"Fe": 8.0})
    on = input_set("qe").resolve({"code": "qe", "real_space_augmentation": True})
    off = input_set("qe").resolve({"code": "qe"})
    namelists_on, _ = build_namelists(atoms, on, split, (6, 7), pseudo_dir=Path("."))
    namelists_off, _ = build_namelists(atoms, off, split, (6, 7), pseudo_dir=Path("."))
    assert namelists_on["electrons"]["tqr"] is True and "tqr" not in namelists_off["electrons"]
    (tmp_path / "pw.in").write_text(render_namelists(namelists_on))
    assert physics_settings(tmp_path / "pw.in")["electrons.tqr"] == ".true."  # p/ap pairs must agree on it
    assert input_set("qe").fingerprinted(on)["real_space_augmentation"] is True
    assert load_preset("demo")["real_space_augmentation"] is True
