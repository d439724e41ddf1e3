"""custodian Job that runs pw.x, and :func:`run_pw` which runs it with the error handlers.

The command is an argument list from the configuration (``[pw.x]``, ``[mpirun, -np, 4, pw.x]``,
``[srun, pw.x]``), never a shell string; ``-in pw.in`` is appended, stdout goes to ``pw.out``.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from custodian.custodian import Custodian, ErrorHandler, Job

from tipsurf.atomic import write_json_atomic
from tipsurf.concurrency import STOP_REQUESTED, register_child, released, stop_children
from tipsurf.engines.qe.handlers import ScfConvergenceHandler, WalltimeHandler, default_handlers, mark_run_start
from tipsurf.engines.qe.inputs import PW_INPUT, PW_OUTPUT, PW_STDERR
from tipsurf.engines.qe.pw_input import attempt_path
from tipsurf.errors import CalculationFailedError, ProgramNotFoundError, RunInterrupted

logging.getLogger("custodian").addHandler(logging.NullHandler())

CORRECTIONS_FILE = "tipsurf_corrections.json"


def check_command(command: list[str], what: str = "pw.x") -> None:
    """Raise ProgramNotFoundError unless the launcher and every ``*.x`` program in it are installed."""
    if not command:
        raise ProgramNotFoundError(f"the command for {what} is empty; set 'commands:' in the config file")
    for position, arg in enumerate(command):
        if (position == 0 or arg.endswith(".x")) and shutil.which(arg) is None:
            raise ProgramNotFoundError(
                f"{arg} (in the {what} command {' '.join(command)}) is not installed or not on PATH; "
                "install Quantum ESPRESSO or fix 'commands:' in the config file / TIPSURF_PW_COMMAND"
            )


def keep_previous_attempt(output: Path) -> Path | None:
    """Move an earlier attempt's output aside (``pw.out.attempt-1``, ``-2``, ...) before a rerun.

    custodian reruns pw.x in the same folder after every correction; each attempt's output (and
    its stderr, ``pw.err.attempt-N``) is kept so that a failure can be diagnosed, beside the
    input it ran with (``pw.in.attempt-N``, kept by the correction that rewrote ``pw.in``).
    Returns the new name, or None if there was none.
    """
    if not output.is_file() or output.stat().st_size == 0:
        return None
    target = attempt_path(output)
    output.replace(target)
    return target


class PwJob(Job):
    """Run ``<command> -in pw.in`` in the calculation folder, stdout to ``pw.out``."""

    #: Seconds between SIGTERM and SIGKILL when pw.x is stopped.
    TERMINATE_GRACE_S = 10.0

    def __init__(self, command: list[str], input_file: str = PW_INPUT, output_file: str = PW_OUTPUT) -> None:
        self.command = list(command)
        self.input_file = input_file
        self.output_file = output_file
        self.process: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        """Job name shown in custodian's log."""
        return "pw.x"

    def setup(self, directory: str = "./") -> None:
        """Check the input exists."""
        if not (Path(directory) / self.input_file).is_file():
            raise CalculationFailedError(f"{Path(directory) / self.input_file} is missing; run 'tipsurf inputs' first")

    def run(self, directory: str = "./") -> subprocess.Popen:
        """Start pw.x and return the process (custodian waits for it)."""
        folder = Path(directory)
        if STOP_REQUESTED.is_set():  # never (re)start pw.x once a stop was asked for
            raise RunInterrupted(f"stop requested before pw.x started in {folder}")
        kept = keep_previous_attempt(folder / self.output_file)
        if kept is not None and (folder / PW_STDERR).is_file():
            (folder / PW_STDERR).replace(folder / kept.name.replace(self.output_file, PW_STDERR, 1))
        with open(folder / self.output_file, "w") as out, open(folder / PW_STDERR, "w") as err:
            self.process = subprocess.Popen(
                [*self.command, "-in", self.input_file], cwd=folder, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )
        register_child(self.process)
        return self.process

    def terminate(self, directory: str = "./") -> None:
        """Stop the running pw.x: SIGTERM, then SIGKILL after :attr:`TERMINATE_GRACE_S`."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=self.TERMINATE_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def postprocess(self, directory: str = "./") -> None:
        """Nothing to do: outputs stay where pw.x wrote them."""


def _plain_corrections(run_log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for entry in run_log:
        for corr in entry.get("corrections", []):
            handler = corr.get("handler")
            out.append(
                {
                    "handler": type(handler).__name__ if handler is not None else None,
                    "errors": list(corr.get("errors") or []),
                    "actions": json.loads(json.dumps(corr.get("actions"), default=str)),
                    **({"prepared": corr["prepared"]} if corr.get("prepared") else {}),
                }
            )
    return out


def read_corrections(directory: str | Path) -> list[dict[str, Any]]:
    """Corrections recorded in ``tipsurf_corrections.json`` (empty if none)."""
    path = Path(directory) / CORRECTIONS_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def run_pw(
    directory: str | Path,
    command: list[str],
    *,
    max_errors: int = 5,
    handlers: list[ErrorHandler] | None = None,
    scf_recovery: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Run pw.x under custodian in ``directory`` and return the corrections made.

    The corrections (``{"handler", "errors", "actions"}``) are appended to
    ``tipsurf_corrections.json`` whether the run succeeds or not.

    Raises
    ------
    ProgramNotFoundError
        The command is not installed.
    CalculationFailedError
        The handlers could not recover the run.
    """
    check_command(command)
    directory = Path(directory).resolve()
    handlers = handlers if handlers is not None else default_handlers(scf_recovery)
    custodian = Custodian(
        handlers,
        [PwJob(command)],
        max_errors=max_errors,
        directory=str(directory),
        polling_time_step=1,
        terminate_on_nonzero_returncode=True,
    )
    failure: str | None = None
    mark_run_start(directory)
    try:
        with released():  # other workers may use the campaign store while pw.x runs
            custodian.run()
    except BaseException as exc:  # custodian raises its own error classes
        if isinstance(exc, KeyboardInterrupt) or STOP_REQUESTED.is_set():
            _interrupted(directory, custodian)
        if not isinstance(exc, Exception):
            raise
        failure = _failure_message(exc, directory)
    new = _plain_corrections(custodian.run_log)
    corrections = read_corrections(directory) + new
    write_json_atomic(directory / CORRECTIONS_FILE, corrections)
    stopped = [c for c in new[-1:] if c["handler"] == WalltimeHandler.__name__ and c["actions"] is None]
    if failure is None and stopped:
        failure = f"pw.x in {directory}: {stopped[0]['errors'][0]}"
    if failure:
        raise CalculationFailedError(failure)
    return corrections


INTERRUPTED_OUTPUT = "pw.out.interrupted"


def _interrupted(directory: Path, custodian: Custodian) -> None:
    """Stop pw.x, keep its partial output and the corrections, raise :class:`RunInterrupted`."""
    stop_children()
    write_json_atomic(directory / CORRECTIONS_FILE, read_corrections(directory) + _plain_corrections(custodian.run_log))
    if (directory / PW_OUTPUT).is_file():
        (directory / PW_OUTPUT).replace(directory / INTERRUPTED_OUTPUT)
    raise RunInterrupted(f"pw.x in {directory} was stopped on request; its partial output is {INTERRUPTED_OUTPUT}") from None


def _failure_message(exc: Exception, directory: Path) -> str:
    handler = getattr(exc, "handler", None)
    if handler is not None:
        detail = getattr(handler, "message", "") or getattr(handler, "error", "")
        if isinstance(handler, ScfConvergenceHandler):  # the stagnation monitor too
            detail = f"SCF did not converge after every recovery step (see scf_recovery in the preset; {type(handler).__name__})"
            detail += f"; {handler.drift}" if handler.drift else ""
        return f"pw.x failed in {directory}: {detail or type(handler).__name__}"
    err = (directory / PW_STDERR).read_text(errors="replace").strip().splitlines() if (directory / PW_STDERR).is_file() else []
    tail = err[-1] if err else ""
    return f"pw.x failed in {directory}: {' '.join(str(exc).split())}{'; ' + tail if tail else ''}"
