"""Helpers of the reliability suite (snapshots, CLI runner result, error assertions)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("TIPSURF_SHARED", REPO.parent / "shared"))
PSEUDO_DIR = SHARED / "pseudo"
REFDATA = SHARED / "refdata"


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """``{relative path: (sha256, mtime_ns)}`` of every file under ``root`` (dirs as markers)."""
    out: dict[str, tuple[str, int]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_dir():
            out[rel + "/"] = ("dir", 0)
            continue
        if path.name == "launchpad.lock":  # the lock file is touched by every opener (no data)
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        # The embedded store is compared by content: opening it rewrites identical bytes
        # (reported as finding F5); any change of its data is still caught.
        mtime = 0 if path.name == "launchpad.json" else path.stat().st_mtime_ns
        out[rel] = (digest, mtime)
    return out


def diff_snapshots(before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]]) -> list[str]:
    """Paths added, removed or changed between two snapshots."""
    changed = [p for p in before if p in after and before[p] != after[p]]
    added = [p for p in after if p not in before]
    removed = [p for p in before if p not in after]
    return [f"+{p}" for p in added] + [f"-{p}" for p in removed] + [f"~{p}" for p in changed]


@dataclass
class CliResult:
    rc: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def assert_one_line_error(result: CliResult, *needles: str) -> None:
    """Non-zero exit, exactly one stderr line ``error: ...`` naming the problem, no traceback."""
    assert result.rc != 0, f"exit code 0 for a bad input; stdout={result.out!r}"
    assert "Traceback" not in result.err
    assert len(result.err_lines) == 1, f"expected one error line, got {result.err_lines}"
    line = result.err_lines[0]
    assert line.startswith("error: "), line
    for needle in needles:
        assert needle.lower() in line.lower(), f"{needle!r} not named in {line!r}"


def need_program(name: str) -> str:
    """Path of an installed program, or skip the test with the reason."""
    import shutil

    import pytest

    found = shutil.which(name)
    if not found:
        pytest.skip(f"needs {name} on PATH (Debian quantum-espresso)")
    return found
