"""pw.x / projwfc.x output parsing on the real outputs in ../shared/refdata/qe (both moment formats)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tipsurf.engines.qe import QEEngine
from tipsurf.engines.qe.outputs import RY_TO_EV, parse_projwfc_text, parse_pw_output, parse_pw_text
from tipsurf.errors import OutputError


def test_feco_b2_pw67_matches_manifest(refdata_dir: Path) -> None:
    out = parse_pw_output(refdata_dir / "qe" / "local_pw67_feco_b2" / "pw.out")
    assert out.code_version.startswith("6.7")
    assert out.converged and out.n_scf == 16
    assert out.energy_eV == pytest.approx(-548.77864950 * RY_TO_EV, abs=1e-6)
    assert out.magmoms_muB == [pytest.approx(2.9930), pytest.approx(1.9751)]  # magn, not constr (0.0)
    assert out.total_magnetization_muB == pytest.approx(4.98) and out.absolute_magnetization_muB == pytest.approx(5.09)
    assert out.fermi_eV == pytest.approx(17.7663)
    ry_bohr = 13.605693122994 / 0.529177210903
    assert out.forces_eV_per_A[0][2] == pytest.approx(0.02053770 * ry_bohr, rel=1e-6)
    assert out.forces_eV_per_A[1][2] == pytest.approx(-0.02053770 * ry_bohr, rel=1e-6)
    assert out.walltime_s is not None and out.walltime_s > 0


def test_pw66_fixed_magnetization_two_fermi_levels(refdata_dir: Path) -> None:
    out = parse_pw_output(refdata_dir / "qe" / "aiidaqe_tot_magnetization_v66" / "aiida.out")
    assert out.code_version == "6.6" and out.converged and out.n_scf == 4
    assert out.magmoms_muB == [pytest.approx(0.2056), pytest.approx(0.2056)]
    assert out.fermi_up_dw_eV == [pytest.approx(6.7565), pytest.approx(5.6206)]
    assert out.forces_eV_per_A is None


def test_pw68_new_moment_format_and_force_contributions(refdata_dir: Path) -> None:
    out = parse_pw_output(refdata_dir / "qe" / "aiidaqe_magnetic_moments_v68" / "aiida.out")
    assert out.code_version == "6.8" and out.converged and out.n_scf == 10
    assert out.energy_eV == pytest.approx(-96.34322116 * RY_TO_EV, abs=1e-6)
    assert out.site_charges == [pytest.approx(7.9805), pytest.approx(1.2176)]
    assert len(out.magmoms_muB) == 2 and len(out.forces_eV_per_A) == 2  # only the total block


def test_truncated_output_raises(refdata_dir: Path, tmp_path: Path) -> None:
    text = (refdata_dir / "qe" / "local_pw67_feco_b2" / "pw.out").read_text()
    cut = text[: text.index("iteration #  9")]
    with pytest.raises(OutputError, match="truncated"):
        parse_pw_text(cut)
    (tmp_path / "pw.out").write_text(cut)
    with pytest.raises(OutputError):
        QEEngine().parse(tmp_path)


def test_unconverged_output_gives_no_energy(refdata_dir: Path, tmp_path: Path) -> None:
    text = (refdata_dir / "qe" / "local_pw67_feco_b2" / "pw.out").read_text()
    head = text[: text.index("iteration #  4")]
    fake_stop = head + "\n     convergence NOT achieved after   3 iterations: stopping\n"
    out = parse_pw_text(fake_stop)
    assert not out.converged and out.energy_eV is None and out.n_scf == 3


def test_parse_folder_without_tipsurf_files_replay(refdata_dir: Path, tmp_path: Path) -> None:
    shutil.copy(refdata_dir / "qe" / "local_pw67_feco_b2" / "pw.out", tmp_path / "pw.out")
    record = QEEngine().parse(tmp_path)
    assert record.converged and record.symbols == ["Fe", "Co"]
    assert record.magmoms_muB == [pytest.approx(2.9930), pytest.approx(1.9751)]


def test_projwfc_parser_needs_lowdin_block() -> None:
    with pytest.raises(OutputError, match="Lowdin"):
        parse_projwfc_text("     Program PROJWFC v.6.7MaX starts on ...\n")


def test_magn_label_not_column() -> None:
    """Regression: the ≤6.7 line ends with 'constr:', whose value must not be taken as the moment."""
    line = "     atom:    1    charge:   14.2413    magn:    2.9930    constr:    0.5000"
    head = "     Program PWSCF v.6.7MaX starts on x\n     Magnetic moment per site:\n"
    out = parse_pw_text(head + line + "\n\n     convergence has been achieved in   1 iterations\n")
    assert out.magmoms_muB == [2.9930]
    assert not re.search(r"0\.5", str(out.magmoms_muB))
