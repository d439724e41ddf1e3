"""Calculation presets: YAML protocols in ``templates/presets`` loaded, validated and merged.

A preset is a plain dict (see ``templates/presets/fast.yaml`` for the documented format).
Engines receive it already merged with the user's overrides (:func:`merge_preset`).

Data a preset states with its source (read by the campaigns, not by the engines):

* ``hubbard_u_required: [Ti]`` with ``hubbard_u_source``: the protocol puts a U on these
  elements but the preset gives no value; a campaign on a structure with such an element
  refuses to start until the user gives one (:func:`require_hubbard_u`).
* ``ag_lattice_constant_A`` with ``ag_lattice_constant_source``: the Ag lattice constant of
  the MgO/Ag(100) slabs built for this protocol.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

from tipsurf.errors import InputError
from tipsurf.templates import available, load_template

KNOWN_CODES = ("qe", "vasp")
_NUMERIC_KEYS = (
    "ecutwfc_Ry",
    "ecutrho_Ry",
    "degauss_Ry",
    "mixing_beta",
    "conv_thr_Ry",
    "conv_thr_Ry_per_atom",
    "slab_vacuum_A",
    "ag_lattice_constant_A",
)
_REPLACED_KEYS = {"kpoints"}
_MAPPING_KEYS = ("pseudopotentials", "kpoints", "hubbard_u_eV", "extra")
_COMMON_KEYS = {
    "code", "name", "description", "kpoints", "hubbard_u_eV", "dipole_correction", "relax_parts_before_scan",
    "hubbard_u_required", "hubbard_u_source", "ag_lattice_constant_A", "ag_lattice_constant_source",
}
_HUBBARD_VALUE_KEYS = ("hubbard_u_eV", "hubbard_j_eV")
ALLOWED_KEYS: dict[str, set[str]] = {
    "qe": _COMMON_KEYS
    | {
        "pseudopotentials", "ecutwfc_Ry", "ecutrho_Ry", "smearing", "degauss_Ry", "mixing_mode",
        "mixing_beta", "mixing_ndim", "conv_thr_Ry", "conv_thr_Ry_per_atom", "electron_maxstep",
        "diagonalization", "spin_polarized", "hubbard_projector", "hubbard_j_eV", "vdw_corr",
        "slab_vacuum_A", "extra", "scf_recovery",
    },
    "vasp": _COMMON_KEYS | {"incar", "calculations", "potcar_functional", "potcar_symbols", "hubbard_l", "hubbard_j_eV"},
}


def known_presets() -> list[str]:
    """Names of the presets shipped with tipsurf."""
    return available("presets")


def validate_preset(preset: dict[str, Any], name: str = "preset") -> dict[str, Any]:
    """Check the structure of a preset and return it unchanged.

    Raises
    ------
    InputError
        If ``code`` is missing or unknown, or a key has the wrong type.
    """
    if not isinstance(preset, dict):
        raise InputError(f"{name} must be a mapping, got {type(preset).__name__}")
    code = preset.get("code")
    if code not in KNOWN_CODES:
        raise InputError(f"{name} has code {code!r}; it must say 'code: qe' or 'code: vasp'")
    unknown = sorted(set(preset) - ALLOWED_KEYS[code])
    if unknown:
        raise InputError(
            f"{name}: unknown key(s) {unknown} for code {code}; allowed: {', '.join(sorted(ALLOWED_KEYS[code]))}"
        )
    for key in _NUMERIC_KEYS:
        value = preset.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise InputError(f"{name}: '{key}' must be a non-negative number, got {value!r}")
    beta = preset.get("mixing_beta")
    if beta is not None and not 0 < beta <= 1:
        raise InputError(f"{name}: 'mixing_beta' must be in (0, 1], got {beta}")
    for key in _MAPPING_KEYS:
        value = preset.get(key)
        if value is not None and not isinstance(value, dict):
            raise InputError(f"{name}: '{key}' must be a mapping, got {type(value).__name__}")
    kpoints = preset.get("kpoints") or {}
    if kpoints and "mesh" not in kpoints and "density_per_A-1" not in kpoints:
        raise InputError(f"{name}: 'kpoints' needs 'mesh: [n1, n2, n3]' or 'density_per_A-1: x'")
    mesh = kpoints.get("mesh")
    if mesh is not None and (
        not isinstance(mesh, list) or len(mesh) != 3 or not all(isinstance(n, int) and n > 0 for n in mesh)
    ):
        raise InputError(f"{name}: 'kpoints.mesh' must be three positive integers, got {mesh!r}")
    _validate_hubbard(preset, name)
    _validate_recovery(preset.get("scf_recovery"), name)
    return preset


def _validate_hubbard(preset: dict[str, Any], name: str) -> None:
    """U/J values are non-negative numbers (eV); ``hubbard_u_required`` is a list of elements."""
    for key in _HUBBARD_VALUE_KEYS:
        for element, value in (preset.get(key) or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InputError(f"{name}: '{key}.{element}' must be a non-negative number of eV, got {value!r}")
    required = preset.get("hubbard_u_required")
    if required is not None and (not isinstance(required, list) or not all(isinstance(e, str) for e in required)):
        raise InputError(f"{name}: 'hubbard_u_required' must be a list of elements like [Ti], got {required!r}")


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


_RECOVERY_KEYS = {"set", "scale", "at_least", "restart", "description"}


def _validate_recovery(steps: Any, name: str) -> None:
    if steps is None:
        return
    if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
        raise InputError(f"{name}: 'scf_recovery' must be a list of steps like {{scale: {{mixing_beta: 0.5}}, restart: true}}")
    for step in steps:
        unknown = set(step) - _RECOVERY_KEYS
        if unknown:
            raise InputError(f"{name}: unknown key(s) {sorted(unknown)} in an scf_recovery step; allowed: {sorted(_RECOVERY_KEYS)}")


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


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in _REPLACED_KEYS:
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_preset(preset: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Return a copy of ``preset`` with ``overrides`` merged in.

    Nested mappings are merged key by key, except ``kpoints`` which is replaced as a whole
    (mesh and density are alternatives).  A value of ``None`` in ``overrides`` removes the key.
    """
    merged = _merge(preset, overrides or {})
    return validate_preset(merged, name=f"preset '{merged.get('name', '?')}' with overrides")
