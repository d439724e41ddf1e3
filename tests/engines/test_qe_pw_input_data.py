"""pw.x inputs kept as data (issue 13 item 4): handlers change the namelists, pw.in is rendered again.

No pw.x run: the folders are written by the engine with a pinned QE version, the failed
attempts' outputs are written by the test.
"""

from __future__ import annotations

import json
from pathlib import Path

from ase import Atoms

from tipsurf.engines.presets import load_preset, merge_preset
from tipsurf.engines.qe import QEEngine
from tipsurf.engines.qe.handlers import DiagonalizationHandler, ScfConvergenceHandler
from tipsurf.engines.qe.recovery import plan_step
from tipsurf.engines.qe.inputs import get_pw_parameter
from tipsurf.engines.qe.pw_input import INPUT_DATA_FILE, parse_pw_input, read_pw_input, set_pw_parameter

TINY = {"kpoints": {"mesh": [2, 2, 2]}, "ecutwfc_Ry": 25, "ecutrho_Ry": 200, "dipole_correction": False}
DIAG_ERROR = """ %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%
     Error in routine  cdiaghg (190):
     S matrix not positive definite
 %%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%
"""


def _folder(tmp_path: Path, qe_pseudos) -> Path:
    atoms = Atoms("FeCo", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[2.85] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([2.5, 1.5])
    QEEngine().write_inputs(atoms, merge_preset(load_preset("fast"), TINY), tmp_path, config=qe_pseudos.config(qe_version="6.7"))
    return tmp_path


def test_written_input_is_the_rendering_of_its_saved_data(tmp_path: Path, qe_pseudos) -> None:
    folder = _folder(tmp_path, qe_pseudos)
    saved = json.loads((folder / INPUT_DATA_FILE).read_text())
    data = read_pw_input(folder)
    assert data.namelists == saved["namelists"] and data.render() == (folder / "pw.in").read_text()
    assert data.namelists["system"]["nspin"] == 2 and "ATOMIC_POSITIONS" in data.cards
    # the text reader gives the same namelists back (what a hand-edited pw.in is read with)
    assert parse_pw_input((folder / "pw.in").read_text()).namelists == saved["namelists"]


def test_recovery_step_changes_the_data_and_keeps_the_failed_input(tmp_path: Path, qe_pseudos) -> None:
    folder = _folder(tmp_path, qe_pseudos)
    before = (folder / "pw.in").read_text()
    beta = read_pw_input(folder).get("mixing_beta")
    (folder / "pw.out").write_text("     convergence NOT achieved after 100 iterations: stopping\n")
    out = ScfConvergenceHandler([{"scale": {"mixing_beta": 0.5}, "set": {"degauss": 0.03}}]).correct(str(folder))
    assert out["actions"] == [
        {"file": "pw.in", "namelist": "electrons", "set": {"mixing_beta": round(beta * 0.5, 6)}},
        {"file": "pw.in", "namelist": "system", "set": {"degauss": 0.03}},
    ]
    data = read_pw_input(folder)  # the saved data is what pw.in renders
    assert json.loads((folder / INPUT_DATA_FILE).read_text())["namelists"] == data.namelists
    assert data.get("mixing_beta") == round(beta * 0.5, 6) and data.get("degauss") == 0.03
    assert (folder / "pw.in.attempt-1").read_text() == before  # the input of the failed attempt
    assert (folder / "pw.in").read_text().split("&SYSTEM")[0] == before.split("&SYSTEM")[0]  # rest unchanged


def test_hand_edited_input_is_the_truth(tmp_path: Path, qe_pseudos) -> None:
    folder = _folder(tmp_path, qe_pseudos)
    set_pw_parameter(folder / "pw.in", "electrons", "diagonalization", "cg")  # edited outside tipsurf
    (folder / "pw.out").write_text(DIAG_ERROR)
    out = DiagonalizationHandler().correct(str(folder))
    assert out["actions"][0]["set"] == {"diagonalization": "ppcg"}
    assert get_pw_parameter(folder / "pw.in", "electrons", "diagonalization") == "ppcg"
    assert "ATOMIC_SPECIES" in (folder / "pw.in").read_text()


def test_a_step_sees_its_own_scaling(tmp_path: Path, qe_pseudos) -> None:
    folder = _folder(tmp_path, qe_pseudos)
    data = read_pw_input(folder)
    data.set("electrons", "electron_maxstep", 40)
    actions = plan_step(folder, {"scale": {"electron_maxstep": 1.5}, "at_least": {"electron_maxstep": 100}}, data)
    assert [a["set"] for a in actions] == [{"electron_maxstep": 60}, {"electron_maxstep": 100}]
    assert data.get("electron_maxstep") == 100 and read_pw_input(folder).get("electron_maxstep") != 40  # not written


def test_reader_keeps_every_namelist_and_the_cards_as_written() -> None:
    text = "&control\n calculation='scf', prefix='x'  ! a comment\n/\n&fcp\n fcp_mu = -4.5d0\n/\n" \
           "&system\n ibrav=0, nat=1, ntyp=1, ecutwfc=30.0d0, starting_magnetization(1) = 0.5, nosym=.true.\n/\n" \
           "ATOMIC_SPECIES\n Fe 55.845 Fe.upf\nK_POINTS gamma\n"
    data = parse_pw_input(text)
    assert data.namelists == {"control": {"calculation": "scf", "prefix": "x"}, "fcp": {"fcp_mu": -4.5},
                              "system": {"ibrav": 0, "nat": 1, "ntyp": 1, "ecutwfc": 30.0,
                                         "starting_magnetization(1)": 0.5, "nosym": True}}
    assert data.cards == "ATOMIC_SPECIES\n Fe 55.845 Fe.upf\nK_POINTS gamma\n"
    assert parse_pw_input(data.render()).namelists == data.namelists and "&FCP" in data.render()


def test_wall_time_stop_prepares_the_data_and_the_next_allocation_resumes_it(tmp_path: Path, qe_pseudos) -> None:
    """The WalltimeHandler/resume path without pw.x: a stop late in the budget, then a new allocation."""
    from tipsurf.atomic import write_json_atomic
    from tipsurf.engines.qe.handlers import STATE_FILE, WalltimeHandler
    from tipsurf.engines.qe.job import CORRECTIONS_FILE

    atoms = Atoms("FeCo", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[2.85] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([2.5, 1.5])
    engine = QEEngine()
    prepared = engine.write_inputs(atoms, merge_preset(load_preset("fast"), TINY), tmp_path,
                                   config=qe_pseudos.config(qe_version="6.7"), walltime_s=100.0)
    assert read_pw_input(tmp_path).get("max_seconds") == 90.0
    save = tmp_path / "out" / "pwscf.save"
    save.mkdir(parents=True)
    (save / "charge-density.dat").write_bytes(b"density")
    (tmp_path / "pw.out").write_text("     Maximum CPU time exceeded\n")
    write_json_atomic(tmp_path / STATE_FILE, {"run_started_at": 1.0})  # the budget is long spent
    out = WalltimeHandler().correct(str(tmp_path))
    assert out["actions"] is None and out["prepared"][0]["set"] == {"startingpot": "file"}
    write_json_atomic(tmp_path / CORRECTIONS_FILE, [{"handler": "WalltimeHandler", **out}])  # as run_pw records it
    assert engine.resumable(tmp_path, prepared.fingerprint)
    engine.prepare_resume(tmp_path, 600.0)
    data = read_pw_input(tmp_path)
    assert data.get("max_seconds") == 540.0 and data.get("startingpot") == "file"
    assert json.loads((tmp_path / INPUT_DATA_FILE).read_text())["namelists"] == data.namelists
    assert "startingpot" not in (tmp_path / "pw.in.attempt-1").read_text()  # the input the stopped run had
