"""Calculation presets: YAML protocols in ``templates/presets`` loaded, validated and merged.

A preset is a plain dict (see ``templates/presets/fast.yaml`` for the documented format), checked
against its code's typed input set (:mod:`tipsurf.engines.input_sets`: keys, types and defaults
as data).  Engines receive it already layered with the user's overrides (:func:`merge_preset`).

Data a preset states with its source (read by the campaigns, not by the engines):

* ``hubbard_u_required: [Ti]`` with ``hubbard_u_source``: the protocol puts a U on these
  elements but the preset gives no value; a campaign on a structure with such an element
  refuses to start until the user gives one (:func:`require_hubbard_u`).
* ``ag_lattice_constant_A`` with ``ag_lattice_constant_source``: the Ag lattice constant of
  the MgO/Ag(100) slabs built for this protocol.
"""

from __future__ import annotations

from typing import Any, Iterable

from tipsurf.engines.input_sets import INPUT_SETS, input_set
from tipsurf.errors import InputError
from tipsurf.templates import available, load_template

KNOWN_CODES = tuple(INPUT_SETS)


def known_presets() -> list[str]:
    """Names of the presets shipped with tipsurf."""
    return available("presets")


def validate_preset(preset: dict[str, Any], name: str = "preset") -> dict[str, Any]:
    """Check a preset against its code's input set (:mod:`tipsurf.engines.input_sets`); return it unchanged.

    Raises
    ------
    InputError
        If ``code`` is missing or unknown, a key is unknown for the code (the one-line message
        names it and the valid ones) or a value has the wrong type.
    """
    if not isinstance(preset, dict):
        raise InputError(f"{name} must be a mapping, got {type(preset).__name__}")
    return input_set(preset.get("code"), name).check(preset, name)


def missing_hubbard_u(preset: dict[str, Any], elements: Iterable[str]) -> list[str]:
    """Elements of ``elements`` the preset requires a Hubbard U for but gives none (sorted)."""
    given = preset.get("hubbard_u_eV") or {}
    present = set(elements)
    return sorted(e for e in preset.get("hubbard_u_required") or [] if e in present and e not in given)


def require_hubbard_u(preset: dict[str, Any], elements: Iterable[str]) -> None:
    """Refuse a preset that needs a user-given Hubbard U for one of ``elements``.

    Raises
    ------
    InputError
        One line naming the element, the preset's ``hubbard_u_source`` and how to give U.
    """
    missing = missing_hubbard_u(preset, elements)
    if not missing:
        return
    element = missing[0]
    source = preset.get("hubbard_u_source")
    why = f" ({source})" if source else ""
    raise InputError(
        f"preset '{preset.get('name', '?')}' gives no Hubbard U for {', '.join(missing)}{why}; give it with "
        f"--set hubbard_u_eV.{element}=<U in eV> (Python: preset_overrides={{'hubbard_u_eV': {{'{element}': <U>}}}})"
    )


def load_preset(name: str, code: str | None = None) -> dict[str, Any]:
    """Load a shipped preset by name (or a user YAML file by path) and validate it.

    Parameters
    ----------
    name
        Preset name (``fast``, ``tio-mgo-qe`` ...) or path of a ``.yaml`` file.
    code
        If given, the preset must be for this code.

    Raises
    ------
    InputError
        Unknown preset (the message lists the known ones), bad content or wrong code.
    """
    preset = validate_preset(load_template("presets", name), name=f"preset '{name}'")
    if code is not None and preset["code"] != code:
        same = [n for n in known_presets() if _code_of(n) == code]
        raise InputError(
            f"preset '{name}' is for code '{preset['code']}', not '{code}'; choose one of: {', '.join(same) or 'none'}"
        )
    preset.setdefault("name", name)
    return preset


def _code_of(name: str) -> str | None:
    try:
        return load_template("presets", name).get("code")
    except InputError:
        return None


def merge_preset(preset: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Return a copy of ``preset`` with the user's ``overrides`` layered on top.

    The layers of the code's input set (:meth:`tipsurf.engines.input_sets.InputSet.layer`):
    each is checked on its own (a bad override is named as one), nested mappings merge key by
    key except ``kpoints``, which is replaced as a whole (mesh and density are alternatives),
    and a value of ``None`` in ``overrides`` removes the key.
    """
    label = f"preset '{preset.get('name', '?')}'" if isinstance(preset, dict) else "preset"
    code = preset.get("code") if isinstance(preset, dict) else None
    return input_set(code, label).layer(preset, overrides or {}, names=(label, "overrides", f"{label} with overrides"))
