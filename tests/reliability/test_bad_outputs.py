"""Truncated and corrupted outputs through the engine/analysis APIs: an error, or a record that
says 'not converged' with no number in it - never a number that looks valid.

Every output here is cut or edited from a real one in ../shared/refdata (the CLI side of the
same files is in test_bad_input_cli.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reliability_helpers import REFDATA


@pytest.fixture
def pw_out() -> str:
    path = REFDATA / "qe" / "local_pw67_feco_b2" / "pw.out"
    if not path.is_file():
        pytest.skip("needs ../shared/refdata")
    return path.read_text()


def _calc(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pw.out").write_text(text)
    return folder


def test_qe_reference_parses(tmp_path: Path, pw_out: str) -> None:
    """Control: the untouched output gives the published numbers (so the edits below matter)."""
    from tipsurf.engines.base import get_engine

    rec = get_engine("qe").parse(_calc(tmp_path / "ok", pw_out))
    assert rec.converged
    assert rec.energy_eV == pytest.approx(-548.77864950 * 13.605693122994, abs=1e-3)
    assert rec.magmoms_muB == pytest.approx([2.9930, 1.9751], abs=1e-4)


def test_qe_unconverged_gives_no_numbers(tmp_path: Path, pw_out: str) -> None:
    from tipsurf.engines.base import get_engine

    text = pw_out.replace("convergence has been achieved", "convergence NOT achieved after 16 iterations: stopping")
    assert text != pw_out
    rec = get_engine("qe").parse(_calc(tmp_path / "nc", text))
    assert rec.converged is False
    assert rec.energy_eV is None and rec.forces_eV_per_A is None and rec.magmoms_muB is None


KILL_FRACTIONS = [0.1, 0.35, 0.6, 0.85]  # 0.97 = in the timing report: a whole result


def test_qe_killed_at_any_point_is_not_a_result(tmp_path: Path, pw_out: str) -> None:
    """pw.x killed at several moments (each fraction of the output in turn): either a one-line
    OutputError or an unconverged record without energy."""
    from tipsurf.engines.base import get_engine
    from tipsurf.errors import OutputError

    problems = []
    for fraction in KILL_FRACTIONS:
        cut = pw_out[: int(len(pw_out) * fraction)]
        try:
            rec = get_engine("qe").parse(_calc(tmp_path / f"cut{fraction}", cut))
        except OutputError as err:
            if "\n" in str(err):
                problems.append(f"{fraction:.0%}: multi-line error {err!s}")
            continue
        if not (rec.converged is False and rec.energy_eV is None):
            problems.append(f"a truncated output ({fraction:.0%}) gave a result")
    assert not problems, problems


def test_qe_missing_force_line_is_damaged(tmp_path: Path, pw_out: str) -> None:
    from tipsurf.engines.base import get_engine
    from tipsurf.errors import OutputError

    lines = pw_out.splitlines(keepends=True)
    force_lines = [i for i, line in enumerate(lines) if line.strip().startswith("atom") and "force =" in line]
    assert len(force_lines) >= 2
    del lines[force_lines[1]]
    with pytest.raises(OutputError) as info:
        get_engine("qe").parse(_calc(tmp_path / "f", "".join(lines)))
    assert "\n" not in str(info.value)


def test_qe_mangled_final_energy_not_a_number(tmp_path: Path, pw_out: str) -> None:
    """pw.x prints ***** when a number overflows its field; that must not become an energy."""
    from tipsurf.engines.base import get_engine
    from tipsurf.errors import OutputError

    lines = pw_out.splitlines(keepends=True)
    idx = [i for i, line in enumerate(lines) if line.startswith("!")]
    assert idx
    lines[idx[-1]] = "!    total energy              =   ************** Ry\n"
    try:
        rec = get_engine("qe").parse(_calc(tmp_path / "m", "".join(lines)))
    except OutputError:
        return
    assert rec.energy_eV is None or rec.energy_eV != pytest.approx(-548.77864950 * 13.605693122994, abs=1e-6) \
        and rec.converged is False, f"energy {rec.energy_eV} read from a mangled line"


def test_vasp_outcar_without_final_energy(tmp_path: Path) -> None:
    from tipsurf.engines.base import get_engine
    from tipsurf.errors import OutputError

    src = REFDATA / "vasp" / "custodian_feo_afm_relax"
    if not src.is_dir():
        pytest.skip("needs ../shared/refdata")
    calc = tmp_path / "v"
    calc.mkdir()
    for name in ("INCAR", "POSCAR", "KPOINTS", "OSZICAR", "CONTCAR"):
        shutil.copy(src / name, calc / name)
    (calc / "OUTCAR").write_text("".join(l for l in (src / "OUTCAR").read_text().splitlines(keepends=True)
                                         if "TOTEN" not in l))
    with pytest.raises(OutputError) as info:
        get_engine("vasp").parse(calc)
    assert "OUTCAR" in str(info.value)


def _cube(n: tuple[int, int, int], values: list[str]) -> str:
    head = ["cube", "test", "    1     0.000000     0.000000     0.000000"]
    for axis in range(3):
        vec = ["0.000000"] * 3
        vec[axis] = "0.500000"
        head.append(f"{n[axis]:5d} " + " ".join(vec))
    head.append("    1     1.000000     1.000000     1.000000     1.000000")
    return "\n".join(head) + "\n" + " ".join(values) + "\n"


@pytest.mark.parametrize("case", ["too-few-values", "too-many-values", "non-numeric", "zero-grid", "no-header"])
def test_cube_wrong_grid_or_data(tmp_path: Path, case: str) -> None:
    from tipsurf.analysis.volumetric import read_cube
    from tipsurf.errors import InputError

    text = {
        "too-few-values": _cube((4, 4, 4), ["0.1"] * 60),
        "too-many-values": _cube((4, 4, 4), ["0.1"] * 70),
        "non-numeric": _cube((4, 4, 4), ["0.1"] * 63 + ["abc"]),
        "zero-grid": _cube((0, 4, 4), []),
        "no-header": "hello\n",
    }[case]
    path = tmp_path / "bad.cube"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_cube(path)
    assert "\n" not in str(info.value)
