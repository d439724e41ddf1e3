"""Pseudopotential libraries for Quantum ESPRESSO: read UPF headers, checksum, check a folder.

Also where a calculation's pseudopotentials come from (:func:`pseudo_directory`: the configured
folder, else the generated set), their check before a run (:func:`recheck_pseudopotentials`)
and the electron count they give (:func:`valence_electrons`).

Works with UPF v1 (``<PP_HEADER>`` block of positional lines) and v2 (``<PP_HEADER .../>``
attributes).  A file that does not close with ``</UPF>`` (v2) or ``</PP_RHOATOM>``-era tags is
reported as incomplete: pw.x 6.7 crashes on truncated files without a useful message.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.data import atomic_numbers

from tipsurf.config import Config
from tipsurf.errors import ConfigurationError, InputError, existing_file

_ATTR = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


@dataclass(frozen=True)
class UpfInfo:
    """What tipsurf needs to know about one UPF file."""

    path: str
    element: str
    z_valence: float
    pseudo_type: str
    functional: str
    wfc_cutoff_Ry: float | None
    rho_cutoff_Ry: float | None
    md5: str
    complete: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


def md5sum(path: str | Path) -> str:
    """Hex md5 of a file, read in chunks.

    Remembered per (path, size, modification time): planning a campaign checks the same few
    pseudopotential files once per point (measured: 6 s of a 1,000-point add without it).
    """
    stat = os.stat(path)
    return _md5_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _md5_of(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _float_or_none(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.replace("D", "E").replace("d", "e"))
    except ValueError:
        return None
    return value if value > 0 else None


def _header_v2(text: str) -> dict[str, str] | None:
    match = re.search(r"<PP_HEADER\b(.*?)/?>", text, re.S)
    if not match or "=" not in match.group(1):
        return None
    return {k.lower(): v.strip() for k, v in _ATTR.findall(match.group(1))}


def _header_v1(text: str) -> dict[str, str] | None:
    """Parse the positional UPF v1 header.

    Lines (0-based): 0 version, 1 element, 2 type (US/NC/PAW), 3 core correction (T/F),
    4 functional (four or five tokens, then a comment), 5 Z valence, 6 total energy,
    7 suggested wfc and rho cut-offs (Ry), 8 l_max, 9 mesh size, ...
    """
    match = re.search(r"<PP_HEADER>(.*?)</PP_HEADER>", text, re.S)
    if not match:
        return None
    lines = [ln.split() for ln in match.group(1).strip().splitlines()]
    out: dict[str, str] = {}
    try:
        out["element"] = lines[1][0]
        out["pseudo_type"] = lines[2][0]
        out["core_correction"] = lines[3][0]
        functional = lines[4]
        cut = next((i for i, tok in enumerate(functional) if "exchange" in tok.lower()), len(functional))
        out["functional"] = " ".join(functional[: min(cut, 5)])
        out["z_valence"] = lines[5][0]
        out["wfc_cutoff"] = lines[7][0]
        out["rho_cutoff"] = lines[7][1]
    except IndexError:
        pass
    return out


def upf_info(path: str | Path) -> UpfInfo:
    """Read element, valence, type and suggested cut-offs from a UPF file (cached by mtime/size).

    Raises
    ------
    InputError
        If the file is missing or is not a UPF file.
    """
    path = existing_file(path, "pseudopotential file")
    stat = path.stat()
    return _upf_info_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns, str(path))


@lru_cache(maxsize=256)
def _upf_info_cached(resolved: str, size: int, mtime_ns: int, shown: str) -> UpfInfo:
    """Parse and checksum one UPF file; the cache key changes whenever the file does."""
    path = Path(shown)
    text = Path(resolved).read_text(errors="replace")
    header = _header_v2(text) or _header_v1(text)
    if not header or "element" not in header:
        raise InputError(f"{path} is not a UPF pseudopotential (no PP_HEADER with an element)")
    element = header["element"].strip().capitalize()
    if element not in atomic_numbers:
        raise InputError(f"{path} names an unknown element '{element}' in its header")
    tail = text.rstrip()[-200:]
    complete = "</UPF>" in tail or "</PP_RHOATOM>" in tail or "</PP_PAW>" in tail or "</PP_GIPAW>" in tail
    return UpfInfo(
        path=str(path),
        element=element,
        z_valence=float(_float_or_none(header.get("z_valence")) or 0.0),
        pseudo_type=header.get("pseudo_type", "?"),
        functional=header.get("functional", "?"),
        wfc_cutoff_Ry=_float_or_none(header.get("wfc_cutoff")),
        rho_cutoff_Ry=_float_or_none(header.get("rho_cutoff")),
        md5=md5sum(path),
        complete=complete,
    )


def check_pseudo_dir(directory: str | Path) -> list[UpfInfo]:
    """Inspect every ``*.UPF``/``*.upf`` file of a folder (sorted by element then name)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"pseudopotential folder {directory} does not exist")
    infos = []
    for path in sorted(p for p in directory.iterdir() if p.suffix.lower() == ".upf"):
        try:
            infos.append(upf_info(path))
        except InputError:
            continue
    return sorted(infos, key=lambda i: (i.element, Path(i.path).name))


def resolve_pseudopotentials(
    elements: list[str], file_map: dict[str, str], directory: str | Path | None
) -> dict[str, UpfInfo]:
    """Find, for each element, its UPF file in ``directory`` and check it fits.

    Parameters
    ----------
    elements
        Chemical elements of the structure.
    file_map
        ``{element: file name}`` from the preset.
    directory
        Folder holding the files.

    Raises
    ------
    ConfigurationError
        No folder configured, or a file is missing, truncated or for another element.
    """
    if directory is None:
        raise ConfigurationError(
            "no pseudopotential folder configured; set TIPSURF_PSEUDO_DIR or 'pseudo_dir' in the config file"
        )
    directory = Path(directory)
    resolved: dict[str, UpfInfo] = {}
    for element in sorted(set(elements)):
        name = file_map.get(element)
        if not name:
            raise ConfigurationError(
                f"the preset names no pseudopotential for {element}; add '{element}: <file.UPF>' under 'pseudopotentials'"
            )
        path = directory / name
        if not path.is_file():
            raise ConfigurationError(f"pseudopotential {name} for {element} not found in {directory}")
        try:
            info = upf_info(path)
        except InputError as exc:
            raise ConfigurationError(str(exc)) from None
        if info.element != element:
            raise ConfigurationError(f"pseudopotential {name} is for {info.element}, not {element}; fix the preset's map")
        if not info.complete:
            raise ConfigurationError(f"pseudopotential {path} is truncated (no closing UPF tag); download it again")
        resolved[element] = info
    return resolved


def pseudo_directory(elements: list[str], config: Config) -> tuple[Path, dict[str, str] | None]:
    """The pseudopotential folder, and a file map that replaces the preset's (or None).

    The configured ``pseudo_dir`` is used with the preset's file names.  Without one, the
    pseudopotentials generated by :mod:`tipsurf.engines.qe.pseudo_gen` (if that module is
    installed) are used with their own file names.

    Parameters
    ----------
    elements
        Chemical elements of the calculation.
    config
        tipsurf configuration (``pseudo_dir``, cache folder).

    Returns
    -------
    tuple
        The folder, and ``{element: file name}`` of the generated set (None with a configured folder).

    Raises
    ------
    ConfigurationError
        No folder configured and no generator installed.
    """
    if config.pseudo_dir is not None:
        return Path(config.pseudo_dir), None
    try:
        pseudo_gen = importlib.import_module("tipsurf.engines.qe.pseudo_gen")
    except ImportError:
        raise ConfigurationError(
            "no pseudopotential folder configured; set TIPSURF_PSEUDO_DIR or 'pseudo_dir' in the config file"
        ) from None
    found = pseudo_gen.default_pseudo_dir(sorted(set(elements)), config)
    if isinstance(found, tuple):
        folder, file_map = found
        return Path(folder), {str(k): str(v) for k, v in dict(file_map).items()}
    return Path(found), None


def recheck_pseudopotentials(info: dict[str, Any]) -> None:
    """Before a run: every pseudopotential is still there, for its element, with the recorded md5.

    Parameters
    ----------
    info
        The calculation's ``tipsurf_calc.json`` (``pseudo_dir``, ``pseudopotentials``).

    Raises
    ------
    ConfigurationError
        A file is missing, for another element, or changed since the inputs were written.
    """
    folder = Path(info.get("pseudo_dir", "."))
    for element, entry in (info.get("pseudopotentials") or {}).items():
        checked = resolve_pseudopotentials([element], {element: entry["file"]}, folder)[element]
        if checked.md5 != entry["md5"]:
            raise ConfigurationError(
                f"pseudopotential {folder / entry['file']} changed since the inputs were written "
                f"(md5 {checked.md5} != {entry['md5']}); write the inputs again"
            )


def valence_electrons(atoms: Atoms, pseudos: dict[str, UpfInfo]) -> float:
    """Electrons of the calculation (neutral: the sum of the pseudopotentials' valences)."""
    return float(sum(pseudos[s].z_valence for s in atoms.get_chemical_symbols()))
