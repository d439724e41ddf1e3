"""User configuration: where pseudopotentials live, how to call the codes, which launchpad.

Looked up, later entries winning:

1. built-in defaults (serial ``pw.x`` etc. from PATH, embedded launchpad),
2. the YAML file named by ``TIPSURF_CONFIG``, else ``~/.config/tipsurf/config.yaml``,
3. environment variables ``TIPSURF_PSEUDO_DIR``, ``TIPSURF_PW_COMMAND``,
   ``TIPSURF_VASP_COMMAND``, ``TIPSURF_LAUNCHPAD``, ``TIPSURF_CACHE_DIR``.

Commands are argument lists (``["mpirun", "-np", "4", "pw.x"]``), never shell strings.
Example file::

    pseudo_dir: /data/pseudo/SSSP_1.3_PBE_efficiency
    commands:
      pw: [srun, pw.x]
      vasp: [srun, vasp_std]
    qe_version: "7.2"          # optional; otherwise read from the pw.x banner
    launchpad: ~/fw/my_launchpad.yaml   # optional; MongoDB launchpad for clusters
"""

from __future__ import annotations

import os
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tipsurf.errors import ConfigurationError

DEFAULT_COMMANDS: dict[str, list[str]] = {
    "pw": ["pw.x"],
    "pp": ["pp.x"],
    "projwfc": ["projwfc.x"],
    "ld1": ["ld1.x"],
    "vasp": ["vasp_std"],
}
_KNOWN_KEYS = {"pseudo_dir", "commands", "qe_version", "launchpad", "cache_dir", "potcar_dir"}


@dataclass
class Config:
    """Resolved configuration.  Build it with :func:`load_config`."""

    pseudo_dir: Path | None = None
    commands: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_COMMANDS.items()})
    qe_version: str | None = None
    launchpad: Path | None = None
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "tipsurf")
    potcar_dir: Path | None = None
    source: str = "defaults"

    def command(self, name: str) -> list[str]:
        """Return the argument list that runs program ``name`` (``pw``, ``pp``, ``vasp`` ...)."""
        try:
            return list(self.commands[name])
        except KeyError:
            raise ConfigurationError(
                f"no command configured for '{name}'; add it under 'commands:' in {self.source}"
            ) from None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (paths as strings) for logging and provenance."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
        return out


def config_file_path() -> Path:
    """Path of the configuration file that :func:`load_config` reads (may not exist)."""
    env = os.environ.get("TIPSURF_CONFIG")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "tipsurf" / "config.yaml"


def _read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigurationError(f"configuration file {path} is not valid YAML{where}; fix or remove it") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"configuration file {path} is not UTF-8 text; fix or remove it") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read configuration file {path}: {exc.strerror}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"configuration file {path} must be a YAML mapping (key: value), not {type(data).__name__}")
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise ConfigurationError(
            f"unknown key(s) {sorted(unknown)} in {path}; allowed: {sorted(_KNOWN_KEYS)}"
        )
    return data


def _as_command(value: Any, name: str, origin: str) -> list[str]:
    if isinstance(value, str):
        parts = shlex.split(value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = list(value)
    else:
        raise ConfigurationError(f"command '{name}' in {origin} must be a list of strings, e.g. [mpirun, -np, '4', pw.x]")
    if not parts:
        raise ConfigurationError(f"command '{name}' in {origin} is empty")
    return parts


def load_config() -> Config:
    """Load the configuration from defaults, the config file and the environment.

    Returns
    -------
    Config
        The resolved configuration.

    Raises
    ------
    ConfigurationError
        If the configuration file is malformed.
    """
    cfg = Config()
    path = config_file_path()
    if path.is_file():
        data = _read_yaml_mapping(path)
        cfg.source = str(path)
        if data.get("pseudo_dir"):
            cfg.pseudo_dir = Path(str(data["pseudo_dir"])).expanduser()
        if data.get("potcar_dir"):
            cfg.potcar_dir = Path(str(data["potcar_dir"])).expanduser()
        commands = data.get("commands") or {}
        if not isinstance(commands, dict):
            raise ConfigurationError(f"'commands' in {path} must be a mapping like 'pw: [pw.x]'")
        for name, value in commands.items():
            cfg.commands[str(name)] = _as_command(value, str(name), str(path))
        if data.get("qe_version") is not None:
            cfg.qe_version = str(data["qe_version"])
        if data.get("launchpad"):
            cfg.launchpad = Path(str(data["launchpad"])).expanduser()
        if data.get("cache_dir"):
            cfg.cache_dir = Path(str(data["cache_dir"])).expanduser()
    env = os.environ
    if env.get("TIPSURF_PSEUDO_DIR"):
        cfg.pseudo_dir = Path(env["TIPSURF_PSEUDO_DIR"]).expanduser()
    if env.get("TIPSURF_PW_COMMAND"):
        cfg.commands["pw"] = _as_command(env["TIPSURF_PW_COMMAND"], "pw", "TIPSURF_PW_COMMAND")
    if env.get("TIPSURF_VASP_COMMAND"):
        cfg.commands["vasp"] = _as_command(env["TIPSURF_VASP_COMMAND"], "vasp", "TIPSURF_VASP_COMMAND")
    if env.get("TIPSURF_LAUNCHPAD"):
        cfg.launchpad = Path(env["TIPSURF_LAUNCHPAD"]).expanduser()
    if env.get("TIPSURF_CACHE_DIR"):
        cfg.cache_dir = Path(env["TIPSURF_CACHE_DIR"]).expanduser()
    return cfg
