"""UPF header parsing, folder checks, the `tipsurf pseudo` commands and the ld1.x generator contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tipsurf.cli import main
from tipsurf.engines.qe import pseudo_gen
from tipsurf.engines.qe.pseudo import check_pseudo_dir, md5sum, upf_info
from tipsurf.errors import InputError, ProgramNotFoundError


@pytest.fixture(scope="session")
def pseudo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fe and Mn generated once per session by the real ld1.x (about 3 s)."""
    if shutil.which("ld1.x") is None:
        pytest.skip("needs ld1.x on PATH (Debian quantum-espresso)")
    from tipsurf.config import Config

    folder = tmp_path_factory.mktemp("generated_pseudo")
    pseudo_gen.ensure_pseudopotentials(["Fe", "Mn"], Config(), cache_dir=folder)
    return folder


def test_upf_v1_header_of_original_gbrv_w(shared_pseudo_dir: Path) -> None:
    info = upf_info(shared_pseudo_dir / "W_pbe_v1.2.uspp.F.UPF")
    assert (info.element, info.pseudo_type, info.z_valence) == ("W", "US", 14.0)
    assert info.functional.split()[:3] == ["SLA", "PW", "PBE"]
    assert info.wfc_cutoff_Ry is None and info.rho_cutoff_Ry is None  # header says 0 / 0
    assert info.complete
    assert info.md5 == "9c083fa34c2a2ea0f02f1f893e16e1c8"  # MANIFEST.md


def test_upf_v2_header_cutoffs_of_pslibrary_fe(shared_pseudo_dir: Path) -> None:
    info = upf_info(shared_pseudo_dir / "Fe.pbe-spn-kjpaw_psl.0.2.1.UPF")
    assert (info.element, info.pseudo_type, info.z_valence) == ("Fe", "PAW", 16.0)
    assert info.wfc_cutoff_Ry == pytest.approx(63.9, abs=0.1)
    assert info.rho_cutoff_Ry == pytest.approx(781.7, abs=0.1)


def test_truncated_upf_is_reported_incomplete(shared_pseudo_dir: Path, tmp_path: Path) -> None:
    text = (shared_pseudo_dir / "o_pbe_v1.2.uspp.F.UPF").read_text()
    (tmp_path / "O.UPF").write_text(text[: len(text) // 2])
    assert not upf_info(tmp_path / "O.UPF").complete


def test_check_dir_covers_all_shared_elements(shared_pseudo_dir: Path) -> None:
    elements = {i.element for i in check_pseudo_dir(shared_pseudo_dir)}
    assert {"Fe", "Co", "Mn", "W", "Ti", "H", "Mg", "O", "Ag"} <= elements


def test_cli_check_json(shared_pseudo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pseudo", "check", str(shared_pseudo_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    w_v1 = [f for f in report["files"] if f["path"].endswith("W_pbe_v1.2.uspp.F.UPF")][0]
    assert w_v1["z_valence"] == 14.0 and w_v1["md5"] == "9c083fa34c2a2ea0f02f1f893e16e1c8"
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
