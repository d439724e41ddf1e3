"""Preset overrides on the command line: the one parser of ``--set KEY=VALUE`` (and ``--overrides``).

Every command that takes ``--set`` (``tipsurf inputs``, ``tipsurf scan``, ``tipsurf campaign
adsorbates``) reads it here, so that they accept the same overrides and refuse the same bad
ones with the same one-line error.

* ``KEY`` is a preset key; dots go into mappings (``kpoints.mesh=[2,2,1]``,
  ``incar.ISPIN=1``).
* ``VALUE`` is read as YAML with the safe loader, except that a number written with an exponent
  and no decimal point (``1e-5``) is a number, not the text YAML 1.1 makes of it.
* An empty value or ``null`` removes the key from the preset (see
  :func:`tipsurf.engines.presets.merge_preset`).
* ``--overrides FILE.yaml`` gives a mapping of overrides; ``--set`` items are applied after it.

The result is the user's layer of the code's input set (defaults < preset < user,
:mod:`tipsurf.engines.input_sets`): it is checked on its own against the same typed keys as a
preset, so an unknown or mistyped override is named as one.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from tipsurf.errors import InputError

__all__ = ["parse_set_options", "parse_value", "preset_overrides"]


class _SafeOverrideLoader(yaml.SafeLoader):
    """The safe loader, plus YAML 1.2's exponent floats without a dot (``1e-5``, ``2E+3``)."""


_SafeOverrideLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def _one_line(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def parse_value(key: str, raw: str) -> Any:
    """The YAML value of ``--set KEY=RAW`` (see module doc); InputError if it is not valid YAML."""
    try:
        return yaml.load(raw, Loader=_SafeOverrideLoader)
    except yaml.YAMLError:
        raise InputError(f"--set {key}: value '{_one_line(raw)}' is not valid YAML") from None


def _split_key(item: str) -> tuple[list[str], str]:
    key, sep, raw = item.partition("=")
    parts = [p.strip() for p in key.split(".")]
    if not sep or not key.strip() or not all(parts):
        raise InputError(f"--set needs KEY=VALUE (e.g. conv_thr_Ry=1e-8 or kpoints.mesh=[2,2,1]), got '{_one_line(item)}'")
    return parts, raw


def _assign(out: dict[str, Any], parts: list[str], value: Any) -> None:
    target = out
    for depth, part in enumerate(parts[:-1]):
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            prefix = ".".join(parts[: depth + 1])
            raise InputError(f"--set {'.'.join(parts)} conflicts with the value already given to {prefix}")
        target = child
    target[parts[-1]] = value


def parse_set_options(items: list[str] | None, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Turn ``--set KEY=VALUE`` items into a nested overrides mapping.

    Parameters
    ----------
    items
        The ``--set`` arguments, in command-line order (a later item wins).
    base
        Overrides to apply the items on top of (e.g. from ``--overrides FILE``); not modified.

    Returns
    -------
    dict
        Overrides for :func:`tipsurf.engines.presets.merge_preset`.

    Raises
    ------
    InputError
        An item without ``=`` or with an empty key part, a value that is not valid YAML, or a
        dotted key into a key already given a non-mapping value.
    """
    out: dict[str, Any] = copy.deepcopy(base) if base else {}
    for item in items or []:
        parts, raw = _split_key(item)
        _assign(out, parts, parse_value(".".join(parts), raw))
    return out


def preset_overrides(settings: list[str] | None, overrides_file: Path | None = None) -> dict[str, Any]:
    """Overrides from ``--overrides FILE.yaml`` (if given) with the ``--set`` items on top."""
    base: dict[str, Any] = {}
    if overrides_file is not None:
        from tipsurf.templates import load_yaml_file

        base = load_yaml_file(overrides_file, what="overrides file")  # a mapping, else InputError
    return parse_set_options(settings, base)
