"""Generate pseudopotentials locally with ``ld1.x`` from recipes shipped with tipsurf.

A fresh machine without a pseudopotential library can still run the demo: each recipe in
``templates/pseudo_gen/<Element>.yaml`` holds the generation parameters (valence
configuration, pseudized channels with their radii, local potential, core correction and the
cut-offs validated for it).  :func:`generate_pseudopotential` writes an ``ld1.x`` input from
the recipe, runs ``ld1.x`` in a temporary folder, checks its output, stamps the validated
cut-offs into the UPF header and stores ``<file>.UPF`` plus ``<file>.provenance.json`` in the
cache.  :func:`ensure_pseudopotentials` generates only what is missing or stale (the cache is
keyed by the md5 of the recipe), under a file lock so that two processes never clash.

Recipe keys (YAML): ``element``, ``zed``, ``config`` (ld1 valence configuration string),
``functional`` (PBE), ``relativistic`` (none/scalar/full), ``pseudo_type`` (US or PAW; both
``pseudotype=3``), ``tm`` (Troullier-Martins, else RRKJ), ``file_name``, ``valence_electrons``,
``local`` (``lloc``, ``rcloc``), ``nlcc`` (``rcore``, ``new_core_ps``; omit for none),
``augmentation`` (extra ``&inputp`` keys such as ``which_augfun``), ``channels`` (list of
``label, n, l, occ, energy_Ry, rcut, rcutus``: one ld1 pseudization card each) and
``cutoffs_Ry`` (``ecutwfc``, ``ecutrho``: validated values written into the UPF header).
Optional: ``test_configs`` (valence configurations for
:func:`~tipsurf.engines.qe.pseudo_transferability.check_transferability`, the
generation configuration first; every pseudized state listed, e.g. ``"4d9 5s2 5p0"``).

How a generated file is tested against the all-electron atom (``test_configs``, ghost
states) is :mod:`tipsurf.engines.qe.pseudo_transferability`.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import logging
import re
import shutil
import subprocess
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from filelock import FileLock

from tipsurf.atomic import write_bytes_atomic, write_json_atomic
from tipsurf.errors import CalculationFailedError, InputError, ProgramNotFoundError
from tipsurf.templates import available, load_yaml_file, template_dir

from .pseudo import md5sum

logger = logging.getLogger(__name__)

RECIPE_KIND = "pseudo_gen"
_LD1_TIMEOUT_S = 600
_TYPES = {"US": False, "PAW": True}
_CHANNEL_KEYS = ("label", "n", "l", "occ", "energy_Ry", "rcut", "rcutus")

Progress = Callable[[str], None]


def available_recipes() -> list[str]:
    """Elements for which tipsurf ships an ``ld1.x`` recipe, sorted."""
    return available(RECIPE_KIND)


def recipe_path(element: str) -> Path:
    """Path of the shipped recipe of ``element``.

    Raises
    ------
    InputError
        If no recipe exists for the element (the message lists the available ones).
    """
    path = template_dir(RECIPE_KIND) / f"{element}.yaml"
    if not path.is_file():
        known = ", ".join(available_recipes()) or "none"
        raise InputError(
            f"no pseudopotential recipe for '{element}'; recipes exist for: {known} "
            "(or configure a library with 'pseudo_dir')"
        )
    return path


def load_recipe(element: str) -> dict[str, Any]:
    """Load and check the recipe of ``element`` (see module docstring for its keys).

    The parsed file is remembered per modification time (a campaign's planning asks once per
    point); every call returns its own copy.
    """
    path = recipe_path(element)
    return copy.deepcopy(_parsed_recipe(element, str(path), path.stat().st_mtime_ns))


@lru_cache(maxsize=64)
def _parsed_recipe(element: str, path: str, mtime_ns: int) -> dict[str, Any]:
    recipe = load_yaml_file(path, what="pseudopotential recipe")
    _check_recipe(recipe, element)
    return recipe


def recipe_md5(element: str) -> str:
    """md5 of the recipe file: a change of the recipe regenerates the pseudopotential."""
    return md5sum(recipe_path(element))


def _check_recipe(recipe: dict[str, Any], element: str) -> None:
    required = ("element", "zed", "config", "pseudo_type", "file_name", "local", "channels", "cutoffs_Ry")
    missing = [key for key in required if key not in recipe]
    if missing:
        raise InputError(f"recipe for {element} lacks key(s) {missing}")
    if recipe["element"] != element:
        raise InputError(f"recipe file {element}.yaml is for element {recipe['element']}")
    if recipe["pseudo_type"] not in _TYPES:
        raise InputError(f"recipe for {element}: pseudo_type must be one of {sorted(_TYPES)}")
    for channel in recipe["channels"]:
        absent = [key for key in _CHANNEL_KEYS if key not in channel]
        if absent:
            raise InputError(f"recipe for {element}: channel {channel} lacks {absent}")


def _fortran(value: Any) -> str:
    if isinstance(value, bool):
        return ".true." if value else ".false."
    if isinstance(value, str):
        return f"'{value}'"
    return repr(float(value)) if isinstance(value, float) else str(value)


def fortran_namelist(name: str, entries: dict[str, Any]) -> list[str]:
    """Lines of the ``ld1.x`` namelist ``&name`` with ``entries`` (Fortran literals), ending in ``/``."""
    lines = [f"&{name}"]
    lines += [f"  {key}={_fortran(value)}," for key, value in entries.items()]
    lines.append("/")
    return lines


def ld1_input_namelist(recipe: dict[str, Any], iswitch: int) -> dict[str, Any]:
    """The ``&input`` namelist of ld1.x for a recipe's atom (``iswitch`` 2: test, 3: generate)."""
    return {
        "title": recipe["element"],
        "zed": float(recipe["zed"]),
        "rel": {"none": 0, "scalar": 1, "full": 2}[recipe.get("relativistic", "scalar")],
        "config": recipe["config"],
        "iswitch": iswitch,
        "dft": recipe.get("functional", "PBE"),
    }


def ld1_input(recipe: dict[str, Any]) -> str:
    """Text of the ``ld1.x`` input (``iswitch=3``: generate and test) for a recipe."""
    general = ld1_input_namelist(recipe, 3)
    local = recipe["local"]
    pseudo: dict[str, Any] = {
        "pseudotype": 3,
        "lpaw": _TYPES[recipe["pseudo_type"]],
        "file_pseudopw": recipe["file_name"],
        "author": "tipsurf",
        "lloc": int(local["lloc"]),
        "rcloc": float(local["rcloc"]),
        "tm": bool(recipe.get("tm", True)),
    }
    pseudo.update(recipe.get("augmentation", {}))
    core = recipe.get("nlcc")
    if core:
        pseudo.update({"nlcc": True, "new_core_ps": bool(core.get("new_core_ps", True)), "rcore": float(core["rcore"])})
    lines = fortran_namelist("input", general) + fortran_namelist("inputp", pseudo)
    lines.append(str(len(recipe["channels"])))
    for ch in recipe["channels"]:
        lines.append(
            f"{ch['label']:<3} {int(ch['n']):2d} {int(ch['l']):2d} {float(ch['occ']):6.2f} "
            f"{float(ch['energy_Ry']):6.2f} {float(ch['rcut']):5.2f} {float(ch['rcutus']):5.2f}  0.0"
        )
    return "\n".join(lines) + "\n"


def resolve_ld1_command(ld1_command: list[str] | None) -> list[str]:
    """The argument list running ``ld1.x`` (default from the configuration); ProgramNotFoundError if absent."""
    if ld1_command is None:
        from tipsurf.config import load_config

        ld1_command = load_config().command("ld1")
    command = list(ld1_command)
    if shutil.which(command[0]) is None:
        raise ProgramNotFoundError(
            f"'{command[0]}' not found; install Quantum ESPRESSO (Debian: apt-get install quantum-espresso) "
            "or set 'commands: {ld1: [...]}' in the config"
        )
    return command


#: What in an ``ld1.x`` output means that the run failed.
LD1_FATAL = re.compile(r"Error in routine|Errors in PS-KS|Zero norm|expected \d+ nodes, found", re.I)


def _check_ld1_output(text: str, element: str, returncode: int) -> None:
    problems = sorted({m.group(0) for m in LD1_FATAL.finditer(text)})
    routine = re.search(r"Error in routine (\S+) \(\d+\):\s*\n\s*(.+)", text)
    if routine:
        problems.insert(0, f"{routine.group(1)}: {routine.group(2).strip()}")
    if returncode != 0 or problems or "Testing the pseudopotential" not in text:
        detail = "; ".join(problems) or f"exit code {returncode}"
        raise CalculationFailedError(
            f"ld1.x failed to generate a pseudopotential for {element} ({detail}); the recipe needs other radii"
        )
    if re.search(r"ghost", text, re.I):
        raise CalculationFailedError(f"ld1.x reports a ghost state for {element}; the recipe needs another local potential")


def ld1_version(output: str) -> str:
    """Version string of ``ld1.x`` read from its output banner ('unknown' if absent)."""
    match = re.search(r"Program LD1 (v\.\S+)", output)
    return match.group(1) if match else "unknown"


def _ld1_estimates(output: str) -> dict[str, float | None]:
    wfc = [float(x) for x in re.findall(r"Estimated cut-off energy=\s*([\d.]+)", output)]
    rho = re.search(r"Expected ecutrho=\s*([\d.]+)", output)
    return {"ecutwfc_Ry": max(wfc) if wfc else None, "ecutrho_Ry": float(rho.group(1)) if rho else None}


def _stamp_cutoffs(upf_text: str, recipe: dict[str, Any]) -> str:
    """Replace ld1's cut-off estimate in the UPF v2 header by the validated recipe values."""
    cut = recipe["cutoffs_Ry"]
    upf_text = re.sub(r'wfc_cutoff="[^"]*"', f'wfc_cutoff="{float(cut["ecutwfc"]):.1f}"', upf_text, count=1)
    return re.sub(r'rho_cutoff="[^"]*"', f'rho_cutoff="{float(cut["ecutrho"]):.1f}"', upf_text, count=1)


def run_ld1(command: list[str], input_text: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run ``ld1.x`` on ``input_text`` in ``workdir`` (written there as ``ld1.in``), with a time limit."""
    (workdir / "ld1.in").write_text(input_text)
    with open(workdir / "ld1.in") as stdin:
        return subprocess.run(
            command, stdin=stdin, capture_output=True, text=True, cwd=workdir, timeout=_LD1_TIMEOUT_S, check=False
        )


def generate_pseudopotential(
    element: str,
    cache_dir: str | Path,
    *,
    ld1_command: list[str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Generate the pseudopotential of ``element`` with ``ld1.x`` into ``cache_dir``.

    Parameters
    ----------
    element
        Chemical symbol with a shipped recipe.
    cache_dir
        Folder that receives ``<file>.UPF`` and ``<file>.provenance.json``.
    ld1_command
        Argument list running ``ld1.x``; default from the configuration.
    progress
        Optional callback receiving one-line progress messages.

    Returns
    -------
    Path
        The generated UPF file.

    Raises
    ------
    InputError
        No recipe for the element.
    ProgramNotFoundError
        ``ld1.x`` is not installed.
    CalculationFailedError
        ``ld1.x`` failed or its test of the pseudopotential found a problem.
    """
    recipe = load_recipe(element)
    command = resolve_ld1_command(ld1_command)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    input_text = ld1_input(recipe)
    _say(progress, f"generating {element} pseudopotential with {' '.join(command)} ...")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"ld1_{element}_", dir=cache) as tmp:
        work = Path(tmp)
        proc = run_ld1(command, input_text, work)
        output = proc.stdout + proc.stderr
        _check_ld1_output(output, element, proc.returncode)
        produced = work / recipe["file_name"]
        if not produced.is_file():
            raise CalculationFailedError(f"ld1.x wrote no {recipe['file_name']} for {element}")
        text = _stamp_cutoffs(produced.read_text(), recipe)
        if "</UPF>" not in text[-200:]:
            raise CalculationFailedError(f"ld1.x wrote a truncated {recipe['file_name']} for {element}")
        elapsed_s = time.perf_counter() - start
        target = write_bytes_atomic(cache / recipe["file_name"], text.encode())
        provenance = _provenance(element, recipe, input_text, output, target, elapsed_s)
        write_json_atomic(provenance_path(target), provenance)
    _say(progress, f"{element}: {target.name} generated in {elapsed_s:.1f} s (md5 {provenance['upf_md5']})")
    return target


def _provenance(
    element: str, recipe: dict[str, Any], input_text: str, output: str, upf: Path, elapsed_s: float
) -> dict[str, Any]:
    return {
        "element": element,
        "file": upf.name,
        "upf_md5": md5sum(upf),
        "recipe": recipe,
        "recipe_md5": recipe_md5(element),
        "ld1_input": input_text,
        "ld1_version": ld1_version(output),
        "ld1_estimated_cutoffs_Ry": _ld1_estimates(output),
        "suggested_cutoffs_Ry": dict(recipe["cutoffs_Ry"]),
        "generated_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "generation_time_s": round(elapsed_s, 2),
        "generator": "tipsurf.engines.qe.pseudo_gen",
    }


def provenance_path(upf: Path) -> Path:
    """Path of the provenance record that belongs to a generated UPF file."""
    return upf.with_name(upf.name[: -len(upf.suffix)] + ".provenance.json")


def read_provenance(upf: Path) -> dict[str, Any] | None:
    """Provenance record of a generated UPF, or ``None`` if absent or unreadable."""
    path = provenance_path(Path(upf))
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_current(element: str, cache_dir: str | Path) -> bool:
    """True if the cache holds an intact file generated from the current recipe of ``element``."""
    recipe = load_recipe(element)
    upf = Path(cache_dir) / recipe["file_name"]
    record = read_provenance(upf)
    if not upf.is_file() or record is None:
        return False
    return record.get("recipe_md5") == recipe_md5(element) and record.get("upf_md5") == md5sum(upf)


def ensure_pseudopotentials(
    elements: Iterable[str],
    config: Any = None,
    *,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> tuple[Path, dict[str, str]]:
    """Make sure the cache holds a current generated pseudopotential for each element.

    Parameters
    ----------
    elements
        Chemical symbols (duplicates and species suffixes such as ``Mn1`` are not allowed:
        pass elements).
    config
        :class:`tipsurf.config.Config`; loaded if ``None``.  Its ``cache_dir / 'pseudo'``
        is the cache and its ``ld1`` command runs the generator.
    cache_dir
        Override of the cache folder (used as is).
    progress
        Optional callback receiving one-line progress messages.

    Returns
    -------
    tuple[Path, dict[str, str]]
        The cache folder and the ``{element: file name}`` map.
    """
    if config is None:
        from tipsurf.config import load_config

        config = load_config()
    cache = Path(cache_dir) if cache_dir is not None else Path(config.cache_dir) / "pseudo"
    wanted = sorted(set(elements))
    files = {element: load_recipe(element)["file_name"] for element in wanted}
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / ".generate.lock"), timeout=_LD1_TIMEOUT_S * max(1, len(wanted))):
        for element in wanted:
            if is_current(element, cache):
                _say(progress, f"{element}: cached {files[element]}")
                continue
            generate_pseudopotential(element, cache, ld1_command=config.command("ld1"), progress=progress)
    return cache, files


def default_pseudo_dir(elements: Iterable[str], config: Any = None) -> tuple[Path, dict[str, str]]:
    """Pseudopotential folder and file map for the QE engine when no ``pseudo_dir`` is configured.

    Generates (once, then cached) the tipsurf pseudopotentials of ``elements`` into
    ``config.cache_dir / 'pseudo'``.
    """
    return ensure_pseudopotentials(elements, config)  # progress goes to logging


def _say(progress: Progress | None, message: str) -> None:
    logger.info(message)
    if progress is not None:
        progress(message)


def recipe_digest(recipe: dict[str, Any]) -> str:
    """md5 of a recipe's content (independent of formatting), for comparisons in reports."""
    return hashlib.md5(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
