"""Surface sites as the builders define them: one lookup for every consumer.

The surface builders (:func:`tipsurf.structures.mn_w110.build_mn_w110`,
:func:`tipsurf.structures.mgo_ag100.build_mgo_ag100`) store their sites in ``atoms.info``::

    info["sites"] = {site_name: [{"xy_A": [x, y], "reference_indices": [i, ...]}, ...]}

Site ``i`` of a kind is attached to the i-th atom of the top layer (see each builder's
docstring for what ``top``, ``hollow``, ``o-top``, ``bridge`` mean there).  The same
metadata is carried into calculation folders: both engines write ``atoms.info`` as
``metadata`` of ``tipsurf_calc.json``, so an analysis of a finished calculation finds the
very site a structure was built for.  Everything that needs a site position (tip placement,
vacuum LDOS) reads it through :func:`site_record` instead of re-deriving it geometrically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tipsurf.errors import InputError
from tipsurf.structures.checks import require_choice


def site_names(info: Mapping[str, Any]) -> tuple[str, ...]:
    """Site kinds recorded in ``info['sites']`` (empty if there are none)."""
    sites = info.get("sites")
    return tuple(sites) if isinstance(sites, Mapping) else ()


def site_record(info: Mapping[str, Any], site: str, site_index: int = 0) -> dict[str, Any]:
    """The ``info['sites'][site][site_index]`` record of a tipsurf-built surface.

    Parameters
    ----------
    info
        ``atoms.info`` of a surface builder, or the ``metadata`` of a ``tipsurf_calc.json``.
    site
        Site kind, e.g. ``top``/``hollow`` (mn-w110) or ``o-top``/``bridge``/``hollow`` (mgo-ag100).
    site_index
        Which site of that kind (0 = the one attached to the first top-layer atom).

    Returns
    -------
    dict
        ``{"xy_A": [x, y], "reference_indices": [...]}`` with ``xy_A`` as floats (Å).

    Raises
    ------
    InputError
        No site records, an unknown site name, an index out of range or a malformed record.
    """
    sites = info.get("sites")
    if not isinstance(sites, Mapping) or not sites:
        raise InputError("the structure has no info['sites']; build it with a tipsurf surface builder")
    require_choice(f"site for surface {info.get('surface')!r}", site, tuple(sites))
    entries = sites[site]
    ok = isinstance(site_index, (int, np.integer)) and not isinstance(site_index, bool)
    if not isinstance(entries, list) or not ok or not 0 <= site_index < len(entries):
        count = len(entries) if isinstance(entries, list) else 0
        raise InputError(
            f"site index {site_index!r} is outside the surface: {site} sites are 0..{count - 1} "
            "(use a larger lateral size for more sites)"
        )
    entry = entries[int(site_index)]
    xy = entry.get("xy_A") if isinstance(entry, Mapping) else None
    if not isinstance(xy, (list, tuple)) or len(xy) != 2:
        raise InputError(
            f"site record {site} {site_index} is not {{'xy_A': [x, y], 'reference_indices': [...]}} "
            f"(got {entry!r}); rebuild the structure with a tipsurf surface builder"
        )
    return {"xy_A": [float(xy[0]), float(xy[1])],
            "reference_indices": [int(i) for i in entry.get("reference_indices", [])]}
