"""Malformed and hostile YAML: configuration files, presets, launchpad files, structure files.

Hostile files carry ``!!python/object/apply:os.system`` payloads that would create a marker
file if any loader constructed Python objects; the marker must never appear.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reliability_helpers import assert_one_line_error, diff_snapshots, snapshot


def _evil(marker: Path) -> str:
    return f'!!python/object/apply:os.system ["touch {marker}"]'


CONFIG_CASES = [
    ("malformed", "pseudo_dir: [unclosed\n", ("not valid YAML", "line 2")),
    ("not-a-mapping", "- a\n- b\n", ("mapping",)),
    ("unknown-key", "psuedo_dir: /x\n", ("psuedo_dir",)),
    ("command-not-list", "commands: {pw: 5}\n", ("pw",)),
    ("command-empty", "commands: {pw: []}\n", ("empty",)),
    ("commands-not-mapping", "commands: pw.x\n", ("commands",)),
    ("tab-indentation", "commands:\n\tpw: [pw.x]\n", ("YAML",)),
]


@pytest.mark.parametrize("case_id, text, needles", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_malformed_config_file(case_id: str, text: str, needles: tuple[str, ...], project: Path, run_cli) -> None:
    Path(os.environ["TIPSURF_CONFIG"]).write_text(text)
    before = snapshot(project)
    result = run_cli("inputs", "nonexistent-but-config-is-read-first.xyz", "-o", "c")
    # the config is read when the engine resolves pseudopotentials; a missing structure may be
    # reported first - either way one line, no traceback; the config error must show up with
    # a structure that exists:
    from tipsurf.config import load_config
    from tipsurf.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as info:
        load_config()
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle.lower() in message.lower(), message
    assert result.rc != 0 and "Traceback" not in result.err
    assert not diff_snapshots(before, snapshot(project))


def test_config_error_reaches_cli_as_one_line(project: Path, run_cli) -> None:
    from tipsurf.structures import build_molecule, write_structure

    write_structure(build_molecule("H2", box_A=6.0), project / "h2.xyz")
    Path(os.environ["TIPSURF_CONFIG"]).write_text("pseudo_dir: [unclosed\n")
    before = snapshot(project)
    result = run_cli("inputs", "h2.xyz", "-o", "c")
    assert_one_line_error(result, "configuration file", "YAML")
    assert not diff_snapshots(before, snapshot(project))


def test_hostile_config_file_not_executed(project: Path, run_cli, tmp_path_factory: pytest.TempPathFactory) -> None:
    marker = tmp_path_factory.mktemp("marker") / "EXECUTED"
    Path(os.environ["TIPSURF_CONFIG"]).write_text(f"pseudo_dir: {_evil(marker)}\n")
    result = run_cli("pseudo", "check", str(project))
    from tipsurf.config import load_config
    from tipsurf.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        load_config()
    assert not marker.exists(), "a YAML tag in the config file ran a command"
    assert "Traceback" not in result.err


def test_hostile_preset_rejected_not_executed(project: Path, run_cli, tmp_path_factory: pytest.TempPathFactory) -> None:
    from tipsurf.structures import build_molecule, write_structure

    marker = tmp_path_factory.mktemp("marker") / "EXECUTED"
    write_structure(build_molecule("H2", box_A=6.0), project / "h2.xyz")
    (project / "evil.yaml").write_text(f"code: {_evil(marker)}\necutwfc_Ry: 30\n")
    before = snapshot(project)
    result = run_cli("inputs", "h2.xyz", "--preset", "evil.yaml", "-o", "c")
    assert_one_line_error(result, "evil.yaml")
    assert not marker.exists(), "a YAML tag in a preset ran a command"
    assert not diff_snapshots(before, snapshot(project))


def test_hostile_launchpad_file_rejected_not_executed(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    pytest.importorskip("tipsurf.workflows.launchpad")
    from tipsurf.errors import TipsurfError
    from tipsurf.workflows.launchpad import open_launchpad

    marker = tmp_path_factory.mktemp("marker") / "EXECUTED"
    lp_file = project / "my_launchpad.yaml"
    lp_file.write_text(f"host: {_evil(marker)}\nname: tipsurf\n")
    with pytest.raises(TipsurfError) as info:
        with open_launchpad(lp_file):
            pass
    assert "\n" not in str(info.value)
    assert not marker.exists(), "a YAML tag in a launchpad file ran a command"


def test_hostile_override_value_not_executed(project: Path, run_cli, tmp_path_factory: pytest.TempPathFactory) -> None:
    """``--set key=VALUE`` parses VALUE as YAML: it must be the safe loader too."""
    from tipsurf.structures import build_molecule, write_structure

    marker = tmp_path_factory.mktemp("marker") / "EXECUTED"
    write_structure(build_molecule("H2", box_A=6.0), project / "h2.xyz")
    before = snapshot(project)
    result = run_cli("inputs", "h2.xyz", "--set", f"mixing_beta={_evil(marker)}", "-o", "c")
    assert_one_line_error(result, "mixing_beta")
    assert not marker.exists()
    assert not diff_snapshots(before, snapshot(project))


def test_binary_config_file(project: Path, run_cli) -> None:
    """A config file that is not text (e.g. a copied binary) gives a one-line error."""
    from tipsurf.structures import build_molecule, write_structure

    write_structure(build_molecule("H2", box_A=6.0), project / "h2.xyz")
    Path(os.environ["TIPSURF_CONFIG"]).write_bytes(b"\xff\xfe\x00binary")
    before = snapshot(project)
    result = run_cli("inputs", "h2.xyz", "-o", "c")
    assert_one_line_error(result, "configuration file")
    assert not diff_snapshots(before, snapshot(project))


def test_binary_preset_file(project: Path, run_cli) -> None:
    from tipsurf.structures import build_molecule, write_structure

    write_structure(build_molecule("H2", box_A=6.0), project / "h2.xyz")
    (project / "bin.yaml").write_bytes(b"\xff\xfe\x00binary")
    before = snapshot(project)
    result = run_cli("inputs", "h2.xyz", "--preset", "bin.yaml", "-o", "c")
    assert_one_line_error(result, "bin.yaml")
    assert not diff_snapshots(before, snapshot(project))


def test_structure_file_with_tampered_metadata(project: Path, run_cli) -> None:
    """An extended XYZ whose JSON-encoded info was edited by hand: one-line error."""
    path = project / "tip.xyz"
    assert run_cli("build", "tip", "-o", "tip.xyz").rc == 0
    lines = path.read_text().splitlines(keepends=True)
    header = lines[1]
    assert "tipsurf_json" in header or "json" in header.lower(), "no JSON-encoded info to tamper with"
    # break every JSON-encoded value: replace the first '{' of the comment line
    lines[1] = header.replace("{", "{{{", 1) if "{" in header else header.replace("[", "[[[", 1)
    path.write_text("".join(lines))
    before = snapshot(project)
    result = run_cli("inputs", "tip.xyz", "-o", "c")
    assert_one_line_error(result, "JSON")
    assert not diff_snapshots(before, snapshot(project))
