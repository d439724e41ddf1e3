"""Crash-safe file writing: write to a temporary file in the same folder, then rename.

A crash while writing never leaves a half-written file in place of a good one.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tipsurf.errors import InputError


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    Parameters
    ----------
    path
        Final destination.  Its folder is created if needed.

    Yields
    ------
    Path
        Where the caller writes.  Removed again if the block raises.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    except OSError as exc:
        raise InputError(f"cannot write {final}: {exc.strerror or exc}; choose another output path") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _apply_default_mode(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _apply_default_mode(path: Path) -> None:
    """Give the file the permissions a plain ``open`` would (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> Path:
    """Serialise ``obj`` as JSON (sorted keys) to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")
