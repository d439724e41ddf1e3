"""Real pw.x / projwfc.x runs on tiny cells (25/200 Ry, few k-points, serial).

Pseudopotentials: GBRV from ../shared/pseudo when present, else tipsurf's own ld1.x set
(generated once per session, used the engine's zero-configuration way: no pseudo_dir).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from ase import Atoms

from tipsurf.config import Config
from tipsurf.engines.presets import load_preset, merge_preset
from tipsurf.engines.qe import QEEngine
from tipsurf.engines.qe.inputs import get_pw_parameter
from tipsurf.engines.qe.pw_input import set_pw_parameter
from tipsurf.engines.qe.projwfc import run_projwfc
from tipsurf.errors import CalculationFailedError, ProgramNotFoundError
from scf_starts import KNOWN_GENERATED_WARM_START, first_scf_error_Ry

pytestmark = pytest.mark.pwx



def require_program(name: str) -> None:
    if shutil.which(name) is None:
        pytest.skip(f"needs {name} on PATH (Debian quantum-espresso)")

TINY = {"kpoints": {"mesh": [3, 3, 3]}, "ecutwfc_Ry": 25, "ecutrho_Ry": 200}


def feco(co_z_A: float = 1.5) -> Atoms:
    atoms = Atoms("FeCo", positions=[[0, 0, 0], [1.425, 1.425, co_z_A]], cell=[2.85] * 3, pbc=True)
    atoms.set_initial_magnetic_moments([3.0, 2.0])
    atoms.info.update({"site": "top", "distance_A": co_z_A})
    return atoms


@pytest.fixture(scope="module")
def run_pseudos(pseudo_provider, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - conftest.PseudoSet
    """../shared GBRV, else the session's generated set copied into this module's own cache."""
    return pseudo_provider.usable(tmp_path_factory.mktemp("qe-run-cache"))


def _config(pseudos, **kwargs) -> Config:  # noqa: ANN001 - conftest.PseudoSet
    require_program("pw.x")
    return pseudos.config(**kwargs)


@pytest.fixture(scope="module")
def feco_run(tmp_path_factory: pytest.TempPathFactory, run_pseudos) -> Path:
    """One converged FeCo B2 run shared by the tests below."""
    cfg = _config(run_pseudos)
    directory = tmp_path_factory.mktemp("feco")
    engine = QEEngine()
    engine.write_inputs(feco(), merge_preset(load_preset("fast"), TINY), directory, config=cfg)
    engine.run(directory, config=cfg)
    return directory


def test_two_species_moments_match_output(feco_run: Path, run_pseudos) -> None:
    record = QEEngine().parse(feco_run)
    text = (feco_run / "pw.out").read_text()
    block = text[text.rindex("Magnetic moment per site") :]
    magn = [float(v) for v in re.findall(r"magn[:=]\s*([-\d.]+)", block)[:2]]
    assert record.converged and record.energy_eV is not None and record.energy_eV < 0
    assert record.magmoms_muB == pytest.approx(magn)
    assert record.magmoms_muB[0] > 2.0 and record.magmoms_muB[1] > 1.0  # Fe and Co stay ferromagnetic
    assert record.total_magnetization_muB == pytest.approx(sum(magn), abs=0.3)
    assert record.code_version and record.code_version.startswith(("6.", "7."))
    assert record.n_scf is not None and record.n_scf > 1 and record.walltime_s > 0
    assert record.forces_eV_per_A[0][2] == pytest.approx(-record.forces_eV_per_A[1][2], abs=1e-4)
    assert record.pseudopotentials["Fe"]["md5"] == run_pseudos.md5("Fe")
    if run_pseudos.source == "shared":
        assert run_pseudos.md5("Fe") == "3bdfed0a5fe3232c13fae2dbcf086c7f"  # GBRV fe_pbe_v1.5 (MANIFEST.md)
    assert record.metadata["site"] == "top" and record.fingerprint


def test_projwfc_lowdin_moments(feco_run: Path, run_pseudos) -> None:
    require_program("projwfc.x")
    lowdin = run_projwfc(feco_run, config=_config(run_pseudos))
    record = QEEngine().parse(feco_run)
    assert record.extra["lowdin"]["charges_e"] == lowdin["charges_e"]
    # Löwdin charges add up to the valence electrons (16 Fe + 17 Co, GBRV and tipsurf's set alike) up to the spilling
    valence = run_pseudos.valence["Fe"] + run_pseudos.valence["Co"]
    assert valence == 33.0
    assert sum(lowdin["charges_e"]) == pytest.approx(valence, abs=valence * max(lowdin["spilling"], 0.01) + 0.1)
    assert lowdin["moments_muB"][0] == pytest.approx(record.magmoms_muB[0], abs=0.5)
    assert sum(lowdin["moments_muB"]) == pytest.approx(record.total_magnetization_muB, abs=0.5)


def test_warm_start_starts_closer_to_self_consistency(feco_run: Path, tmp_path: Path, run_pseudos, request) -> None:
    cfg, engine = _config(run_pseudos), QEEngine()
    preset = merge_preset(load_preset("fast"), TINY)
    moved = feco(co_z_A=1.45)
    engine.write_inputs(moved, preset, tmp_path / "cold", config=cfg)
    cold = engine.run(tmp_path / "cold", config=cfg)
    engine.write_inputs(moved, preset, tmp_path / "warm", config=cfg, restart_from=feco_run)
    warm = engine.run(tmp_path / "warm", config=cfg)
    assert "The initial density is read from file" in (tmp_path / "warm" / "pw.out").read_text()
    assert warm.energy_eV == pytest.approx(cold.energy_eV, abs=2e-4)
    assert warm.fingerprint == cold.fingerprint  # the restart source does not change the result
    if run_pseudos.source == "generated":
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_GENERATED_WARM_START))
    # a better start, measured where it acts: the first SCF error (iteration counts are benchmarks')
    assert first_scf_error_Ry(tmp_path / "warm") < 0.5 * first_scf_error_Ry(tmp_path / "cold")


def test_antiferromagnetic_pair_stays_antiferromagnetic(tmp_path: Path, run_pseudos) -> None:
    cfg = _config(run_pseudos)
    a, c = 2.6, 3.7  # AFM-I fcc Mn (expanded), layered along c
    atoms = Atoms("Mn2", positions=[[0, 0, 0], [a / 2, a / 2, c / 2]], cell=[a, a, c], pbc=True)
    atoms.set_initial_magnetic_moments([3.0, -3.0])
    preset = merge_preset(load_preset("fast"), {**TINY, "kpoints": {"mesh": [3, 3, 2]}})
    record = QEEngine().write_inputs(atoms, preset, tmp_path, config=cfg) and QEEngine().run(tmp_path, config=cfg)
    m1, m2 = record.magmoms_muB
    assert m1 > 1.0 and m2 < -1.0
    assert m1 == pytest.approx(-m2, abs=0.05)
    assert abs(record.total_magnetization_muB) < 0.1 and record.absolute_magnetization_muB > 2.0


def test_unconverged_scf_is_recovered_by_handler(tmp_path: Path, run_pseudos) -> None:
    cfg, engine = _config(run_pseudos), QEEngine()
    preset = merge_preset(load_preset("fast"), {**TINY, "extra": {"electrons": {"electron_maxstep": 3}}})
    engine.write_inputs(feco(), preset, tmp_path, config=cfg)
    record = engine.run(tmp_path, config=cfg)
    assert record.converged and record.energy_eV is not None
    assert record.corrections and record.corrections[0]["handler"] == "ScfConvergenceHandler"
    actions = {k: v for a in record.corrections[0]["actions"] for k, v in a["set"].items()}
    assert actions["mixing_beta"] < preset["mixing_beta"] and actions["electron_maxstep"] > 3
    assert actions["startingpot"] == "file"  # restarted from the density the failed run saved
    first = (tmp_path / "pw.out.attempt-1").read_text()  # the failed attempt's output is kept
    assert "convergence NOT achieved" in first and "convergence has been achieved" in (tmp_path / "pw.out").read_text()


def test_unrecoverable_scf_fails_without_a_number(tmp_path: Path, run_pseudos) -> None:
    cfg, engine = _config(run_pseudos), QEEngine()
    preset = merge_preset(load_preset("fast"), {**TINY, "extra": {"electrons": {"electron_maxstep": 1}}})
    preset["scf_recovery"] = [{"scale": {"mixing_beta": 0.5}}]  # one step that cannot help
    engine.write_inputs(feco(), preset, tmp_path, config=cfg)
    with pytest.raises(CalculationFailedError, match="SCF did not converge"):
        engine.run(tmp_path, config=cfg, max_errors=3)
    record = engine.parse(tmp_path)
    assert not record.converged and record.energy_eV is None and record.magmoms_muB is None
    assert len(record.corrections) >= 2


def test_missing_program_is_reported(tmp_path: Path, run_pseudos) -> None:
    cfg = run_pseudos.config(qe_version="6.7", commands={"pw": ["/nonexistent/bin/pw.x"]})
    engine = QEEngine()
    engine.write_inputs(feco(), merge_preset(load_preset("fast"), TINY), tmp_path, config=cfg)
    with pytest.raises(ProgramNotFoundError, match="not installed"):
        engine.run(tmp_path, config=cfg)
    assert not (tmp_path / "pw.out").exists()


def test_walltime_stop_prepares_restart_and_rerun_converges(tmp_path: Path, run_pseudos) -> None:
    cfg, engine = _config(run_pseudos), QEEngine()
    # 2x1x1 FeCo (4 atoms, ~0.6 s per SCF iteration, ~12 iterations to converge): it cannot
    # finish inside the 1.8 s max_seconds of a 2 s budget on any machine of this kind; the
    # 2-atom cell converged in ~1.9 s on an idle core and made this test depend on timing
    engine.write_inputs(feco().repeat((2, 1, 1)), merge_preset(load_preset("fast"), TINY), tmp_path, config=cfg, walltime_s=2.0)
    with pytest.raises(CalculationFailedError, match="max_seconds"):
        engine.run(tmp_path, config=cfg)
    text = (tmp_path / "pw.out").read_text()
    assert "Maximum CPU time exceeded" in text
    assert engine.parse(tmp_path).energy_eV is None
    assert get_pw_parameter(tmp_path / "pw.in", "electrons", "startingpot") == "file"
    set_pw_parameter(tmp_path / "pw.in", "control", "max_seconds", 600.0)  # a new allocation
    record = engine.run(tmp_path, config=cfg)
    assert record.converged and "The initial density is read from file" in (tmp_path / "pw.out").read_text()
    assert [c["handler"] for c in record.corrections] == ["WalltimeHandler"]


def test_pw_accepts_hubbard_d3_dipole_slab_input(tmp_path: Path, run_pseudos) -> None:
    """pw.x 6.x reads the SYSTEM-namelist U, D3 and dipole settings (two SCF steps only)."""
    cfg, engine = _config(run_pseudos), QEEngine()
    atoms = Atoms("TiO", positions=[[0, 0, 1.0], [1.5, 1.5, 1.0]], cell=[3, 3, 10], pbc=True)
    atoms.set_initial_magnetic_moments([2.0, 0.0])
    preset = merge_preset(
        load_preset("tio-mgo-qe"),
        {**TINY, "pseudopotentials": load_preset("fast")["pseudopotentials"], "kpoints": {"mesh": [2, 2, 1]},
         "hubbard_u_eV": {"Ti": 3.0}, "extra": {"electrons": {"electron_maxstep": 2}}},
    )
    preset["scf_recovery"] = []
    engine.write_inputs(atoms, preset, tmp_path, config=cfg)
    with pytest.raises(CalculationFailedError, match="SCF did not converge"):
        engine.run(tmp_path, config=cfg)
    text = (tmp_path / "pw.out").read_text()
    assert "Error in routine" not in text
    assert "LDA+U" in text and "DFT-D3" in text and "Adding external electric field" in text


def test_restarted_relaxation_goes_on_from_the_geometry_it_reached(tmp_path: Path, run_pseudos) -> None:
    """A recovery restart of a relaxation starts at its last ionic step, not at its first geometry."""
    from tipsurf.engines.qe.recovery import plan_step
    from tipsurf.engines.qe.pw_input import apply_actions

    cfg, engine = _config(run_pseudos), QEEngine()
    preset = merge_preset(load_preset("fast"), {**TINY, "extra": {"control": {"nstep": 2}}})
    engine.write_inputs(feco(co_z_A=1.25), preset, tmp_path, config=cfg, calculation="relax")
    first_in = (tmp_path / "pw.in").read_text()
    import subprocess  # pw.x alone, without the handlers: the folder as a failed attempt leaves it

    def pw_x() -> str:
        with open(tmp_path / "pw.out", "w") as out:
            subprocess.run(["pw.x", "-in", "pw.in"], cwd=tmp_path, stdout=out, check=False)
        return (tmp_path / "pw.out").read_text()

    text = pw_x()
    assert "The maximum number of steps has been reached" in text
    last_z = float(text.rsplit("ATOMIC_POSITIONS (angstrom)", 1)[1].split("\n")[2].split()[3])  # Co, where it stopped
    fresh = plan_step(tmp_path, {"restart": "atoms"})  # nothing written: the same geometry, started from atoms
    assert [a.get("set") for a in fresh[:2]] == [{"startingpot": "atomic"}, {"startingwfc": "atomic+random"}]
    assert fresh[2]["card"] == "ATOMIC_POSITIONS" and f"{last_z:.10f}" in fresh[2]["text"]
    actions = plan_step(tmp_path, {"restart": True})
    apply_actions(tmp_path, actions)
    assert [a.get("card") for a in actions] == [None, "ATOMIC_POSITIONS"]
    restarted = (tmp_path / "pw.in").read_text()
    assert restarted != first_in and f"{last_z:.10f}" in restarted and "startingpot = 'file'" in restarted
    energies = [float(m) for m in re.findall(r"^!\s+total energy\s+=\s+(\S+)", pw_x(), re.M)]
    first_energies = [float(m) for m in re.findall(r"^!\s+total energy\s+=\s+(\S+)", text, re.M)]
    assert energies[0] < first_energies[0]  # it went on down the relaxation instead of starting over
    assert abs(energies[0] - first_energies[-1]) < abs(first_energies[0] - first_energies[-1])
