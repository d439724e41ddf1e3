"""Parsing real VASP outputs (../shared/refdata/vasp); expected numbers were read by eye from the files."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from tipsurf.engines.vasp import VaspEngine
from tipsurf.errors import OutputError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_vasp_parse_feo_vasprun_and_outcar(refdata_dir: Path) -> None:
    res = VaspEngine().parse(refdata_dir / "vasp/custodian_feo_afm_relax")
    # OUTCAR: last 'magnetization (x)' block, column tot; 'free  energy   TOTEN  = -28.21851457 eV'
    assert res.magmoms_muB == pytest.approx([3.007, 1.397, -0.189, -0.189])
    assert res.energy_eV == pytest.approx(-28.21851457, abs=1e-8)
    assert res.total_magnetization_muB == pytest.approx(4.0)
    assert res.fermi_eV == pytest.approx(2.4155)
    # OUTCAR last TOTAL-FORCE block, atom 3: -0.001976 0.009987 0.003437; atom 4 the opposite.
    assert res.forces_eV_per_A[2] == pytest.approx([-0.001976, 0.009987, 0.003437], abs=2e-6)
    assert res.forces_eV_per_A[3] == pytest.approx([0.001976, -0.009987, -0.003437], abs=2e-6)
    assert res.symbols == ["Fe", "Fe", "O", "O"]
    assert res.n_scf == 6  # 'Iteration   28(   6)' is the last line of its kind
    assert res.extra["n_ionic_steps"] == 28
    assert res.converged and res.code_version == "5.3.5"
    assert res.walltime_s == pytest.approx(82.845)


def test_vasp_parse_co4_outcar_only(refdata_dir: Path) -> None:
    res = VaspEngine().parse(refdata_dir / "vasp/aiidavasp_co_magnetization")
    assert res.magmoms_muB == pytest.approx([1.621, 1.619, 1.640, 1.640])
    assert res.energy_eV == pytest.approx(-28.41743309, abs=1e-8)  # TOTEN, not sigma->0
    assert res.extra["energy_sigma0_eV"] == pytest.approx(-28.41720662, abs=1e-8)
    assert res.total_magnetization_muB == pytest.approx(6.4424922)
    assert res.forces_eV_per_A[2] == pytest.approx([0.0, -0.000048, 0.0], abs=1e-7)
    assert res.positions_A[3] == pytest.approx([0.0, 1.43775, 6.09996])
    assert res.n_scf == 21 and res.converged and res.code_version == "5.4.4"
    assert res.fermi_eV == pytest.approx(5.4373)


def test_vasp_parse_fe_single_outcar(refdata_dir: Path) -> None:
    res = VaspEngine().parse(refdata_dir / "vasp/aiidavasp_fe_magnetization_single")
    assert res.magmoms_muB == pytest.approx([2.434])
    assert res.energy_eV == pytest.approx(-7.70419533, abs=1e-8)
    assert res.total_magnetization_muB == pytest.approx(2.4077611)
    assert res.n_scf == 10 and res.converged
    assert res.walltime_s == pytest.approx(7.948)
    assert len(res.forces_eV_per_A) == 1


def test_vasp_parse_si_vasp642_gzipped(refdata_dir: Path) -> None:
    res = VaspEngine().parse(refdata_dir / "vasp/custodian_si_ispin2_vasp642")
    assert res.code_version == "6.4.2"
    assert res.energy_eV == pytest.approx(-10.84147289, abs=1e-8)
    assert res.fermi_eV == pytest.approx(5.9130)
    assert res.n_scf == 4 and res.extra["n_ionic_steps"] == 3  # 'Iteration      3(   4)'
    assert len(res.forces_eV_per_A) == 2 and all(abs(f) < 1e-6 for row in res.forces_eV_per_A for f in row)
    assert res.magmoms_muB == pytest.approx([0.0, 0.0])
    assert res.walltime_s == pytest.approx(18.865)
    assert res.extra["output_files"] == {"outcar": "OUTCAR.gz", "vasprun": "vasprun.xml.gz"}


def _cut(text: str, marker: str) -> str:
    """``text`` up to (not including) the last occurrence of ``marker``."""
    return text[: text.rindex(marker)]


def test_vasp_truncated_outcar_raises(refdata_dir: Path, tmp_path: Path) -> None:
    full = (refdata_dir / "vasp/aiidavasp_fe_magnetization_single/OUTCAR").read_text()
    (tmp_path / "OUTCAR").write_text(_cut(full, "free  energy   TOTEN"))
    with pytest.raises(OutputError, match="did not finish") as err:
        VaspEngine().parse(tmp_path)
    assert "\n" not in str(err.value)
    # A relaxation cut in step 28 still has 27 TOTEN lines: no energy may come out of it either.
    relax = (refdata_dir / "vasp/custodian_feo_afm_relax/OUTCAR").read_text()
    (tmp_path / "OUTCAR").write_text(_cut(relax, "free  energy   TOTEN"))
    with pytest.raises(OutputError):
        VaspEngine().parse(tmp_path)


def test_vasp_empty_or_truncated_vasprun_raises(refdata_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "vasprun.xml").write_text("")
    with pytest.raises(OutputError, match="vasprun.xml"):
        VaspEngine().parse(tmp_path)
    full = (refdata_dir / "vasp/custodian_feo_afm_relax/vasprun.xml").read_text()
    (tmp_path / "vasprun.xml").write_text(full[: len(full) * 2 // 3])
    with pytest.raises(OutputError):
        VaspEngine().parse(tmp_path)
    with gzip.open(tmp_path / "vasprun.xml.gz", "wt") as fh:
        fh.write(full[: len(full) // 2])
    (tmp_path / "vasprun.xml").unlink()
    with pytest.raises(OutputError):
        VaspEngine().parse(tmp_path)


def test_vasp_outputs_from_different_runs_raise(refdata_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "vasprun.xml").write_text((refdata_dir / "vasp/custodian_feo_afm_relax/vasprun.xml").read_text())
    (tmp_path / "OUTCAR").write_text((refdata_dir / "vasp/aiidavasp_co_magnetization/OUTCAR").read_text())
    with pytest.raises(OutputError, match="disagree"):
        VaspEngine().parse(tmp_path)


def test_vasp_no_outputs_raises(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="no vasprun.xml or OUTCAR"):
        VaspEngine().parse(tmp_path)


# --- Convergence is read from what VASP reports, and an unconverged record has no numbers ---------

FE_SINGLE = "vasp/aiidavasp_fe_magnetization_single"
FEO_RELAX = "vasp/custodian_feo_afm_relax"
EDIFF_LINE = "aborting loop because EDIFF is reached"


def _assert_no_numbers(res) -> None:  # noqa: ANN001 - a CalcResult
    """The contract of the QE engine: nothing that looks like a valid result when not converged."""
    assert not res.converged
    assert res.energy_eV is None and res.forces_eV_per_A is None and res.magmoms_muB is None
    assert res.total_magnetization_muB is None and res.fermi_eV is None
    assert res.extra["energy_sigma0_eV"] is None
    with pytest.raises(Exception):
        res.tip_force_z_eV_per_A()


#: How VASP 5 (no message) and VASP 6 (an explicit one) end an electronic loop that missed EDIFF.
NOT_CONVERGED_ENDINGS = {"vasp5-no-message": "", "vasp6-not-reached": "aborting loop EDIFF was not reached (unconverged)"}


def test_vasp_outcar_electronic_loop_not_converged(refdata_dir: Path, tmp_path: Path) -> None:
    """The electronic loop stopped before EDIFF (NELM ran out, or LABORT) after 10 of NELM = 60 steps,
    as VASP 5 and VASP 6 write it (each in turn).

    The old parser guessed convergence from n_scf < NELM and kept the energy."""
    text = (refdata_dir / FE_SINGLE / "OUTCAR").read_text()
    assert text.count(EDIFF_LINE) == 1
    for label, replacement in NOT_CONVERGED_ENDINGS.items():
        folder = tmp_path / label
        folder.mkdir()
        (folder / "OUTCAR").write_text(text.replace(EDIFF_LINE, replacement))
        res = VaspEngine().parse(folder)
        assert res.n_scf == 10 and not res.extra["converged_electronic"] and res.extra["converged_ionic"], label
        _assert_no_numbers(res)
        assert res.extra["unconverged_last_iteration"]["magmoms_muB"] == pytest.approx([2.434])  # diagnosis only
        assert res.extra["convergence_by_file"] == {"outcar": {"converged_electronic": False, "converged_ionic": True}}, label


def test_vasp_converged_record_keeps_its_numbers(refdata_dir: Path) -> None:
    res = VaspEngine().parse(refdata_dir / FE_SINGLE)
    assert res.converged and res.energy_eV == pytest.approx(-7.70419533) and "unconverged_last_iteration" not in res.extra
    assert res.extra["energy_sigma0_eV"] is not None and res.fermi_eV is not None


def test_vasp_vasprun_nelm_reached_has_no_energy(refdata_dir: Path, tmp_path: Path) -> None:
    """vasprun.xml alone: the final ionic step used all NELM electronic steps (pymatgen's verdict)."""
    text = (refdata_dir / FEO_RELAX / "vasprun.xml").read_text()
    (tmp_path / "vasprun.xml").write_text(re.sub(r'(name="NELM">)\s*100<', r"\g<1>     6<", text))
    res = VaspEngine().parse(tmp_path)
    assert not res.extra["converged_electronic"] and res.extra["converged_ionic"]
    _assert_no_numbers(res)


def test_vasp_relaxation_not_at_ediffg_has_no_energy(refdata_dir: Path, tmp_path: Path) -> None:
    """A relaxation stopped before EDIFFG (e.g. STOPCAR at the wall time): 28 of NSW = 99 steps.

    vasprun.xml looks finished (pymatgen counts steps < NSW as converged); OUTCAR lacks VASP's
    'reached required accuracy', and every file present must agree."""
    run = refdata_dir / FEO_RELAX
    outcar = (run / "OUTCAR").read_text()
    line = "reached required accuracy - stopping structural energy minimisation"
    assert outcar.count(line) == 1
    (tmp_path / "OUTCAR").write_text(outcar.replace(line, ""))
    res = VaspEngine().parse(tmp_path)  # OUTCAR only
    assert res.extra["converged_electronic"] and not res.extra["converged_ionic"]
    _assert_no_numbers(res)
    (tmp_path / "vasprun.xml").write_text((run / "vasprun.xml").read_text())
    res = VaspEngine().parse(tmp_path)  # both: the vasprun.xml verdict does not overrule OUTCAR
    assert res.extra["convergence_by_file"] == {
        "outcar": {"converged_electronic": True, "converged_ionic": False},
        "vasprun": {"converged_electronic": True, "converged_ionic": True},
    }
    _assert_no_numbers(res)
    assert res.positions_A and res.symbols == ["Fe", "Fe", "O", "O"]  # the structure is still reported
