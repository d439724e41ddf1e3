"""CSV/JSON/NPZ export and CSV import of analysis tables (units in every column name).

All writers go through :mod:`tipsurf.atomic` (write-then-rename): a crash never leaves a half
file.  Missing values are written as empty CSV cells and ``null`` in JSON.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from tipsurf.atomic import atomic_path, write_json_atomic, write_text_atomic
from tipsurf.errors import InputError, existing_file
from tipsurf.jsonable import to_jsonable


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def rows_to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV text with a header of ``columns`` (extra keys ignored, missing ones empty)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def write_csv(path: str | Path, rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> Path:
    """Write rows as CSV atomically."""
    return write_text_atomic(path, rows_to_csv(rows, columns))


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` (numpy allowed; NaN and ±inf as null) as JSON atomically."""
    return write_json_atomic(path, to_jsonable(obj, finite=True, other=None))


def write_npz(path: str | Path, **arrays: Any) -> Path:
    """Write arrays to a compressed .npz atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **{k: np.asarray(v) for k, v in arrays.items()})
    return Path(path)


def _parse(value: str) -> Any:
    text = value.strip()
    if text == "":
        return None
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    try:
        return float(text)
    except ValueError:
        return text


def read_csv_rows(path: str | Path, required: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Read a CSV with a header into dicts (numbers as float, empty as None).

    Raises
    ------
    InputError
        Missing file, empty table or missing required columns.
    """
    path = existing_file(path, "table")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise InputError(f"table {path} lacks column(s) {missing}; found {header}")
        rows = [{k: _parse(v or "") for k, v in row.items() if k is not None} for row in reader]
    if not rows:
        raise InputError(f"table {path} has no data rows")
    return rows
