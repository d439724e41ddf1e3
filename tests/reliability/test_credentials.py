"""Database credentials are never printed or logged.

A FireWorks ``my_launchpad.yaml`` carries a password both in a MongoDB URI and as
``password:``.  No MongoDB runs here, so every command must fail to connect - with a one-line
error, quickly, and without the password anywhere in stdout, stderr or the log records.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reliability_helpers import assert_one_line_error

SECRET = "S3cr3tPassw0rd"
TIMEOUT_S = 20.0  # with a sane server-selection timeout a refused connection fails in seconds


def _launchpad_file(folder: Path, with_timeout: bool = True) -> Path:
    path = folder / "my_launchpad.yaml"
    text = (
        f"host: mongodb://tipsurf_user:{SECRET}@127.0.0.1:1/tipsurf?authSource=admin\n"
        "port: 1\nname: tipsurf\nusername: tipsurf_user\n"
        f"password: {SECRET}\n"
    )
    if with_timeout:
        text += "mongoclient_kwargs:\n  serverSelectionTimeoutMS: 500\n  connectTimeoutMS: 500\n"
    path.write_text(text)
    return path


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text, f"the password leaked: ...{text[max(0, text.find(SECRET) - 80):text.find(SECRET) + 20]}..."


def test_open_unreachable_mongodb_one_line_no_secret(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("tipsurf.workflows.launchpad")
    from tipsurf.errors import TipsurfError
    from tipsurf.workflows.runner import campaign_status

    caplog.set_level(logging.DEBUG)
    lp_file = _launchpad_file(project)
    with pytest.raises(TipsurfError) as info:
        campaign_status("any", launchpad=lp_file)
    message = str(info.value)
    assert "\n" not in message
    _assert_no_secret(message, caplog.text)


def test_cli_unreachable_mongodb_one_line_no_secret(project: Path, run_cli, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("tipsurf.workflows.store")
    caplog.set_level(logging.DEBUG)
    lp_file = _launchpad_file(project)
    result = run_cli("analyze", "exchange", "--name", "any", "--launchpad", str(lp_file), "-o", "out")
    assert_one_line_error(result)
    _assert_no_secret(result.out, result.err, caplog.text)
    assert not (project / "out").exists()


def test_cli_status_unreachable_mongodb_no_secret(project: Path, run_cli, caplog: pytest.LogCaptureFixture) -> None:
    from tipsurf.cli import _register, app

    _register()
    names = {c.name for c in getattr(app, "registered_commands", [])}
    if "status" not in names:
        pytest.skip("'tipsurf status' is not available yet")
    caplog.set_level(logging.DEBUG)
    lp_file = _launchpad_file(project)
    result = run_cli("status", "--launchpad", str(lp_file))
    assert_one_line_error(result)
    _assert_no_secret(result.out, result.err, caplog.text)


def test_default_server_selection_timeout_is_short(project: Path) -> None:
    """Without a timeout in the file tipsurf must not hang 30 s (pymongo's default) per command.

    Run in a child process with a hard time limit so that a hang costs at most TIMEOUT_S.
    """
    pytest.importorskip("tipsurf.workflows.launchpad")
    lp_file = _launchpad_file(project, with_timeout=False)
    code = (
        "import sys\n"
        "from tipsurf.errors import TipsurfError\n"
        "from tipsurf.workflows.runner import campaign_status\n"
        "try:\n"
        f"    campaign_status('any', launchpad={str(lp_file)!r})\n"
        "except TipsurfError as err:\n"
        "    print('error:', err, file=sys.stderr); sys.exit(err.exit_code)\n"
    )
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=project)
    except subprocess.TimeoutExpired:
        pytest.fail(f"an unreachable MongoDB launchpad was not reported within {TIMEOUT_S:.0f} s")
    elapsed = time.monotonic() - start
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-500:]
    _assert_no_secret(proc.stdout, proc.stderr)
    assert elapsed < TIMEOUT_S


def test_describe_hides_password(project: Path) -> None:
    """The one-line launchpad description (shown by status/run) never contains the password."""
    pytest.importorskip("tipsurf.workflows.launchpad")
    from fireworks import LaunchPad

    from tipsurf.workflows.launchpad import LaunchpadHandle

    lp = LaunchPad.from_file(str(_launchpad_file(project)))  # pymongo connects lazily
    handle = LaunchpadHandle(lp, "mongodb", project)
    text = handle.describe()
    assert "127.0.0.1" in text or "tipsurf" in text
    _assert_no_secret(text)


def test_config_as_dict_has_no_password(project: Path) -> None:
    """Provenance/logging dump of the configuration holds paths, not launchpad contents."""
    import os

    from tipsurf.config import load_config

    lp_file = _launchpad_file(project)
    Path(os.environ["TIPSURF_CONFIG"]).write_text(f"launchpad: {lp_file}\n")
    _assert_no_secret(repr(load_config().as_dict()))
