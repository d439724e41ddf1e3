"""The VASP adsorbate campaign (issue 11 items 2, 4, 5): complete inputs for every point.

VASP is not run (licensed): the campaign is added to a temporary project's embedded launchpad,
then each Firework's own CalcTask fields (spec, merged preset, calculation) are handed to the
VASP engine exactly as the task does at run time, and the INCAR, POSCAR, KPOINTS and POTCAR it
writes are read back with pymatgen and checked field by field.  The POTCARs are test-written
stand-ins (tests/potcar_files.py: VASP's text layout, marked TEST, never run).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase import Atoms
from pymatgen.io.vasp.inputs import Incar, Kpoints, Poscar

from potcar_files import potcar_text
from tipsurf.cli import main
from tipsurf.engines.vasp import VaspEngine
from tipsurf.errors import ConfigurationError, InputError
from tipsurf.workflows import store
from tipsurf.api.campaigns import add_adsorbate_campaign
from tipsurf.workflows.common import SPEC_FINGERPRINT, SPEC_POINT, SPEC_ROLE, derived_fingerprint
from tipsurf.workflows.launchpad import open_launchpad
from tipsurf.workflows.assembly import build_atoms

# the POTCARs are the tests' own stand-ins, unknown to pymatgen's hash table by design
pytestmark = pytest.mark.filterwarnings("ignore::pymatgen.io.vasp.inputs.UnknownPotcarWarning")

#: symbol -> (element, TITEL date, ZVAL, POMASS, VRHFIN configuration, ENMAX, projector l) of the
#: preset's POTCAR set (tio-mgo-vasp potcar_symbols); numbers are plausible, not VASP's.
TIO_POTCARS: dict[str, tuple[str, str, float, float, str, float, tuple[int, ...]]] = {
    "Ti_sv": ("Ti", "26Sep2005", 12.0, 47.880, "3s3p4s3d", 274.61, (0, 0, 1, 1, 2, 2)),
    "Mg": ("Mg", "13Apr2007", 2.0, 24.305, "s2p0", 200.00, (0, 0, 1, 1)),
    "O": ("O", "08Apr2002", 6.0, 16.000, "s2p4", 400.00, (0, 0, 1, 1)),
    "Ag": ("Ag", "02Apr2005", 11.0, 107.868, "d10 p1", 249.84, (0, 0, 1, 1, 2, 2)),
    "H": ("H", "15Jun2001", 1.0, 1.000, "s1", 250.00, (0, 0, 1)),
}
U_TI_EV = 4.2  # a user-given U for the test (the preset requires one, see tio-mgo-vasp.yaml)
GRID = {"species": ["Ti", "TiH", "TiH2"], "sites": ["o-top", "bridge"], "mgo_layers": [2]}
A_AG_A = 4.15  # the presets' ag_lattice_constant_A


def _write_potcars(root: Path, symbols: list[str]) -> Path:
    folder = root / "POT_GGA_PAW_PBE"
    folder.mkdir(parents=True, exist_ok=True)
    for symbol in symbols:
        with gzip.open(folder / f"POTCAR.{symbol}.gz", "wt") as handle:
            handle.write(potcar_text(symbol, *TIO_POTCARS[symbol]))
    return root


def _use_potcar_dir(monkeypatch: pytest.MonkeyPatch, root: Path | None) -> None:
    from pymatgen.core import SETTINGS

    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    monkeypatch.setitem(SETTINGS, "PMG_VASP_PSP_DIR", None if root is None else str(root))


@pytest.fixture
def tio_potcars(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Test POTCARs Ti_sv, Mg, O, Ag, H as pymatgen's PMG_VASP_PSP_DIR."""
    root = _write_potcars(tmp_path_factory.mktemp("tio-potcars"), list(TIO_POTCARS))
    _use_potcar_dir(monkeypatch, root)
    return root


def _add(project: Path, **kwargs: Any):  # noqa: ANN202 - AddReport
    options = {"code": "vasp", "preset": "tio-mgo-vasp", "preset_overrides": {"hubbard_u_eV": {"Ti": U_TI_EV}},
               "name": "vasp-ads", "project_dir": project, **GRID, **kwargs}
    return add_adsorbate_campaign(**options)


def _calc_fireworks(project: Path) -> dict[str, dict[str, Any]]:
    """``{label: firework document}`` of the campaign's calculations."""
    with open_launchpad(project_dir=project) as handle:
        docs = list(handle.lp.fireworks.find({}))
    return {d["spec"][SPEC_POINT]["label"]: d for d in docs if d["spec"][SPEC_ROLE] != "analysis"}


def _written(doc: dict[str, Any], folder: Path) -> tuple[Atoms, Incar, Poscar]:
    """Write the point's inputs as its CalcTask does; the fingerprint must be the planned one.

    An adsorbate point waits for the relaxed slab (``relaxed_from``); its inputs are written here
    on the as-built slab, whose fingerprint with the slab's is the planned one.
    """
    task = doc["spec"]["_tasks"][0]
    atoms = build_atoms(task["spec"])
    prepared = VaspEngine().write_inputs(atoms, task["preset"], folder, calculation=task["calculation"])
    assert derived_fingerprint(prepared.fingerprint, task["relaxed_from"]) == task["fingerprint"] == doc["spec"][SPEC_FINGERPRINT]
    return atoms, Incar.from_file(folder / "INCAR"), Poscar.from_file(folder / "POSCAR")


def _centre_of_mass_frac(atoms: Atoms) -> np.ndarray:
    masses = atoms.get_masses()
    com = (masses[:, None] * atoms.positions).sum(axis=0) / masses.sum()
    return np.linalg.solve(np.asarray(atoms.cell).T, com) % 1.0


def _check_common_incar(incar: Incar, atoms: Atoms) -> None:
    """Fields every point of the campaign carries (preset protocol, Bader, dipole, relaxation)."""
    expected = {"PREC": "Accurate", "ENCUT": 400, "EDIFF": 1e-6, "ISPIN": 2, "ISMEAR": 0, "SIGMA": 0.05,
                "IVDW": 11, "LASPH": True, "LORBIT": 11, "LCHARG": True, "LAECHG": True, "LWAVE": False,
                "LDIPOL": True, "IDIPOL": 3, "IBRION": 2, "NSW": 100, "EDIFFG": -0.02, "ISIF": 2}
    for key, value in expected.items():
        assert incar[key] == value, key
    assert incar["DIPOL"] == pytest.approx(_centre_of_mass_frac(atoms), abs=1e-6)
    assert len(incar["MAGMOM"]) == len(atoms)


def _check_ldau(incar: Incar, poscar: Poscar) -> None:
    species = poscar.site_symbols
    assert incar["LDAU"] is True and incar["LDAUTYPE"] == 2 and incar["LMAXMIX"] == 4
    assert incar["LDAUL"] == [2 if sp == "Ti" else -1 for sp in species]
    assert incar["LDAUU"] == pytest.approx([U_TI_EV if sp == "Ti" else 0.0 for sp in species])
    assert incar["LDAUJ"] == pytest.approx([0.0] * len(species))


def _check_potcar(folder: Path, poscar: Poscar) -> None:
    titels = [line.split("=", 1)[1].split(";")[0].strip() for line in (folder / "POTCAR").read_text().splitlines()
              if "TITEL" in line]
    symbols = {"Ti": "Ti_sv", "Mg": "Mg", "O": "O", "Ag": "Ag", "H": "H"}
    assert titels == [f"PAW_PBE {symbols[sp]} {TIO_POTCARS[symbols[sp]][1]}" for sp in poscar.site_symbols]


def _check_kpoints(folder: Path) -> None:
    kpoints = Kpoints.from_file(folder / "KPOINTS")
    assert kpoints.style.name == "Gamma" and list(kpoints.kpts[0]) == [5, 5, 1]


def test_vasp_campaign_adds_complete_inputs_for_every_point(tmp_path: Path, tio_potcars: Path) -> None:
    report = _add(tmp_path / "project")
    assert len(report.added) == 3 * 2 + 1 + 1 and report.analysis_added  # TiHx x sites, slab, H2
    docs = _calc_fireworks(tmp_path / "project")
    assert sorted(d["spec"][SPEC_ROLE] for d in docs.values()) == ["adsorbate"] * 6 + ["reference", "slab"]
    assert all(d["spec"]["_tasks"][0]["code"] == "vasp" for d in docs.values())
    # the slab and H2 can start; the adsorbates wait for the slab's relaxation, on which they are built
    assert {d["spec"][SPEC_ROLE]: d["state"] for d in docs.values()} == {"slab": "READY", "reference": "READY", "adsorbate": "WAITING"}
    for k, (label, doc) in enumerate(sorted(docs.items())):
        folder = tmp_path / f"point{k}"
        atoms, incar, poscar = _written(doc, folder)
        _check_common_incar(incar, atoms)
        _check_potcar(folder, poscar)
        _check_kpoints(folder)
        if "Ti" in poscar.site_symbols:
            _check_ldau(incar, poscar)
        else:
            assert "LDAU" not in incar, label


def test_vasp_ti_on_o_top_point_field_by_field(tmp_path: Path, tio_potcars: Path) -> None:
    _add(tmp_path / "project", species=["TiH2"], sites=["o-top"])
    docs = _calc_fireworks(tmp_path / "project")
    (label, doc), = [(k, d) for k, d in docs.items() if d["spec"][SPEC_POINT].get("species") == "TiH2"]
    atoms, incar, poscar = _written(doc, tmp_path / "tih2")
    assert label == "TiH2-o-top-mgo2-ag4-2x2-a4.15"
    # POSCAR: species grouped in order of appearance; 2x2 cell of a = 4.15 A, 4 Ag + 2 MgO layers
    assert poscar.site_symbols == ["Ag", "Mg", "O", "Ti", "H"] and poscar.natoms == [32, 16, 16, 1, 2]
    lattice = poscar.structure.lattice
    assert lattice.a == pytest.approx(2 * A_AG_A) and lattice.b == pytest.approx(2 * A_AG_A)
    # MAGMOM per site in POSCAR order: Ti +2 muB, every other site (small) 0
    magmom = np.asarray(incar["MAGMOM"])
    assert magmom[64] == pytest.approx(2.0) and np.all(np.abs(np.delete(magmom, 64)) <= 0.1)
    _check_common_incar(incar, atoms)
    _check_ldau(incar, poscar)
    assert incar["LDAUL"] == [-1, -1, -1, 2, -1] and incar["LDAUU"] == pytest.approx([0, 0, 0, U_TI_EV, 0])
    # DIPOL in the middle of the slab, far from the sawtooth plane half a cell away
    z = poscar.structure.frac_coords[:, 2]
    assert z[:64].min() < incar["DIPOL"][2] < z[:64].max()
    # Ti above a top-layer O (o-top); bottom half of Ag fixed, Ti and H free (selective dynamics)
    ti = poscar.structure.cart_coords[64]
    top_o = max(range(48, 64), key=lambda i: poscar.structure.cart_coords[i][2])
    assert np.allclose(ti[:2], poscar.structure.cart_coords[top_o][:2], atol=1e-6)
    flags = np.asarray(poscar.selective_dynamics)
    assert not flags[:16].any() and flags[16:].all()  # Ag layers 1-2 fixed; the rest free
    _check_potcar(tmp_path / "tih2", poscar)


def test_default_cell_isolates_ti_and_is_stated(tmp_path: Path, tio_potcars: Path) -> None:
    report = _add(tmp_path / "project", species=["Ti"], sites=["bridge"])
    slab = [p for p in report.added if p["role"] == "slab"][0]
    assert slab["label"] == "slab mgo2-ag4-2x2-a4.15 (2x2 of a = 4.150 A: 8.30 x 8.30 A, Ti-Ti 8.30 A)"
    ti_ti_A = slab["metadata"]["lateral_cell"]["ti_ti_A"]
    assert ti_ti_A == pytest.approx(2 * A_AG_A) and ti_ti_A >= 8.0
    with open_launchpad(project_dir=tmp_path / "project") as handle:
        inputs = store.get_campaign(handle.db, "vasp-ads")["inputs"]
    assert inputs["slab_options"] == {"size": 2, "a_A": A_AG_A} and inputs["lateral_cell"]["isolated"] is True
    small = _add(tmp_path / "small", species=["Ti"], sites=["bridge"], slab_options={"size": 1})
    label = [p for p in small.added if p["role"] == "slab"][0]["label"]
    assert "Ti-Ti 4.15 A (< 8 A: not an isolated adsorbate)" in label


def test_missing_potcar_is_one_line_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_potcar_dir(monkeypatch, None)  # no POTCAR folder configured at all
    with pytest.raises(ConfigurationError, match="PMG_VASP_PSP_DIR") as err:
        _add(tmp_path / "none")
    assert "\n" not in str(err.value) and "potcar_dir" in str(err.value)
    assert not (tmp_path / "none" / ".tipsurf").exists()
    _use_potcar_dir(monkeypatch, _write_potcars(tmp_path / "potcars", ["Ti_sv", "Mg", "O", "H"]))  # no Ag
    with pytest.raises(ConfigurationError, match="no POTCAR for 'Ag'") as err:
        _add(tmp_path / "no-ag")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "no-ag" / ".tipsurf").exists()


def test_missing_potcar_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _use_potcar_dir(monkeypatch, None)
    args = ["campaign", "adsorbates", "--code", "vasp", "--preset", "tio-mgo-vasp", "--species", "Ti",
            "--mgo-layers", "2", "--set", f"hubbard_u_eV.Ti={U_TI_EV}", "--project", str(tmp_path)]
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "POTCAR" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / ".tipsurf").exists()


def test_hubbard_u_must_be_given_for_ti(tmp_path: Path, tio_potcars: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for code, preset in (("vasp", "tio-mgo-vasp"), ("qe", "tio-mgo-qe")):
        with pytest.raises(InputError, match=r"no Hubbard U for Ti .*--set hubbard_u_eV\.Ti=") as err:
            add_adsorbate_campaign(code=code, preset=preset, project_dir=tmp_path, **GRID)
        assert "\n" not in str(err.value) and "Hu & Metiu" in str(err.value)
    args = ["campaign", "adsorbates", "--code", "vasp", "--preset", "tio-mgo-vasp", "--project", str(tmp_path)]
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "hubbard_u_eV.Ti" in err and len(err.splitlines()) == 1
    assert not (tmp_path / ".tipsurf").exists()


def test_bader_flags_cannot_be_switched_off(tmp_path: Path, tio_potcars: Path) -> None:
    overrides = {"hubbard_u_eV": {"Ti": U_TI_EV}, "incar": {"LAECHG": False}}
    with pytest.raises(InputError, match="LAECHG"):
        _add(tmp_path, preset_overrides=overrides)
    assert not (tmp_path / ".tipsurf").exists()


def test_as_built_slab_on_the_command_line_drops_the_wait(tmp_path: Path, tio_potcars: Path) -> None:
    """``--as-built-slab``: every point on the as-built slab, none waiting for the slab's relaxation."""
    args = ["campaign", "adsorbates", "--code", "vasp", "--preset", "tio-mgo-vasp", "--species", "Ti,TiH2",
            "--mgo-layers", "2", "--set", f"hubbard_u_eV.Ti={U_TI_EV}", "--as-built-slab", "--project", str(tmp_path)]
    assert main(args) == 0
    docs = _calc_fireworks(tmp_path)
    assert len(docs) == 2 * 2 + 2  # Ti, TiH2 x O-top, bridge; slab; H2
    assert all(d["state"] == "READY" and not d["spec"]["_tasks"][0]["relaxed_from"] for d in docs.values())
    for k, doc in enumerate(docs.values()):  # and the planned fingerprint is the as-built inputs' own
        _written(doc, tmp_path / f"point{k}")
