"""Presets and templates shipped as YAML package data, and their safe loader.

Layout: ``presets/<name>.yaml`` (calculation protocols), ``queues/<name>.yaml`` (queue
adapters), ``launchpad/<name>.yaml``, ``pseudo_gen/<element>.yaml`` (ld1.x recipes).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tipsurf.errors import InputError


def template_dir(kind: str) -> Path:
    """Folder of the shipped templates of one kind (``presets``, ``queues`` ...)."""
    return Path(str(resources.files("tipsurf.templates"))) / kind


def available(kind: str) -> list[str]:
    """Names (file stems) of the shipped templates of one kind, sorted."""
    folder = template_dir(kind)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_yaml_file(path: str | Path, what: str = "file") -> dict[str, Any]:
    """Load a YAML mapping safely (no object construction), with one-line errors."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} {path} is not UTF-8 text (is it a YAML file?)") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{what} {path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} {path} must contain a YAML mapping, not {type(data).__name__}")
    return data


def load_template(kind: str, name: str) -> dict[str, Any]:
    """Load the shipped template ``<kind>/<name>.yaml``, or a user YAML file given as a path.

    Raises
    ------
    InputError
        Unknown name (the message lists the known ones) or malformed YAML.
    """
    candidate = Path(name)
    if candidate.suffix in {".yaml", ".yml"} and candidate.exists():
        return load_yaml_file(candidate, what=kind[:-1] if kind.endswith("s") else kind)
    path = template_dir(kind) / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available(kind)) or "none"
        raise InputError(f"unknown {kind[:-1] if kind.endswith('s') else kind} '{name}'; choose one of: {known}")
    return load_yaml_file(path, what=kind)
