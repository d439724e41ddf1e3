"""Paths and permissions: nothing escapes the project folder, nothing is world-writable,
files get the user's default permissions, and probing programs leaves no litter behind."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from reliability_helpers import snapshot


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def strict_umask():
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def test_atomic_files_follow_umask(tmp_path: Path, strict_umask: int) -> None:
    from tipsurf.atomic import write_json_atomic, write_text_atomic

    a = write_text_atomic(tmp_path / "a.txt", "x")
    b = write_json_atomic(tmp_path / "sub" / "b.json", {"x": 1})
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert _mode(a) == _mode(plain) == 0o666 & ~strict_umask
    assert _mode(b) == 0o666 & ~strict_umask
    assert _mode(b.parent) == 0o777 & ~strict_umask


def test_cli_outputs_not_world_writable(project: Path, run_cli, strict_umask: int, qe_pseudos) -> None:
    """Structure files, calculation folders and the launchpad state get the user's permissions."""
    assert run_cli("build", "molecule", "--species", "H2", "--box", "6", "-o", "out/h2.xyz").rc == 0
    assert run_cli("inputs", "out/h2.xyz", "-o", "calc").rc == 0
    created = list(project.rglob("*"))
    assert any(p.name == "h2.xyz" for p in created)
    for path in created:
        mode = _mode(path)
        assert not mode & stat.S_IWOTH, f"{path} is world-writable ({oct(mode)})"
        if path.is_file() and path.parent.name in {"out", "calc"}:
            assert mode & 0o777 == (mode & ~strict_umask) & 0o777, f"{path} ignores the umask ({oct(mode)})"


def test_launchpad_state_not_world_writable(project: Path, strict_umask: int) -> None:
    pytest.importorskip("tipsurf.workflows.launchpad")
    from tipsurf.workflows.launchpad import open_launchpad

    sub = project / "p2"
    with open_launchpad(project_dir=sub) as handle:
        handle.flush()
    for path in (sub / ".tipsurf").rglob("*"):
        assert not _mode(path) & stat.S_IWOTH, f"{path} is world-writable"
    assert not _mode(sub / ".tipsurf") & stat.S_IWOTH


def test_version_probe_leaves_no_files_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the pw.x banner must not drop CRASH / input_tmp.in into the user's folder."""
    if shutil.which("pw.x") is None:
        pytest.skip("needs pw.x")
    from tipsurf.config import load_config
    from tipsurf.engines.qe import version

    monkeypatch.chdir(tmp_path)
    version._probe.cache_clear()
    found = version.qe_version(load_config())
    assert version.parse_version(found) >= (6, 0)
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize("name", ["../../etc", "a/b", "/abs/olute", "..", "x\x00y"])
def test_campaign_name_cannot_escape_project(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            qe_pseudos) -> None:
    """A campaign named like a path is rejected, or used only as a database key (no file outside)."""
    pytest.importorskip("tipsurf.workflows.scan")
    from tipsurf.errors import InputError
    from tipsurf.structures.specs import MnW110Spec, TipSpec
    from tipsurf.api.campaigns import add_distance_scan

    cfg = Path(os.environ["TIPSURF_CONFIG"])
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('qe_version: "6.7"\n')
    outer = tmp_path / "outer"
    project = outer / "a" / "b" / "proj"
    project.mkdir(parents=True)
    monkeypatch.chdir(project)
    before = {p for p in snapshot(tmp_path) if not p.startswith("outer/a/b/proj")}
    try:
        report = add_distance_scan(MnW110Spec(size=(1, 1), w_layers=1), TipSpec(layers=1), "top", [4.0],
                                   configs=["p"], name=name, project_dir=project)
    except InputError as err:
        assert "\n" not in str(err)
    else:
        assert report.campaign  # accepted: then it must be nothing but a key
    after = {p for p in snapshot(tmp_path) if not p.startswith("outer/a/b/proj")}
    assert after == before, f"files created outside the project: {sorted(after - before)}"
    for path in project.rglob("*"):
        assert project in path.resolve().parents or path.resolve() == project


def test_workflow_callables_restricted_to_tipsurf() -> None:
    """Firework specs name analysis/post-step functions by string; a tampered database must
    not be able to make a worker call an arbitrary function such as os.system."""
    pytest.importorskip("tipsurf.workflows.tasks")
    from tipsurf.errors import InputError
    from tipsurf.workflows.tasks import resolve_callable

    assert callable(resolve_callable("tipsurf.analysis.exchange:exchange_table"))
    with pytest.raises(InputError):
        resolve_callable("os:system")
    with pytest.raises(InputError):
        resolve_callable("subprocess:run")


@pytest.mark.parametrize("argv", [["status", "--name", "x"], ["results", "--name", "x"]], ids=["status", "results"])
def test_failed_read_command_creates_no_database(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 run_cli) -> None:
    """Asking about a campaign in a folder that is no project fails without creating one."""
    pytest.importorskip("tipsurf.cli.campaign")
    monkeypatch.chdir(tmp_path)
    result = run_cli(*argv)
    assert result.rc != 0 and "Traceback" not in result.err
    assert sorted(os.listdir(tmp_path)) == [], f"a failing read created {os.listdir(tmp_path)}"
