"""UPF header parsing, folder checks, the `tipsurf pseudo` commands and the ld1.x generator contract."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from tipsurf.cli import main
from tipsurf.engines.qe import pseudo_gen
from tipsurf.engines.qe.pseudo import check_pseudo_dir, md5sum, upf_info
from tipsurf.errors import InputError, ProgramNotFoundError

from tests.conftest import PSEUDO_DIR


@pytest.fixture(scope="session")
def pseudo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fe and Mn generated once per session by the real ld1.x (about 3 s)."""
    if shutil.which("ld1.x") is None:
        pytest.skip("needs ld1.x on PATH (Debian quantum-espresso)")
    from tipsurf.config import Config

    folder = tmp_path_factory.mktemp("generated_pseudo")
    pseudo_gen.ensure_pseudopotentials(["Fe", "Mn"], Config(), cache_dir=folder)
    return folder


# --- UPF headers: test-written and generated files always, the ../shared originals when present ---

SHARED_W_V1 = PSEUDO_DIR / "W_pbe_v1.2.uspp.F.UPF"  # original GBRV W in UPF v1 (MANIFEST.md)
SHARED_FE_PAW = PSEUDO_DIR / "Fe.pbe-spn-kjpaw_psl.0.2.1.UPF"
WITH_SHARED = PSEUDO_DIR.is_dir()


@pytest.fixture(scope="session")
def generated_paw_fe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A PAW Fe made by the real ld1.x from tipsurf's Fe recipe (lpaw, Bessel augmentation): file, ld1 output."""
    import subprocess

    ld1 = shutil.which("ld1.x")
    if ld1 is None:
        pytest.skip("needs ld1.x on PATH (Debian quantum-espresso)")
    recipe = pseudo_gen.load_recipe("Fe")
    recipe.update(pseudo_type="PAW", file_name="Fe.paw-test.UPF", augmentation={"which_augfun": "BESSEL"})
    work = tmp_path_factory.mktemp("paw_fe")
    (work / "ld1.in").write_text(pseudo_gen.ld1_input(recipe))
    with open(work / "ld1.in") as stdin:
        proc = subprocess.run([ld1], stdin=stdin, capture_output=True, text=True, cwd=work, timeout=300, check=False)
    assert proc.returncode == 0 and (work / "Fe.paw-test.UPF").is_file(), proc.stdout[-2000:]
    return work / "Fe.paw-test.UPF", proc.stdout


def _v1_cases() -> list:
    cases = [pytest.param("written", id="test-written-v1-W")]
    if WITH_SHARED:
        cases.append(pytest.param("gbrv", id="original-gbrv-W"))
    return cases


@pytest.mark.parametrize("which", _v1_cases())
def test_upf_v1_header(which: str, tmp_path: Path) -> None:
    """The positional v1 header: element, type, valence, functional, 0/0 cut-offs, closing tag."""
    from upf_files import write_upf_v1

    if which == "gbrv":
        path, md5 = SHARED_W_V1, "9c083fa34c2a2ea0f02f1f893e16e1c8"  # MANIFEST.md
    else:
        path = write_upf_v1(tmp_path / "W_v1.UPF", "W", 14.0)
        md5 = hashlib.md5(path.read_bytes()).hexdigest()
    info = upf_info(path)
    assert (info.element, info.pseudo_type, info.z_valence) == ("W", "US", 14.0)
    assert info.functional.split()[:3] == ["SLA", "PW", "PBE"]
    assert info.wfc_cutoff_Ry is None and info.rho_cutoff_Ry is None  # header says 0 / 0
    assert info.complete
    assert info.md5 == md5
    text = path.read_text()
    (tmp_path / "cut.UPF").write_text(text[: text.rindex("<PP_RHOATOM>")])
    assert upf_info(tmp_path / "cut.UPF").element == "W" and not upf_info(tmp_path / "cut.UPF").complete


def _v2_cases() -> list:
    cases = [pytest.param("generated", id="ld1-generated-paw-Fe")]
    if WITH_SHARED:
        cases.append(pytest.param("pslibrary", id="pslibrary-paw-Fe"))
    return cases


@pytest.mark.parametrize("which", _v2_cases())
def test_upf_v2_header_cutoffs_of_paw_fe(which: str, request: pytest.FixtureRequest) -> None:
    if which == "pslibrary":
        info = upf_info(SHARED_FE_PAW)
        assert info.wfc_cutoff_Ry == pytest.approx(63.9, abs=0.1)
        assert info.rho_cutoff_Ry == pytest.approx(781.7, abs=0.1)
    else:
        path, ld1_out = request.getfixturevalue("generated_paw_fe")
        info = upf_info(path)
        # ld1.x writes the largest of the cut-off estimates it prints into the header
        estimates = [float(x) for x in re.findall(r"Estimated cut-off energy=\s*([\d.]+)", ld1_out)]
        assert estimates and info.wfc_cutoff_Ry == pytest.approx(max(estimates), abs=0.01)
        rho = float(re.search(r'rho_cutoff="([^"]+)"', path.read_text()).group(1))
        assert info.rho_cutoff_Ry == pytest.approx(rho) and info.rho_cutoff_Ry > info.wfc_cutoff_Ry
    assert (info.element, info.pseudo_type, info.z_valence) == ("Fe", "PAW", 16.0)
    assert info.complete


def test_truncated_upf_is_reported_incomplete(qe_pseudo_library, tmp_path: Path) -> None:
    text = qe_pseudo_library.path("O").read_text()
    assert upf_info(qe_pseudo_library.path("O")).complete
    (tmp_path / "O.UPF").write_text(text[: len(text) // 2])
    assert not upf_info(tmp_path / "O.UPF").complete


def test_check_dir_covers_all_preset_elements(qe_pseudo_library) -> None:
    """The library folder (../shared/pseudo, or the generated set + the test-written Ag) covers all nine."""
    infos = check_pseudo_dir(qe_pseudo_library.folder)
    elements = {i.element for i in infos}
    assert {"Fe", "Co", "Mn", "W", "Ti", "H", "Mg", "O", "Ag"} <= elements
    by_name = {Path(i.path).name: i for i in infos}
    for element, name in qe_pseudo_library.files.items():
        assert by_name[name].element == element and by_name[name].z_valence == qe_pseudo_library.valence[element]


def test_cli_check_json(qe_pseudo_library, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`pseudo check --json` on a folder with a UPF v1 file next to v2 ones (the shared folder as it is)."""
    from upf_files import write_upf_v1

    if qe_pseudo_library.source == "shared":
        folder, w_v1, md5 = qe_pseudo_library.folder, "W_pbe_v1.2.uspp.F.UPF", "9c083fa34c2a2ea0f02f1f893e16e1c8"
    else:
        folder = tmp_path / "library"
        shutil.copytree(qe_pseudo_library.folder, folder)
        w_v1 = "W_v1.UPF"
        md5 = hashlib.md5(write_upf_v1(folder / w_v1, "W", 14.0).read_bytes()).hexdigest()
    assert main(["pseudo", "check", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    found = [f for f in report["files"] if f["path"].endswith(w_v1)][0]
    assert found["z_valence"] == 14.0 and found["md5"] == md5 and found["pseudo_type"] == "US"
    assert "W" in report["elements"] and isinstance(report["missing_for_presets"], dict)


def test_cli_check_missing_folder_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pseudo", "check", str(tmp_path / "nope")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_unknown_element_lists_recipes(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="recipes exist for: .*Fe"):
        pseudo_gen.generate_pseudopotential("Xx", tmp_path)


def test_missing_ld1_is_program_not_found(tmp_path: Path) -> None:
    with pytest.raises(ProgramNotFoundError):
        pseudo_gen.generate_pseudopotential("Fe", tmp_path, ld1_command=[str(tmp_path / "no-ld1.x")])
    assert not list(tmp_path.glob("*.UPF"))


def test_recipes_ship_for_demo_elements() -> None:
    assert {"Fe", "Mn", "W"} <= set(pseudo_gen.available_recipes())
    for element in pseudo_gen.available_recipes():
        recipe = pseudo_gen.load_recipe(element)
        text = pseudo_gen.ld1_input(recipe)
        assert "iswitch=3" in text and f"zed={float(recipe['zed'])}" in text
        assert text.strip().splitlines()[-len(recipe["channels"]) - 1] == str(len(recipe["channels"]))


def test_generate_cache_and_provenance(pseudo_cache: Path, tmp_path: Path) -> None:
    """Uses the session cache built by ld1.x; checks provenance, cache hits and regeneration."""
    cache = tmp_path / "pseudo"
    shutil.copytree(pseudo_cache, cache)
    folder, files = pseudo_gen.ensure_pseudopotentials(["Fe"], cache_dir=cache)
    upf = folder / files["Fe"]
    record = pseudo_gen.read_provenance(upf)
    assert record is not None
    assert record["upf_md5"] == md5sum(upf) and record["recipe_md5"] == pseudo_gen.recipe_md5("Fe")
    assert record["ld1_version"].startswith("v.")
    info = upf_info(upf)
    assert (info.element, info.z_valence, info.complete) == ("Fe", 16.0, True)
    assert (info.wfc_cutoff_Ry, info.rho_cutoff_Ry) == (35.0, 280.0)
    stamp = upf.stat().st_mtime_ns
    pseudo_gen.ensure_pseudopotentials(["Fe"], cache_dir=cache)
    assert upf.stat().st_mtime_ns == stamp  # cached: not regenerated
    record["recipe_md5"] = "0" * 32  # a changed recipe makes the file stale
    pseudo_gen.provenance_path(upf).write_text(json.dumps(record))
    messages: list[str] = []
    pseudo_gen.ensure_pseudopotentials(["Fe"], cache_dir=cache, progress=messages.append)
    assert any("generated" in m for m in messages)
    assert pseudo_gen.read_provenance(upf)["recipe_md5"] == pseudo_gen.recipe_md5("Fe")


def test_default_pseudo_dir_uses_config_cache(pseudo_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tipsurf.config import load_config

    shutil.copytree(pseudo_cache, tmp_path / "cache" / "pseudo")
    monkeypatch.setenv("TIPSURF_CACHE_DIR", str(tmp_path / "cache"))
    folder, files = pseudo_gen.default_pseudo_dir(["Mn", "Fe"], load_config())
    assert folder == tmp_path / "cache" / "pseudo"
    assert set(files) == {"Fe", "Mn"} and all((folder / f).is_file() for f in files.values())


def test_cli_generate_prints_provenance(pseudo_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "pseudo"
    shutil.copytree(pseudo_cache, cache)
    assert main(["pseudo", "generate", "Fe", "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    assert f"md5={md5sum(cache / 'Fe.pbe-spn-rrkjus_tipsurf.UPF')}" in out and "ecutwfc=35" in out


def test_cli_generate_unknown_element_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pseudo", "generate", "Xx", "--cache", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no pseudopotential recipe for 'Xx'") and "\n" not in err
