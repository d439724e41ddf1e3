"""Extended XYZ files that round-trip moments, tags, FixAtoms and the ``info`` metadata.

ASE's extended XYZ stores ``initial_magmoms``, ``tags`` and FixAtoms (as ``move_mask``)
natively, but not lists or dicts in ``info``, and it turns ints/floats into numpy scalars.
:func:`write_structure` therefore writes plain scalars (int, float, bool, simple strings) as
they are, and every other value as a JSON string; the key ``tipsurf_json`` lists the
JSON-encoded keys.  :func:`read_structure` undoes this, so it returns the ``info`` the builder
made.  Positions are written with 8 decimals (1e-8 A).
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io import read, write

from tipsurf.atomic import write_text_atomic
from tipsurf.errors import InputError, existing_file
from tipsurf.jsonable import to_jsonable

JSON_KEYS = "tipsurf_json"
_PLAIN_STRING = re.compile(r"^[A-Za-z_][A-Za-z0-9_.+\-/]*$")
_RESERVED = {"T", "F", "True", "False", "true", "false"}


def _is_plain(value: Any) -> bool:
    """True if extxyz writes ``value`` and reads back an equal value of the same type."""
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        return not isinstance(value, float) or np.isfinite(value)
    if not isinstance(value, str) or not _PLAIN_STRING.match(value) or value in _RESERVED:
        return False
    try:
        float(value)  # 'inf', 'nan', 'Infinity' would come back as floats
    except ValueError:
        return True
    return False


def _unstorable(value: Any) -> Any:
    """Refuse what a structure file cannot hold (anything but JSON data and numpy values)."""
    raise TypeError(f"cannot store {type(value).__name__} in a structure file")


def _encode_info(info: dict[str, Any]) -> dict[str, Any]:
    """info -> extxyz-safe info with JSON strings and the list of encoded keys."""
    out: dict[str, Any] = {}
    encoded: list[str] = []
    for key, value in info.items():
        if _is_plain(value):
            out[key] = value
        else:
            out[key] = json.dumps(to_jsonable(value, other=_unstorable), separators=(",", ":"))
            encoded.append(key)
    if encoded:
        out[JSON_KEYS] = ",".join(encoded)
    return out


def _decode_info(info: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`_encode_info` (numpy scalars back to Python)."""
    encoded = set(filter(None, str(info.get(JSON_KEYS, "")).split(",")))
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key == JSON_KEYS:
            continue
        if key in encoded:
            try:
                out[key] = json.loads(value)
            except (TypeError, json.JSONDecodeError):
                raise InputError(
                    f"structure metadata '{key}' is not valid JSON; rebuild the file with 'tipsurf build'"
                ) from None
        elif isinstance(value, np.generic):
            out[key] = value.item()
        else:
            out[key] = value
    return out


def write_structure(atoms: Atoms, path: str | os.PathLike[str]) -> Path:
    """Write ``atoms`` as extended XYZ (atomically: write-then-rename).

    Parameters
    ----------
    atoms
        Structure with initial moments, tags, FixAtoms and metadata in ``info``.
    path
        Destination file.

    Returns
    -------
    Path
        The written path.
    """
    copy = atoms.copy()
    copy.info = _encode_info(atoms.info)
    buffer = io.StringIO()
    write(buffer, copy, format="extxyz")
    return write_text_atomic(path, buffer.getvalue())


def read_structure(path: str | os.PathLike[str]) -> Atoms:
    """Read a file written by :func:`write_structure`; ``info`` is decoded back.

    Raises
    ------
    InputError
        If the file is missing or not an extended XYZ structure.
    """
    source = existing_file(path, "structure file")
    try:
        atoms = read(source, format="extxyz")
    except Exception as exc:  # ASE raises many types for bad files
        raise InputError(f"cannot read {source} as extended XYZ: {exc}") from None
    atoms.info = _decode_info(atoms.info)
    if "initial_magmoms" not in atoms.arrays:
        atoms.set_initial_magnetic_moments(np.zeros(len(atoms)))
    return atoms
