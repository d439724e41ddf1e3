"""Typed input sets, one per code: the keys a calculation's settings may have, as data, and their layers.

A calculation's settings come in layers, a later one winning key by key: the code's defaults
(:attr:`InputSet.defaults`) < the preset (a YAML protocol, ``templates/presets``) < the user's
overrides (``--set KEY=VALUE``, ``--overrides FILE``, ``preset_overrides=``).
:meth:`InputSet.layer` merges and checks the preset and user layers (what
:func:`tipsurf.engines.presets.merge_preset` returns and what is fingerprinted);
:meth:`InputSet.resolve` puts the defaults under them (what an engine builds its input from).

Every code has its own keys (:data:`INPUT_SETS`): QE's raw pw.x settings are ``extra``
(``{namelist: {key: value}}``), VASP's raw tags are ``incar``.  A key the code does not know is
refused with one line that names it and the valid ones (and, for the other code's raw
settings, where they go instead).
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from typing import Any, Callable

from tipsurf.errors import InputError

__all__ = ["INPUT_SETS", "InputSet", "Key", "input_set"]

Check = Callable[[Any, str], None]


def _fail(where: str, what: str, value: Any) -> None:
    raise InputError(f"'{where}' must be {what}, got {value!r}")


def _number(minimum: float = 0.0, maximum: float | None = None, open_minimum: bool = False) -> Check:
    def check(value: Any, where: str) -> None:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or (value <= minimum if open_minimum else value < minimum) or (
                maximum is not None and value > maximum):
            low = f"({minimum:g}" if open_minimum else f"[{minimum:g}"
            span = f"in {low}, {maximum:g}]" if maximum is not None else f"a number >= {minimum:g}"
            _fail(where, "a non-negative number" if (minimum, maximum) == (0.0, None) else span, value)
    return check


def _integer(value: Any, where: str) -> None:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())) \
            or value < 1:
        _fail(where, "a positive integer", value)


def _of_type(kind: type, what: str) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, kind):
            _fail(where, what, value)
    return check


_text, _flag = _of_type(str, "text"), _of_type(bool, "true or false")


def _mapping_of(check_value: Check | None, keys: tuple[str, ...] | None = None) -> Check:
    """A mapping whose values pass ``check_value``; with ``keys``, only those keys are allowed."""
    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise InputError(f"'{where}' must be a mapping, got {type(value).__name__}")
        for key, item in value.items():
            if keys is not None and str(key) not in keys:
                raise InputError(f"unknown key '{where}.{key}'; valid: {', '.join(keys)}")
            if check_value is not None and item is not None:
                check_value(item, f"{where}.{key}")
    return check


def _shell(value: Any, where: str) -> None:
    if value not in (-1, 0, 1, 2, 3) or isinstance(value, bool):
        _fail(where, "an LDAUL: -1 (none), 0 (s), 1 (p), 2 (d) or 3 (f)", value)


def _texts(value: Any, where: str) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        _fail(where, "a list of elements like [Ti]", value)


def _mesh(value: Any, where: str) -> None:
    if not isinstance(value, list) or len(value) != 3 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value):
        _fail(where, "three positive integers", value)


_KPOINT_KEYS = ("mesh", "density_per_A-1", "gamma_centred")
_KPOINT_CHECKS: dict[str, Check] = {"mesh": _mesh, "density_per_A-1": _number(), "gamma_centred": _flag}


def _kpoints(value: Any, where: str) -> None:
    _mapping_of(None, _KPOINT_KEYS)(value, where)
    for key, item in value.items():
        _KPOINT_CHECKS[key](item, f"{where}.{key}")
    if value and "mesh" not in value and "density_per_A-1" not in value:
        raise InputError(f"'{where}' needs 'mesh: [n1, n2, n3]' or 'density_per_A-1: x'")


PW_NAMELISTS = ("control", "system", "electrons", "ions", "cell")
RECOVERY_KEYS = ("set", "scale", "at_least", "restart", "scale_magnetization", "only_if", "description")
RECOVERY_CONDITIONS = ("moment_vanishing",)


def _recovery(value: Any, where: str) -> None:
    if not isinstance(value, list) or not all(isinstance(step, dict) for step in value):
        raise InputError(f"'{where}' must be a list of steps like {{scale: {{mixing_beta: 0.5}}, restart: true}}")
    for step in value:
        unknown = sorted(set(step) - set(RECOVERY_KEYS))
        if unknown:
            raise InputError(f"unknown key(s) {unknown} in a step of '{where}'; valid: {', '.join(RECOVERY_KEYS)}")
        if "only_if" in step and step["only_if"] not in RECOVERY_CONDITIONS:
            raise InputError(f"only_if: {step['only_if']!r} in a step of '{where}' is not a known condition; "
                             f"use one of {', '.join(RECOVERY_CONDITIONS)}")
        if step.get("restart", False) not in (True, False, "atoms"):
            raise InputError(f"restart: {step['restart']!r} in a step of '{where}' must be true (from the saved density), "
                             "false or atoms (afresh from atoms)")
        factor = step.get("scale_magnetization")
        if factor is not None and step.get("restart") == "atoms":
            raise InputError(f"scale_magnetization in a step of '{where}' needs restart: true, not atoms (it scales the saved density)")
        if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor <= 1):
            raise InputError(f"scale_magnetization in a step of '{where}' must be a number in (0, 1], got {factor!r}")
        if factor is not None and not step.get("restart"):
            raise InputError(f"scale_magnetization in a step of '{where}' needs restart: true (it scales the saved density)")


@dataclass(frozen=True)
class Key:
    """One setting of an input set: how it is checked, its default and what it means.

    Attributes
    ----------
    check
        Raises InputError for a wrong value (None, "not set", is never checked).
    doc
        What the key sets, with its unit.
    default
        The value the engine uses when neither the preset nor the user gives one (None: no
        default, the key is optional or derived from others).
    fingerprinted
        False for keys that steer execution or labelling only (they do not enter the
        calculation's fingerprint, see :meth:`InputSet.fingerprinted`).
    """

    check: Check
    doc: str
    default: Any = None
    fingerprinted: bool = True


_COMMON: dict[str, Key] = {
    "code": Key(_text, "qe or vasp", fingerprinted=False),
    "name": Key(_text, "preset name", fingerprinted=False),
    "description": Key(_text, "what the protocol is", fingerprinted=False),
    "kpoints": Key(_kpoints, "{mesh: [n1, n2, n3]} or {density_per_A-1: x}; gamma_centred (default true)"),
    "hubbard_u_eV": Key(_mapping_of(_number()), "Hubbard U per element (eV)", {}),
    "hubbard_j_eV": Key(_mapping_of(_number()), "Hubbard J per element (eV)"),
    "hubbard_u_required": Key(_texts, "elements the protocol puts a U on without giving it"),
    "hubbard_u_source": Key(_text, "where the protocol's U comes from"),
    "dipole_correction": Key(_flag, "dipole correction along z for slabs", False),
    "relax_parts_before_scan": Key(_flag, "relax the isolated tip and slab before a scan", fingerprinted=False),
    "ag_lattice_constant_A": Key(_number(), "Ag lattice constant of the MgO/Ag(100) slabs (Å)"),
    "ag_lattice_constant_source": Key(_text, "where that lattice constant comes from"),
}

_QE: dict[str, Key] = {
    **_COMMON,
    "kpoints": Key(_kpoints, _COMMON["kpoints"].doc, {"mesh": [1, 1, 1]}),
    "pseudopotentials": Key(_mapping_of(_text), "UPF file per element (their md5 enter the fingerprint)",
                            fingerprinted=False),
    "ecutwfc_Ry": Key(_number(), "wavefunction cut-off (Ry)", 30.0),
    "ecutrho_Ry": Key(_number(), "charge-density cut-off (Ry; default 8 x ecutwfc_Ry)"),
    "smearing": Key(_text, "pw.x smearing", "m-v"),
    "degauss_Ry": Key(_number(), "smearing width (Ry)", 0.02),
    "mixing_mode": Key(_text, "plain | TF | local-TF", "plain"),
    "mixing_beta": Key(_number(0.0, 1.0, open_minimum=True), "SCF mixing factor", 0.3),
    "mixing_ndim": Key(_integer, "SCF mixing history", 8),
    "conv_thr_Ry": Key(_number(), "SCF threshold of the cell (Ry); wins over conv_thr_Ry_per_atom"),
    "conv_thr_Ry_per_atom": Key(_number(), "SCF threshold per atom (Ry)", 1e-7),
    "electron_maxstep": Key(_integer, "SCF iterations at most", 100),
    "diagonalization": Key(_text, "david | cg | ppcg", "david"),
    "spin_polarized": Key(_flag, "nspin 2 when some starting moment is non-zero", True),
    "hubbard_projector": Key(_text, "atomic | ortho-atomic", "atomic"),
    "vdw_corr": Key(_text, "pw.x vdw_corr (dft-d3, ...)"),
    "slab_vacuum_A": Key(_number(), "smallest gap along c that counts as vacuum (Å)", 5.0),
    "dipole_keeps_symmetry": Key(_flag, "keep the z-preserving point operations beside the dipole field", False),
    "real_space_augmentation": Key(_flag, "pw.x tqr: augmentation charges in real space (faster; test it on the model)",
                                   False),
    "extra": Key(_mapping_of(_mapping_of(None), PW_NAMELISTS), "raw pw.x settings {namelist: {key: value}}, applied last"),
    "scf_recovery": Key(_recovery, "recovery steps for an unconverged SCF (engines/qe/handlers.py)",
                        fingerprinted=False),
}

_VASP: dict[str, Key] = {
    **_COMMON,
    "incar": Key(_mapping_of(None), "raw INCAR tags {TAG: value}"),
    "calculations": Key(_mapping_of(_mapping_of(None)), "INCAR changes per calculation {scf|relax|nscf: {TAG: value}}"),
    "potcar_functional": Key(_text, "POTCAR family (PBE, PBE_54, ...)", "PBE"),
    "potcar_symbols": Key(_mapping_of(_text), "POTCAR symbol per element (Mn: Mn_pv)"),
    "hubbard_l": Key(_mapping_of(_shell), "LDAUL per element (default 2: d)"),
}


@dataclass(frozen=True)
class InputSet:
    """The settings one code accepts (:class:`Key` by name) and how its layers merge.

    Attributes
    ----------
    code
        ``qe`` or ``vasp``.
    keys
        Every allowed key with its check, meaning and default.
    replaced
        Mapping keys an upper layer replaces as a whole (``kpoints``: mesh and density are
        alternatives); other mappings merge key by key.
    elsewhere
        Keys of other codes and where their meaning goes in this one (for the error message).
    """

    code: str
    keys: dict[str, Key]
    replaced: frozenset[str] = frozenset({"kpoints"})
    elsewhere: dict[str, str] = field(default_factory=dict)

    @property
    def defaults(self) -> dict[str, Any]:
        """The lowest layer: every key's default (keys without one are left out)."""
        return {name: copy.deepcopy(key.default) for name, key in self.keys.items() if key.default is not None}

    def check(self, settings: Any, name: str = "preset") -> dict[str, Any]:
        """Check one layer (or the merged settings) and return it unchanged.

        Raises
        ------
        InputError
            One line: the first unknown key with the valid ones, or a value of the wrong type.
        """
        if not isinstance(settings, dict):
            raise InputError(f"{name} must be a mapping, got {type(settings).__name__}")
        for key in settings:
            if key not in self.keys:
                raise InputError(f"{name}: {self._unknown(str(key))}")
        for key, value in settings.items():
            try:
                if value is not None:
                    self.keys[key].check(value, str(key))
            except InputError as err:
                raise InputError(f"{name}: {err}") from None
        return settings

    def fingerprinted(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The part of ``settings`` that determines the result (keys marked ``fingerprinted``)."""
        return {k: v for k, v in settings.items() if k not in self.keys or self.keys[k].fingerprinted}

    def _unknown(self, key: str) -> str:
        close = difflib.get_close_matches(key, self.keys, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        hint = f" ({self.elsewhere[key]})" if key in self.elsewhere else hint
        return f"unknown key '{key}' for {self.code}{hint}; valid: {', '.join(sorted(self.keys))}"

    def layer(self, *layers: dict[str, Any] | None, names: tuple[str, ...] = ()) -> dict[str, Any]:
        """Merge ``layers`` (lowest first), each checked on its own, then the result.

        A value of None in an upper layer removes the key; nested mappings merge key by key
        except :attr:`replaced` ones.  ``names`` label the layers in error messages.
        """
        merged: dict[str, Any] = {}
        for i, settings in enumerate(layers):
            if settings is None:
                continue
            self.check(settings, names[i] if i < len(names) else f"settings layer {i + 1}")
            merged = self._merge(merged, settings)
        return self.check(merged, names[-1] if names else "settings")

    def resolve(self, *layers: dict[str, Any] | None, names: tuple[str, ...] = ()) -> dict[str, Any]:
        """The settings an engine builds from: :attr:`defaults` < ``layers`` (checked, see :meth:`layer`).

        An empty mapping for a :attr:`replaced` key (``kpoints: {}``) counts as not given.
        """
        layered = self.layer(*layers, names=names)
        return self._merge(self.defaults, {k: v for k, v in layered.items() if not (k in self.replaced and v == {})})

    def _merge(self, base: dict[str, Any], upper: dict[str, Any]) -> dict[str, Any]:
        return _merge(base, upper, self.replaced)


def _merge(base: dict[str, Any], upper: dict[str, Any], replaced: frozenset[str] = frozenset()) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in upper.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in replaced:
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


#: The input set of each code.
INPUT_SETS: dict[str, InputSet] = {
    "qe": InputSet("qe", _QE, elsewhere={
        "incar": "raw pw.x settings go under 'extra.<namelist>', e.g. --set extra.electrons.mixing_ndim=12"}),
    "vasp": InputSet("vasp", _VASP, elsewhere={
        "extra": "raw INCAR tags go under 'incar', e.g. --set incar.NELM=200"}),
}


def input_set(code: Any, name: str = "preset") -> InputSet:
    """The input set of ``code`` (InputError naming the known codes otherwise)."""
    if code not in INPUT_SETS:
        raise InputError(f"{name} has code {code!r}; it must say 'code: qe' or 'code: vasp'")
    return INPUT_SETS[code]
