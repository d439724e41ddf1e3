"""QE engine inputs: presets, species split, starting magnetization, Hubbard, dipole, k-points,
restart data, fingerprints and pseudopotential checks (no pw.x run; QE version from config)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bcc110

from tipsurf.config import Config
from tipsurf.engines.presets import known_presets, load_preset, merge_preset
from tipsurf.engines.qe import QEEngine
from tipsurf.engines.qe.inputs import get_pw_parameter, vacuum_gap
from tipsurf.engines.qe.pw_input import set_pw_parameter
from tipsurf.errors import ConfigurationError, InputError



def _cfg(pseudos, version: str = "6.7") -> Config:
    """The test's pseudopotentials (../shared GBRV, or tipsurf's generated set) and a pinned QE version."""
    return pseudos.config(qe_version=version)


def _pw(directory: Path) -> str:
    return (directory / "pw.in").read_text()


def _system_values(text: str, key: str) -> dict[int, float]:
    return {int(i): float(v.replace("d", "e")) for i, v in re.findall(rf"{re.escape(key)}\((\d+)\)\s*=\s*(\S+)", text)}


def _species(text: str) -> list[str]:
    block = text.split("ATOMIC_SPECIES")[1].split("CELL_PARAMETERS")[0]
    return [line.split()[0] for line in block.strip().splitlines()]


def _atom_labels(text: str) -> list[str]:
    block = text.split("ATOMIC_POSITIONS angstrom")[1].split("K_POINTS")[0]
    return [line.split()[0] for line in block.strip().splitlines()]


def mn_slab(vacuum_A: float = 8.0) -> Atoms:
    slab = bcc110("W", size=(2, 1, 2), a=3.17, vacuum=vacuum_A)
    top = slab.positions[:, 2] > slab.positions[:, 2].max() - 0.1
    symbols = np.array(slab.get_chemical_symbols(), dtype=object)
    symbols[top] = "Mn"
    slab.set_chemical_symbols(list(symbols))
    moments = np.zeros(len(slab))
    mn = np.where(top)[0]
    moments[mn[0]], moments[mn[1]] = 3.0, -3.0
    slab.set_initial_magnetic_moments(moments)
    slab.info.update({"site": "top", "distance_A": 5.0, "tip_indices": [], "surface": "mn-w110"})
    return slab


def test_shipped_presets_load_and_unknown_lists_known() -> None:
    assert {"fast", "tio-mgo-qe"} <= set(known_presets())
    fast = load_preset("fast", code="qe")
    assert fast["code"] == "qe" and 30 <= fast["ecutwfc_Ry"] <= 40
    tio = load_preset("tio-mgo-qe", code="qe")
    assert tio["ecutwfc_Ry"] == 70 and tio["vdw_corr"] == "dft-d3" and tio["hubbard_u_required"] == ["Ti"]
    assert "Ti" not in tio["hubbard_u_eV"] and "Hu & Metiu" in tio["hubbard_u_source"]  # no placeholder U
    assert tio["dipole_correction"] is True and "psl.1.0.0" in tio["pseudopotentials"]["Ti"]
    with pytest.raises(InputError, match="fast"):
        load_preset("no-such-preset")


def test_merge_preset_nested_and_validated() -> None:
    merged = merge_preset(load_preset("fast"), {"kpoints": {"mesh": [2, 2, 1]}, "hubbard_u_eV": {"Ti": 4.0}})
    assert merged["kpoints"] == {"mesh": [2, 2, 1]}
    assert merged["hubbard_u_eV"] == {"Ti": 4.0}
    with pytest.raises(InputError, match="mixing_beta"):
        merge_preset(load_preset("fast"), {"mixing_beta": 3.0})


def test_species_split_and_starting_magnetization_fraction(qe_pseudos, tmp_path: Path) -> None:
    slab = mn_slab()
    QEEngine().write_inputs(slab, load_preset("fast"), tmp_path, config=_cfg(qe_pseudos))
    text = _pw(tmp_path)
    species = _species(text)
    assert species == ["W", "Mn1", "Mn2"]
    start = _system_values(text, "starting_magnetization")
    # moment / valence, never the raw muB value, and opposite for the AFM pair
    valence = qe_pseudos.valence
    assert start[2] == pytest.approx(3.0 / valence["Mn"]) and start[3] == pytest.approx(-3.0 / valence["Mn"])
    assert start[1] == 0.0
    labels = _atom_labels(text)
    moments = slab.get_initial_magnetic_moments()
    for label, moment in zip(labels, moments):
        assert start[species.index(label) + 1] * valence[label.rstrip("12")] == pytest.approx(moment)
    assert "nspin = 2" in text and "tprnfor = .true." in text


def test_starting_magnetization_is_clipped_to_one(qe_pseudos, tmp_path: Path) -> None:
    atoms = Atoms("H", positions=[[0, 0, 0]], cell=[6, 6, 6], pbc=True)
    atoms.set_initial_magnetic_moments([3.0])
    QEEngine().write_inputs(atoms, load_preset("fast"), tmp_path, config=_cfg(qe_pseudos))
    assert _system_values(_pw(tmp_path), "starting_magnetization")[1] == 1.0


def _ti_pair() -> Atoms:
    atoms = Atoms("Ti2O", positions=[[0, 0, 5], [2.5, 0, 5], [0, 2.5, 5]], cell=[5, 5, 20], pbc=True)
    atoms.set_initial_magnetic_moments([2.0, -2.0, 0.0])
    return atoms


def test_hubbard_u_old_syntax_names_split_species(qe_pseudos, tmp_path: Path) -> None:
    preset = merge_preset(load_preset("fast"), {"hubbard_u_eV": {"Ti": 3.0}})
    QEEngine().write_inputs(_ti_pair(), preset, tmp_path, config=_cfg(qe_pseudos, "6.7"))
    text = _pw(tmp_path)
    species = _species(text)
    assert species[:2] == ["Ti1", "Ti2"]
    u = _system_values(text, "Hubbard_U")
    assert u == {1: 3.0, 2: 3.0}
    assert "lda_plus_u = .true." in text and "HUBBARD" not in text


def test_hubbard_u_card_for_qe_71_and_later(qe_pseudos, tmp_path: Path) -> None:
    preset = merge_preset(load_preset("fast"), {"hubbard_u_eV": {"Ti": 3.0}})
    QEEngine().write_inputs(_ti_pair(), preset, tmp_path, config=_cfg(qe_pseudos, "7.2"))
    text = _pw(tmp_path)
    assert "lda_plus_u" not in text and "Hubbard_U(" not in text
    card = text.split("HUBBARD {atomic}")[1].strip().splitlines()
    assert card == ["U Ti1-3d 3.0000", "U Ti2-3d 3.0000"]


def test_dipole_layer_sits_in_vacuum_and_d3(qe_pseudos, tmp_path: Path) -> None:
    slab = mn_slab(vacuum_A=7.0)
    slab.translate([0, 0, 4.0])  # slab not centred: the gap straddles the cell boundary
    preset = merge_preset(load_preset("fast"), {"vdw_corr": "dft-d3"})
    QEEngine().write_inputs(slab, preset, tmp_path, config=_cfg(qe_pseudos))
    text = _pw(tmp_path)
    assert "tefield = .true." in text and "dipfield = .true." in text and "edir = 3" in text
    assert "vdw_corr = 'dft-d3'" in text
    emaxpos = float(get_pw_parameter(tmp_path / "pw.in", "system", "emaxpos"))
    eopreg = float(get_pw_parameter(tmp_path / "pw.in", "system", "eopreg"))
    frac = np.mod(slab.get_scaled_positions(wrap=False)[:, 2], 1.0)
    region = np.mod(np.linspace(emaxpos, emaxpos + eopreg, 50), 1.0)
    height = slab.cell[2, 2]
    # every point of the sawtooth region is >= 2 A from every atom (periodically)
    dist = np.abs(region[:, None] - frac[None, :])
    dist = np.minimum(dist, 1 - dist) * height
    assert dist.min() > 2.0
    assert vacuum_gap(slab)[0] > 10.0


def test_kpoint_density_gives_one_kz_for_slab(qe_pseudos, tmp_path: Path) -> None:
    slab = mn_slab()
    QEEngine().write_inputs(slab, load_preset("fast"), tmp_path, config=_cfg(qe_pseudos))
    mesh = _pw(tmp_path).split("K_POINTS automatic")[1].split()[:3]
    recip = 2 * np.pi * np.linalg.norm(slab.cell.reciprocal(), axis=1)
    density = load_preset("fast")["kpoints"]["density_per_A-1"]
    assert [int(m) for m in mesh] == [int(np.ceil(density * recip[0])), int(np.ceil(density * recip[1])), 1]


def test_fingerprint_and_metadata(qe_pseudos, tmp_path: Path) -> None:
    engine, cfg, preset = QEEngine(), _cfg(qe_pseudos), load_preset("fast")
    slab = mn_slab()
    first = engine.write_inputs(slab, preset, tmp_path / "a", config=cfg)
    again = engine.write_inputs(slab, preset, tmp_path / "b", config=cfg, walltime_s=3600)
    assert first.fingerprint == again.fingerprint  # walltime steers execution only
    flipped = slab.copy()
    flipped.set_initial_magnetic_moments(-slab.get_initial_magnetic_moments())
    assert engine.write_inputs(flipped, preset, tmp_path / "c", config=cfg).fingerprint != first.fingerprint
    softer = merge_preset(preset, {"mixing_beta": 0.1})
    assert engine.write_inputs(slab, softer, tmp_path / "d", config=cfg).fingerprint != first.fingerprint
    info = json.loads((tmp_path / "a" / "tipsurf_calc.json").read_text())
    assert info["metadata"]["site"] == "top" and info["metadata"]["distance_A"] == 5.0
    assert info["pseudopotentials"]["Mn"]["md5"] == qe_pseudos.md5("Mn")
    if qe_pseudos.source == "shared":
        assert qe_pseudos.md5("Mn") == "632186d08a0131b94c695e34c73bd240"  # GBRV mn_pbe_v1.5 (MANIFEST.md)
    assert "max_seconds = 3240.0" in (tmp_path / "b" / "pw.in").read_text()


def test_restart_from_copies_density_and_sets_startingpot(qe_pseudos, tmp_path: Path) -> None:
    engine, cfg = QEEngine(), _cfg(qe_pseudos)
    with pytest.raises(InputError, match="charge density"):
        engine.write_inputs(mn_slab(), load_preset("fast"), tmp_path / "x", config=cfg, restart_from=tmp_path / "none")
    save = tmp_path / "prev" / "out" / "pwscf.save"
    save.mkdir(parents=True)
    (save / "charge-density.dat").write_bytes(b"\x00density")
    # a density whose structure is unknown is never copied: it might belong to another cell
    engine.write_inputs(mn_slab(), load_preset("fast"), tmp_path / "blind", config=cfg, restart_from=tmp_path / "prev")
    assert get_pw_parameter(tmp_path / "blind" / "pw.in", "electrons", "startingpot") == "atomic"
    engine.write_inputs(mn_slab(), load_preset("fast"), tmp_path / "prev", config=cfg)  # the same structure ran there
    (save / "charge-density.dat").write_bytes(b"\x00density")
    engine.write_inputs(mn_slab(), load_preset("fast"), tmp_path / "new", config=cfg, restart_from=tmp_path / "prev")
    assert (tmp_path / "new" / "out" / "pwscf.save" / "charge-density.dat").read_bytes() == b"\x00density"
    assert get_pw_parameter(tmp_path / "new" / "pw.in", "electrons", "startingpot") == "file"


def test_set_pw_parameter_edits_in_place(qe_pseudos, tmp_path: Path) -> None:
    QEEngine().write_inputs(mn_slab(), load_preset("fast"), tmp_path, config=_cfg(qe_pseudos))
    path = tmp_path / "pw.in"
    set_pw_parameter(path, "electrons", "mixing_beta", 0.05)
    set_pw_parameter(path, "electrons", "startingpot", "file")
    assert get_pw_parameter(path, "electrons", "mixing_beta") == "0.05"
    assert path.read_text().count("mixing_beta") == 1
    set_pw_parameter(path, "electrons", "startingpot", None)
    assert get_pw_parameter(path, "electrons", "startingpot") is None


def test_pseudopotential_mismatch_and_missing(qe_pseudo_library, tmp_path: Path) -> None:
    """A preset's map naming another element's file, or a file not in the configured pseudo_dir."""
    atoms = Atoms("Fe", positions=[[0, 0, 0]], cell=[2.85] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([2.0])
    files = qe_pseudo_library.files
    base = merge_preset(load_preset("fast"), qe_pseudo_library.preset_overrides())
    QEEngine().write_inputs(atoms, base, tmp_path / "ok", config=_cfg(qe_pseudo_library))  # control: the map fits
    wrong = merge_preset(base, {"pseudopotentials": {"Fe": files["Co"]}})
    with pytest.raises(ConfigurationError, match="is for Co, not Fe"):
        QEEngine().write_inputs(atoms, wrong, tmp_path / "a", config=_cfg(qe_pseudo_library))
    missing = merge_preset(base, {"pseudopotentials": {"Fe": "Fe.nothere.UPF"}})
    with pytest.raises(ConfigurationError, match="not found"):
        QEEngine().write_inputs(atoms, missing, tmp_path / "b", config=_cfg(qe_pseudo_library))
    assert not (tmp_path / "a" / "pw.in").exists() and not (tmp_path / "b" / "pw.in").exists()


def test_vasp_preset_rejected_by_qe_engine(qe_pseudos, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not qe"):
        QEEngine().write_inputs(mn_slab(), {"code": "vasp", "name": "v"}, tmp_path, config=_cfg(qe_pseudos))


def test_run_refuses_changed_pseudopotential(qe_pseudo_library, tmp_path: Path) -> None:
    pseudo = tmp_path / "pseudo"
    pseudo.mkdir()
    fe, co = qe_pseudo_library.files["Fe"], qe_pseudo_library.files["Co"]
    for name in (fe, co):
        (pseudo / name).write_bytes((qe_pseudo_library.folder / name).read_bytes())
    atoms = Atoms("FeCo", positions=[[0, 0, 0], [1.4, 1.4, 1.4]], cell=[2.85] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([2.0, 1.0])
    cfg = Config(pseudo_dir=pseudo, qe_version="6.7", commands={"pw": ["pw.x"]})
    preset = merge_preset(load_preset("fast"), qe_pseudo_library.preset_overrides())
    QEEngine().write_inputs(atoms, preset, tmp_path / "calc", config=cfg)
    # same element, different file content (another valid Co UPF would do the same)
    (pseudo / co).write_text((pseudo / co).read_text() + "\n")
    with pytest.raises(ConfigurationError, match="changed since the inputs were written"):
        QEEngine().run(tmp_path / "calc", config=cfg)
    (pseudo / co).write_bytes((qe_pseudo_library.folder / co).read_bytes())
    (pseudo / fe).unlink()
    with pytest.raises(ConfigurationError, match="not found"):
        QEEngine().run(tmp_path / "calc", config=cfg)
    assert not (tmp_path / "calc" / "pw.out").exists()


def test_a_vacuum_gap_of_exactly_the_minimum_is_a_slab_despite_round_off() -> None:
    # a 5 A gap converted through pymatgen comes back 1.8e-15 A short: before, that turned the
    # dipole correction off and changed the k-mesh and the fingerprint
    from ase import Atoms

    from tipsurf.engines.qe.inputs import is_slab

    slab = Atoms("Fe2", positions=[[0, 0, 0], [0, 0, 2.0]], cell=[2.5, 2.5, 7.0 - 1.8e-15], pbc=True)
    assert is_slab(slab, min_vacuum_A=5.0)
    assert not is_slab(slab, min_vacuum_A=5.01)
