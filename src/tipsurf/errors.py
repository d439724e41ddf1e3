"""Exceptions that carry a one-line, user-facing message.

Every error a user can cause (bad input, missing program, unusable output) is raised as a
:class:`TipsurfError` subclass whose message says what is wrong and how to fix it.  The CLI
prints it as ``error: <message>`` and exits non-zero, without a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path


class TipsurfError(Exception):
    """Base class of every error a user can act on; ``str(err)`` is a single line."""

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class InputError(TipsurfError, ValueError):
    """A spec, option, preset or file given by the user is invalid."""


class ConfigurationError(TipsurfError):
    """The configuration (pseudopotentials, commands, launchpad) is missing or wrong."""


class ProgramNotFoundError(ConfigurationError):
    """An external program (pw.x, ld1.x, vasp_std, ...) is not installed or not on PATH."""


class OutputError(TipsurfError):
    """A program's output is missing, truncated or unparseable: no number is returned from it."""


class CalculationFailedError(TipsurfError):
    """A calculation failed and could not be recovered by the error handlers."""

    exit_code = 3


class LaunchpadBusyError(TipsurfError):
    """The embedded launchpad is held by another process."""

    exit_code = 4


class RunInterrupted(TipsurfError):
    """The user or the batch system stopped the run (Ctrl-C, SIGTERM, SIGHUP).

    The external programs were stopped, the interrupted points are queued again with their
    partial output kept; ``exit_code`` is 128 + the signal number (130 for Ctrl-C).
    """

    exit_code = 130

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = int(exit_code)


def existing_file(path: str | os.PathLike[str], what: str, hint: str = "") -> Path:
    """``path`` as a Path if it is a file, else the one-line InputError ``<what> <path> does not exist[; hint]``.

    Parameters
    ----------
    path
        The file a user named (or a calculation folder's file).
    what
        What the file is, for the message (``structure file``, ``pseudopotential file`` ...).
    hint
        How to get the file, appended to the message.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist" + (f"; {hint}" if hint else ""))
    return path
