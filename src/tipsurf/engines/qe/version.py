"""Which Quantum ESPRESSO version runs: from the configuration or the pw.x banner."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from functools import lru_cache

from tipsurf.config import Config
from tipsurf.errors import ConfigurationError, ProgramNotFoundError

_BANNER = re.compile(r"Program PWSCF v\.?\s*([0-9]+(?:\.[0-9]+)*[A-Za-z0-9\-_.]*)")


def parse_version(text: str) -> tuple[int, int]:
    """``"6.7MaX"`` -> ``(6, 7)``; ``"7.2"`` -> ``(7, 2)``.

    Raises
    ------
    ConfigurationError
        If the text holds no ``major.minor`` number.
    """
    match = re.match(r"\s*v?\.?(\d+)(?:\.(\d+))?", str(text))
    if not match:
        raise ConfigurationError(f"cannot read a QE version from {text!r}; write it like qe_version: \"7.2\"")
    return int(match.group(1)), int(match.group(2) or 0)


def banner_version(text: str) -> str | None:
    """The version string of a pw.x banner (``Program PWSCF v.6.7MaX starts ...``), or None."""
    match = _BANNER.search(text)
    return match.group(1) if match else None


def check_program(command: list[str], what: str = "pw.x") -> None:
    """Raise ProgramNotFoundError if the command's executable is not installed."""
    if not command or shutil.which(command[0]) is None:
        shown = command[0] if command else "(empty)"
        raise ProgramNotFoundError(
            f"{shown} (command for {what}) not found, so the QE version cannot be read from its banner; "
            "install Quantum ESPRESSO, fix 'commands: pw:' / TIPSURF_PW_COMMAND, or set qe_version in the config file"
        )


@lru_cache(maxsize=8)
def _probe(command: tuple[str, ...]) -> str:
    check_program(list(command))
    try:
        # pw.x leaves CRASH and input_tmp.in in its working folder: run it in a throwaway one.
        with tempfile.TemporaryDirectory(prefix="tipsurf-qe-version-") as scratch:
            proc = subprocess.run(
                list(command), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                check=False, cwd=scratch,
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigurationError(
            f"could not run {' '.join(command)} to read its version ({exc}); set qe_version in the config file"
        ) from None
    found = banner_version(proc.stdout + proc.stderr)
    if found is None:
        raise ConfigurationError(
            f"{' '.join(command)} printed no 'Program PWSCF v.X' banner; set qe_version in the config file"
        )
    return found


def qe_version(config: Config) -> str:
    """The QE version string: ``config.qe_version`` if set, else read from the pw.x banner."""
    if config.qe_version:
        parse_version(config.qe_version)
        return str(config.qe_version)
    return _probe(tuple(config.command("pw")))
