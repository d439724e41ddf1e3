"""Locating and assembling VASP POTCARs (licensed files the user provides).

The POTCAR folder is looked up in this order:

1. ``potcar_dir`` in the tipsurf configuration (:func:`tipsurf.config.load_config`),
2. the environment variable ``PMG_VASP_PSP_DIR``,
3. pymatgen's ``SETTINGS["PMG_VASP_PSP_DIR"]`` (``~/.config/.pmgrc.yaml``).

Inside it, a symbol ``Fe_pv`` of functional ``PBE`` is found in pymatgen's layout
(``POT_GGA_PAW_PBE/POTCAR.Fe_pv[.gz]`` or ``POT_GGA_PAW_PBE/Fe_pv/POTCAR``) or in the layout
VASP ships (``potpaw_PBE/Fe_pv/POTCAR``), or directly as ``<dir>/Fe_pv/POTCAR``.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

from pymatgen.io.vasp.inputs import Potcar, PotcarSingle

from tipsurf.config import Config
from tipsurf.errors import ConfigurationError, InputError

_VASP_DIST_DIRS = {"PBE": "potpaw_PBE", "PBE_52": "potpaw_PBE.52", "PBE_54": "potpaw_PBE.54", "PBE_64": "potpaw_PBE.64"}


def resolve_potcar_dir(config: Config | None) -> Path:
    """Return the configured POTCAR folder.

    Raises
    ------
    ConfigurationError
        If none is configured or the configured folder does not exist.
    """
    from pymatgen.core import SETTINGS

    candidates = [
        ("'potcar_dir' in the tipsurf config", getattr(config, "potcar_dir", None)),
        ("PMG_VASP_PSP_DIR", os.environ.get("PMG_VASP_PSP_DIR")),
        ("pymatgen SETTINGS PMG_VASP_PSP_DIR", SETTINGS.get("PMG_VASP_PSP_DIR")),
    ]
    for origin, value in candidates:
        if value:
            path = Path(str(value)).expanduser()
            if not path.is_dir():
                raise ConfigurationError(f"POTCAR folder {path} (from {origin}) does not exist; fix the path")
            return path
    raise ConfigurationError(
        "no VASP POTCAR folder configured; set PMG_VASP_PSP_DIR or 'potcar_dir' in the tipsurf config file"
    )


def find_potcar_file(root: Path, symbol: str, functional: str = "PBE") -> Path:
    """Return the POTCAR file of ``symbol`` (e.g. ``Mn_pv``) under ``root``.

    Raises
    ------
    ConfigurationError
        If no file for the symbol exists in any known layout.
    """
    pmg_sub = PotcarSingle.functional_dir.get(functional, functional)
    subdirs = [pmg_sub, _VASP_DIST_DIRS.get(functional, pmg_sub), "."]
    tried: list[Path] = []
    for sub in subdirs:
        for rel in (f"POTCAR.{symbol}", f"POTCAR.{symbol}.gz", f"{symbol}/POTCAR", f"{symbol}/POTCAR.gz"):
            path = root / sub / rel
            tried.append(path)
            if path.is_file():
                return path
    raise ConfigurationError(
        f"no POTCAR for '{symbol}' ({functional}) under {root}; expected e.g. {root / pmg_sub / ('POTCAR.' + symbol)}"
    )


def load_potcar_single(path: Path) -> PotcarSingle:
    """Read one POTCAR file (plain or gzipped), silencing pymatgen's unknown-hash warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PotcarSingle.from_file(str(path))


def potcar_info(single: PotcarSingle, symbol: str) -> dict[str, str]:
    """Symbol, TITEL, valence and MD5 of a POTCAR's text (the checksum used in fingerprints)."""
    return {
        "symbol": symbol,
        "titel": str(single.keywords.get("TITEL", "")).strip(),
        "zval": f"{float(single.nelectrons):g}",
        "md5": hashlib.md5(single.data.encode()).hexdigest(),
    }


def build_potcar(
    species: list[str], potcar_symbols: dict[str, str], root: Path, functional: str = "PBE"
) -> tuple[Potcar, dict[str, dict[str, str]]]:
    """Assemble the POTCAR for the POSCAR species order.

    Parameters
    ----------
    species
        Elements in POSCAR order (one entry per species block).
    potcar_symbols
        ``{element: POTCAR symbol}`` from the preset.
    root
        POTCAR folder (see :func:`resolve_potcar_dir`).
    functional
        pymatgen functional name (``PBE``, ``PBE_54`` ...).

    Returns
    -------
    (Potcar, info)
        The pymatgen Potcar and ``{element: potcar_info}``.
    """
    potcar = Potcar()
    info: dict[str, dict[str, str]] = {}
    for element in species:
        symbol = potcar_symbol(element, potcar_symbols)
        single = load_potcar_single(find_potcar_file(root, symbol, functional))
        if single.element != element:
            raise ConfigurationError(f"POTCAR for '{symbol}' under {root} is for element {single.element}, not {element}")
        potcar.append(single)
        info[element] = potcar_info(single, symbol)
    return potcar, info


def potcar_symbol(element: str, potcar_symbols: dict[str, Any]) -> str:
    """POTCAR symbol of ``element`` from the preset (no silent default)."""
    symbol = potcar_symbols.get(element)
    if not symbol:
        raise InputError(f"the preset has no POTCAR symbol for {element}; add '{element}: <symbol>' under potcar_symbols")
    return str(symbol)
