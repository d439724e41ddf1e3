"""The README's FireWorks ``lpad`` commands work on an embedded project (issue 12, item 13).

The README used to say ``lpad -l .tipsurf/my_launchpad.yaml get_wflows`` works on the embedded
store; on a real project it ends in a traceback (no MongoDB at localhost:27017), because
FireWorks switches to the file-backed store only through ``MONGOMOCK_SERVERSTORE_FILE`` in its
FW_config.  Here every ``lpad`` line of the README's ``sh`` blocks is run as written (leading
``NAME=value`` words become the environment, as in a shell) from the folder of a project created
by :func:`tipsurf.workflows.launchpad.open_launchpad`, with a home folder of its own so that the
machine's ``~/.fireworks`` plays no part.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
WORKFLOW_NAME = "visible-to-the-readme-lpad"


def documented_lpad_commands() -> list[str]:
    """``lpad`` command lines inside the README's fenced ``sh`` blocks."""
    blocks = re.findall(r"^```(?:sh|bash|console)\n(.*?)^```", README.read_text(), flags=re.MULTILINE | re.DOTALL)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if re.search(r"(^|\s)lpad\s", line)]


def _split(command: str) -> tuple[dict[str, str], list[str]]:
    words = shlex.split(command)
    env: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


@pytest.fixture
def embedded_project(tmp_path: Path) -> Path:
    from fireworks import Firework, ScriptTask, Workflow

    from tipsurf.workflows.launchpad import open_launchpad

    project = tmp_path / "project"
    project.mkdir()
    with open_launchpad(project_dir=project) as handle:
        handle.lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name="fw")], name=WORKFLOW_NAME))
    return project


def _run(command: str, project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("lpad") is None:
        pytest.skip("FireWorks' lpad script is not on PATH")
    extra_env, argv = _split(command)
    env = {k: v for k, v in os.environ.items() if k not in ("FW_CONFIG_FILE", "MONGOMOCK_SERVERSTORE_FILE")}
    env.update({"HOME": str(home), **extra_env})
    return subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=180)


def test_readme_documents_lpad_commands() -> None:
    commands = documented_lpad_commands()
    assert commands, "the README shows no lpad command in an sh block"
    assert any(c.startswith("FW_CONFIG_FILE=.tipsurf/FW_config.yaml lpad ") for c in commands)


@pytest.mark.parametrize("command", documented_lpad_commands() or ["(none documented)"])
def test_documented_lpad_command_works_on_the_embedded_store(command: str, embedded_project: Path, tmp_path: Path) -> None:
    assert command != "(none documented)", "the README shows no lpad command in an sh block"
    home = tmp_path / "home"
    home.mkdir()
    result = _run(command, embedded_project, home)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert WORKFLOW_NAME in result.stdout
    # lpad (mongomock-persistence) writes the store back at exit: tipsurf must still open it.
    from tipsurf.workflows.launchpad import open_launchpad

    with open_launchpad(project_dir=embedded_project) as handle:
        assert len(handle.lp.get_wf_ids()) == 1


def test_store_named_directly_works_despite_a_personal_fireworks_config(embedded_project: Path, tmp_path: Path) -> None:
    """What the README promises for users who keep their own ~/.fireworks/FW_config.yaml."""
    direct = [c for c in documented_lpad_commands() if c.startswith("MONGOMOCK_SERVERSTORE_FILE=")]
    if not direct:
        pytest.skip("the README documents no MONGOMOCK_SERVERSTORE_FILE form")
    home = tmp_path / "home"
    (home / ".fireworks").mkdir(parents=True)
    (home / ".fireworks" / "FW_config.yaml").write_text(f"LAUNCHPAD_LOC: {tmp_path / 'elsewhere' / 'my_launchpad.yaml'}\n")
    for command in direct:
        result = _run(command, embedded_project, home)
        assert result.returncode == 0, result.stderr[-2000:]
        assert WORKFLOW_NAME in result.stdout
