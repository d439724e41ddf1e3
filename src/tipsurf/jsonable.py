"""Plain JSON values from what tipsurf stores: ``Atoms.info``, presets, records, tables.

The one converter of the package (stage-0 utility: it imports no stage).  Structure files,
the engines' calculation files and the analysis exports all go through :func:`to_jsonable`;
they differ only in what they do with NaN and with objects JSON has no form for.
"""

from __future__ import annotations

import math
from typing import Any, Callable

__all__ = ["to_jsonable"]


def to_jsonable(value: Any, *, finite: bool = False, other: Callable[[Any], Any] | None = str) -> Any:
    """``value`` as plain JSON data: dicts with string keys, lists, str, int, float, bool, None.

    Mappings keep their order with ``str`` keys; lists and tuples become lists; numpy arrays,
    numpy scalars and other array-likes with a ``tolist()`` (an ASE ``Cell``) become Python
    lists and numbers.

    Parameters
    ----------
    value
        What to convert (not modified).
    finite
        Store NaN and ±inf as None (strict JSON has no such numbers); False keeps them.
    other
        What any other object becomes: its ``str`` by default; None leaves it as it is (for a
        later ``json.dumps`` to refuse); a function that raises refuses it here.

    Returns
    -------
    Any
        The converted value.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, finite=finite, other=other) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, finite=finite, other=other) for v in value]
    if callable(getattr(value, "tolist", None)):  # numpy arrays and scalars (np.float64 too)
        return to_jsonable(value.tolist(), finite=finite, other=other)
    if isinstance(value, float):
        return None if finite and not math.isfinite(value) else value
    if isinstance(value, (str, int)) or value is None:
        return value
    return value if other is None else other(value)
