"""The structure a point computes: its spec built, or assembled from relaxed parts.

A point of a scan may be assembled from the separately relaxed tip and slab, an adsorbate is
placed on the relaxed bare slab; the parts' result records (plain dicts from the store) give
the final positions.  :class:`~tipsurf.workflows.tasks.CalcTask` calls :func:`build_atoms`.
"""

from __future__ import annotations

from typing import Any

from tipsurf.errors import InputError

__all__ = ["adsorbate_on_relaxed_slab", "build_atoms", "junction_from_relaxed_parts", "relaxed_part"]


def build_atoms(spec: dict[str, Any], relaxed: dict[str, dict[str, Any]] | None = None) -> Any:
    """Build the structure of a spec dict, optionally from relaxed parts (pre-steps).

    ``relaxed`` maps a role (``tip``, ``surface``) to the stored result record of that part's
    relaxation; a junction is then assembled from the relaxed parts
    (:func:`junction_from_relaxed_parts`), an adsorbate placed on the relaxed slab
    (:func:`adsorbate_on_relaxed_slab`).
    """
    from tipsurf.structures.specs import spec_from_dict

    if relaxed and spec.get("kind") == "adsorbate":
        return adsorbate_on_relaxed_slab(spec, relaxed)
    if relaxed:
        return junction_from_relaxed_parts(spec, relaxed)
    return spec_from_dict(spec).build()


def adsorbate_on_relaxed_slab(spec: dict[str, Any], relaxed: dict[str, dict[str, Any]]) -> Any:
    """The adsorbate of ``spec`` at its site and height over the relaxed slab (role ``surface``).

    The height counts from the relaxed top MgO plane; the slab keeps its constraints, so the
    same atoms are free as on the as-built slab.
    """
    from tipsurf.structures.specs import spec_from_dict

    if set(relaxed) != {"surface"}:
        raise InputError(f"an adsorbate point starts from a relaxed 'surface' only, got {sorted(relaxed)}; add the campaign again")
    return spec_from_dict(spec).build_on(relaxed_part(spec["slab"], relaxed["surface"]))


def relaxed_part(part_spec: dict[str, Any], record: dict[str, Any]) -> Any:
    """The part built from its spec with the final positions of its relaxation record."""
    import numpy as np
    from tipsurf.structures.specs import spec_from_dict

    atoms = spec_from_dict(part_spec).build()
    final = np.asarray(record.get("positions_A") or [], dtype=float)
    if final.shape != (len(atoms), 3) or list(record.get("symbols") or []) != atoms.get_chemical_symbols():
        raise InputError(f"the relaxed structure {record.get('fingerprint')} does not match {part_spec.get('kind')} spec; add the campaign again")
    old_z = atoms.positions[:, 2].copy()
    atoms.set_positions(final, apply_constraint=False)  # the recorded positions, fixed atoms included
    if "surface_z_A" in atoms.info:  # the top plane moved with the relaxation
        top = np.abs(old_z - float(atoms.info["surface_z_A"])) < 0.1
        if top.any():
            atoms.info["surface_z_A"] = float(atoms.info["surface_z_A"] + np.mean(final[top, 2] - old_z[top]))
    return atoms


def junction_from_relaxed_parts(spec: dict[str, Any], relaxed: dict[str, dict[str, Any]]) -> Any:
    """Assemble a junction (tip over site at distance d) from separately relaxed tip and slab."""
    from tipsurf.structures.specs import spec_from_dict
    from tipsurf.structures.junction import build_junction

    parts = {}
    for role in ("surface", "tip"):
        if role in relaxed:
            parts[role] = relaxed_part(spec[role], relaxed[role])
        else:
            parts[role] = spec_from_dict(spec[role]).build()
    kwargs = {k: spec[k] for k in ("site", "site_index", "distance_A", "config", "vacuum_above_tip_A", "scan_d_max_A") if spec.get(k) is not None}
    return build_junction(parts["surface"], parts["tip"], **kwargs)
