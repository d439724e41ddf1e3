"""VaspEngine as a whole: custodian construction, run preconditions, and a replay of real outputs."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

from tipsurf.config import load_config
from tipsurf.engines.base import get_engine
from tipsurf.engines.record import CalcResult
from tipsurf.engines.vasp import VaspEngine
from tipsurf.engines.vasp.jobs import make_custodian
from tipsurf.errors import ConfigurationError, ProgramNotFoundError
from tipsurf.templates import load_template

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# fake_potcar_dir (conftest.py): test-written POTCARs Fe, Fe_pv and O (real ones are licensed)


def feo_afm_cell():
    """Fe Fe O O (rock salt, AFM along [111]), the species order VASP runs FeO in."""
    from ase.build import bulk

    atoms = bulk("FeO", "rocksalt", a=4.33, cubic=False)  # Fe O
    atoms = atoms.repeat((1, 1, 2))  # Fe O Fe O
    atoms = atoms[[0, 2, 1, 3]]  # Fe Fe O O
    atoms.set_initial_magnetic_moments([5, -5, 0.6, 0.6])
    return atoms


@pytest.fixture
def walltime_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """custodian's WalltimeHandler writes CUSTODIAN_WALLTIME_START into os.environ; undo it after."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")
    monkeypatch.setenv("CUSTODIAN_WALLTIME_START", now)


def feo_preset() -> dict:
    preset = load_template("presets", "tio-mgo-vasp")
    preset["potcar_symbols"] = {"Fe": "Fe_pv", "O": "O"}
    preset["hubbard_u_eV"] = {"Fe": 4.0}
    return preset


def test_vasp_make_custodian_handlers_and_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  walltime_env: None) -> None:
    monkeypatch.setenv("TIPSURF_VASP_COMMAND", "mpirun -np 4 vasp_std")
    cust = make_custodian(tmp_path, load_config(), walltime_s=7200, max_errors=3)
    names = [type(h).__name__ for h in cust.handlers]
    for required in ("VaspErrorHandler", "UnconvergedErrorHandler", "NonConvergingErrorHandler",
                     "PotimErrorHandler", "WalltimeHandler"):
        assert required in names
    walltime = cust.handlers[names.index("WalltimeHandler")]
    assert walltime.wall_time == 7200 and 0 < walltime.buffer_time < 7200
    assert list(cust.jobs[0].vasp_cmd) == ["mpirun", "-np", "4", "vasp_std"]
    assert cust.max_errors == 3 and Path(cust.directory) == tmp_path.resolve()
    assert "WalltimeHandler" not in [type(h).__name__ for h in make_custodian(tmp_path, load_config()).handlers]


def test_vasp_run_refuses_without_potcar_or_program(tmp_path: Path, fake_potcar_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from pymatgen.core import SETTINGS

    atoms = feo_afm_cell()
    engine = VaspEngine()
    engine.write_inputs(atoms, feo_preset(), tmp_path / "ok")
    monkeypatch.setenv("TIPSURF_VASP_COMMAND", "no_such_vasp_binary_xyz")
    with pytest.raises(ProgramNotFoundError, match="no_such_vasp_binary_xyz"):
        engine.run(tmp_path / "ok")
    monkeypatch.setitem(SETTINGS, "PMG_VASP_PSP_DIR", None)
    engine.write_inputs(atoms, feo_preset(), tmp_path / "nopot", allow_missing_potcar=True)
    with pytest.raises(ConfigurationError, match="POTCAR"):
        engine.run(tmp_path / "nopot")


def test_vasp_engine_replays_real_outputs(tmp_path: Path, refdata_dir: Path, fake_potcar_dir: Path) -> None:
    """Write inputs, then copy a real FeO OUTCAR/vasprun.xml in place of running VASP (replay)."""
    run_dir = refdata_dir / "vasp/custodian_feo_afm_relax"
    real = read(run_dir / "POSCAR")  # Fe Fe O O, as VASP ran it
    atoms = real[[0, 2, 1, 3]]  # interleaved Fe O Fe O: the engine must regroup and map back
    atoms.set_initial_magnetic_moments([5.0, 0.6, -5.0, 0.6])
    atoms.info.update({"site": "top", "distance_A": 5.0, "config": "ap", "tip_indices": [1], "apex_index": 1})
    engine = get_engine("vasp")
    prepared = engine.write_inputs(atoms, feo_preset(), tmp_path, calculation="relax")
    for name in ("OUTCAR", "vasprun.xml"):
        shutil.copyfile(run_dir / name, tmp_path / name)
    result = engine.parse(tmp_path)
    again = CalcResult.from_dict(result.as_dict())
    assert again.fingerprint == prepared.fingerprint
    assert again.metadata == {"site": "top", "distance_A": 5.0, "config": "ap", "tip_indices": [1], "apex_index": 1}
    assert again.symbols == ["Fe", "O", "Fe", "O"]
    # OUTCAR site order Fe1 Fe2 O1 O2 = original atoms 0, 2, 1, 3.
    assert again.magmoms_muB == pytest.approx([3.007, -0.189, 1.397, -0.189])
    assert again.forces_eV_per_A[1] == pytest.approx([-0.001976, 0.009987, 0.003437], abs=2e-6)
    assert again.tip_force_z_eV_per_A() == pytest.approx(0.003437, abs=2e-6)  # atom 1 = OUTCAR row 3
    assert again.energy_eV == pytest.approx(-28.21851457) and again.converged
    assert again.pseudopotentials["Fe"]["symbol"] == "Fe_pv"
    assert again.extra["parameters"]["incar"]["LDAUU"] == [4.0, 0.0]
    assert np.allclose(again.positions_A[3], np.asarray(result.positions_A)[3])
