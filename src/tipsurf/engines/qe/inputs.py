"""pw.x input: species split by starting magnetization, namelists from a preset, cards, and a reader.

The input is written here rather than with ``ase.io.espresso`` because ASE writes the raw
moment (μB) as ``starting_magnetization``; QE expects the fraction of the valence charge
(−1…1) per atomic *species*, so atoms of one element with different starting moments need
separate species (``Mn1``, ``Mn2``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from tipsurf.errors import InputError
from tipsurf.engines.qe.dipole import VACUUM_TOLERANCE_A, dipole_settings, is_slab, vacuum_gap  # noqa: F401 (re-exported)
from tipsurf.structures.checks import fixed_indices

MOMENT_DECIMALS_MUB = 3
PW_INPUT = "pw.in"
PW_OUTPUT = "pw.out"
#: Where pw.x's standard error goes (:class:`tipsurf.engines.qe.job.PwJob`).
PW_STDERR = "pw.err"
PREFIX = "pwscf"
OUTDIR = "out"
NAMELIST_ORDER = ("control", "system", "electrons", "ions", "cell")


@dataclass
class Species:
    """One QE atomic species: a label, its element, pseudopotential file and starting moment."""

    label: str
    element: str
    pseudo_file: str
    moment_muB: float
    z_valence: float

    @property
    def starting_magnetization(self) -> float:
        """Fraction of the valence charge that is spin-polarised, clipped to −1…1 (what QE expects)."""
        if self.z_valence <= 0:
            raise InputError(f"pseudopotential {self.pseudo_file} reports no valence charge; cannot set its moment")
        return float(np.clip(self.moment_muB / self.z_valence, -1.0, 1.0))


@dataclass
class SpeciesSplit:
    """Species list plus, per atom, the index of its species."""

    species: list[Species]
    atom_species: list[int] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """Species label of every atom, in atom order."""
        return [self.species[i].label for i in self.atom_species]


def split_species(atoms: Atoms, pseudo_files: dict[str, str], z_valence: dict[str, float]) -> SpeciesSplit:
    """Give every distinct (element, starting moment) pair its own species.

    Elements with one starting moment keep the plain symbol (``W``); elements with several get
    numbered labels in order of first appearance (``Mn1``, ``Mn2``).
    """
    symbols = atoms.get_chemical_symbols()
    moments = np.round(atoms.get_initial_magnetic_moments(), MOMENT_DECIMALS_MUB)
    keys: list[tuple[str, float]] = []
    for symbol, moment in zip(symbols, moments):
        key = (symbol, float(moment) + 0.0)
        if key not in keys:
            keys.append(key)
    per_element: dict[str, int] = {}
    for symbol, _ in keys:
        per_element[symbol] = per_element.get(symbol, 0) + 1
    counters: dict[str, int] = {}
    species = []
    for symbol, moment in keys:
        if per_element[symbol] == 1:
            label = symbol
        else:
            counters[symbol] = counters.get(symbol, 0) + 1
            label = f"{symbol}{counters[symbol]}"
        species.append(Species(label, symbol, pseudo_files[symbol], moment, z_valence[symbol]))
    index = {key: i for i, key in enumerate(keys)}
    atom_species = [index[(s, float(m) + 0.0)] for s, m in zip(symbols, moments)]
    return SpeciesSplit(species, atom_species)


def hubbard_orbital(element: str) -> str:
    """The valence shell a Hubbard U acts on: 3d for Sc–Zn, 4d, 5d, 4f, 5f."""
    z = atomic_numbers[element]
    if 21 <= z <= 30:
        return "3d"
    if 39 <= z <= 48:
        return "4d"
    if 57 <= z <= 71:
        return "4f"
    if 72 <= z <= 80:
        return "5d"
    if 89 <= z <= 103:
        return "5f"
    raise InputError(f"no d or f shell for a Hubbard U on {element}; remove it from 'hubbard_u_eV'")


def uses_hubbard_card(version: tuple[int, int]) -> bool:
    """QE ≥ 7.1 takes Hubbard parameters in the HUBBARD card; older versions in &SYSTEM."""
    return version >= (7, 1)


def hubbard_settings(
    split: SpeciesSplit, u_eV: dict[str, float], version: tuple[int, int], projector: str = "atomic"
) -> tuple[dict[str, Any], list[str]]:
    """SYSTEM-namelist entries (QE < 7.1) or HUBBARD card lines (QE ≥ 7.1) for the U values."""
    u_eV = {el: float(u) for el, u in (u_eV or {}).items() if u}
    present = {sp.element for sp in split.species}
    active = {el: u for el, u in u_eV.items() if el in present}
    if not active:
        return {}, []
    if uses_hubbard_card(version):
        lines = [f"HUBBARD {{{projector}}}"]
        for sp in split.species:
            if sp.element in active:
                lines.append(f"U {sp.label}-{hubbard_orbital(sp.element)} {active[sp.element]:.4f}")
        return {}, lines
    system: dict[str, Any] = {"lda_plus_u": True, "lda_plus_u_kind": 0, "U_projection_type": projector}
    for i, sp in enumerate(split.species, start=1):
        if sp.element in active:
            hubbard_orbital(sp.element)
            system[f"Hubbard_U({i})"] = active[sp.element]
    return system, []


def kpoint_mesh(atoms: Atoms, kpoints: dict[str, Any], min_vacuum_A: float = 5.0) -> tuple[list[int], list[int]]:
    """Monkhorst–Pack mesh and shift from ``{mesh: [...]}`` or ``{density_per_A-1: x}``.

    With a density, ``n_i = ceil(x · |b_i|)`` where ``b_i`` includes the 2π; slabs get n3 = 1.
    """
    shift = [0, 0, 0] if kpoints.get("gamma_centred", True) else [1, 1, 1]
    if "mesh" in kpoints:
        mesh = [int(n) for n in kpoints["mesh"]]
        if mesh[2] == 1:  # no shift along an axis with one k-point (a slab's vacuum axis)
            shift[2] = 0
        return mesh, shift
    density = float(kpoints.get("density_per_A-1", 0))
    if density <= 0:
        raise InputError("kpoints needs 'mesh: [n1, n2, n3]' or a positive 'density_per_A-1'")
    recip = 2 * math.pi * np.linalg.norm(np.asarray(atoms.cell.reciprocal()), axis=1)
    mesh = [max(1, int(math.ceil(density * b - 1e-9))) for b in recip]
    if is_slab(atoms, min_vacuum_A):
        mesh[2] = 1
        shift[2] = 0
    return mesh, shift


def build_namelists(
    atoms: Atoms,
    preset: dict[str, Any],
    split: SpeciesSplit,
    version: tuple[int, int],
    *,
    pseudo_dir: Path,
    calculation: str = "scf",
    walltime_s: float | None = None,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """pw.x namelists and the HUBBARD card lines (empty before QE 7.1) for a preset.

    Returns
    -------
    tuple
        (``{"control": {...}, "system": {...}, "electrons": {...}, ...}``, hubbard card lines)
    """
    nat = len(atoms)
    control: dict[str, Any] = {
        "calculation": calculation,
        "prefix": PREFIX,
        "outdir": f"./{OUTDIR}",
        "pseudo_dir": str(pseudo_dir.resolve()),
        "tprnfor": True,
        "disk_io": "low",
    }
    if walltime_s:
        control["max_seconds"] = float(max(1.0, round(0.9 * float(walltime_s), 1)))
    system: dict[str, Any] = {
        "ibrav": 0,
        "nat": nat,
        "ntyp": len(split.species),
        "ecutwfc": float(preset.get("ecutwfc_Ry", 30.0)),
        "ecutrho": float(preset.get("ecutrho_Ry", 8 * float(preset.get("ecutwfc_Ry", 30.0)))),
        "occupations": "smearing",
        "smearing": preset.get("smearing", "m-v"),
        "degauss": float(preset.get("degauss_Ry", 0.02)),
    }
    magnetic = preset.get("spin_polarized", True) and any(abs(sp.moment_muB) > 0 for sp in split.species)
    if magnetic:
        system["nspin"] = 2
        for i, sp in enumerate(split.species, start=1):
            system[f"starting_magnetization({i})"] = round(sp.starting_magnetization, 6)
    hub_system, hub_card = hubbard_settings(
        split, preset.get("hubbard_u_eV") or {}, version, preset.get("hubbard_projector", "atomic")
    )
    system.update(hub_system)
    if preset.get("vdw_corr"):
        system["vdw_corr"] = str(preset["vdw_corr"])
    if preset.get("dipole_correction") and is_slab(atoms, float(preset.get("slab_vacuum_A", 5.0))):
        dipole = dipole_settings(atoms, float(preset.get("slab_vacuum_A", 5.0)),
                                 keep_symmetry=bool(preset.get("dipole_keeps_symmetry", False)))
        control.update(dipole["control"])
        system.update(dipole["system"])
    conv = preset.get("conv_thr_Ry")
    if conv is None:
        conv = float(preset.get("conv_thr_Ry_per_atom", 1e-7)) * nat
    electrons: dict[str, Any] = {
        "conv_thr": float(f"{float(conv):.3e}"),
        "mixing_mode": preset.get("mixing_mode", "plain"),
        "mixing_beta": float(preset.get("mixing_beta", 0.3)),
        "mixing_ndim": int(preset.get("mixing_ndim", 8)),
        "electron_maxstep": int(preset.get("electron_maxstep", 100)),
        "diagonalization": preset.get("diagonalization", "david"),
    }
    if preset.get("real_space_augmentation"):
        electrons["tqr"] = True  # ultrasoft/PAW augmentation charges in real space (addusdens, newd)
    namelists = {"control": control, "system": system, "electrons": electrons}
    if calculation == "relax":
        namelists["ions"] = {}
    for name, values in (preset.get("extra") or {}).items():
        if name.lower() not in ("control", "system", "electrons", "ions", "cell") or not isinstance(values, dict):
            raise InputError(f"preset 'extra' must map a pw.x namelist (control, system, ...) to settings, got '{name}'")
        namelists.setdefault(name.lower(), {}).update(values)
    return namelists, hub_card


def format_value(value: Any) -> str:
    """Fortran namelist literal of a Python value."""
    if isinstance(value, bool):
        return ".true." if value else ".false."
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value)).replace("e", "d") if "e" in repr(float(value)) else repr(float(value))
    return "'" + str(value).replace("'", "") + "'"


def render_namelists(namelists: dict[str, dict[str, Any]]) -> str:
    """The namelist part of a pw.x input (``&CONTROL`` … ``/``), in pw.x's order (others, e.g. ``&FCP``, after)."""
    lines: list[str] = []
    for name in [*NAMELIST_ORDER, *(n for n in namelists if n not in NAMELIST_ORDER)]:
        if name in namelists:
            lines.append(f"&{name.upper()}")
            lines.extend(f"  {key} = {format_value(value)}" for key, value in namelists[name].items())
            lines.append("/")
    return "".join(line + "\n" for line in lines)


def render_pw_input(
    namelists: dict[str, dict[str, Any]],
    split: SpeciesSplit,
    atoms: Atoms,
    mesh: list[int],
    shift: list[int],
    hubbard_card: list[str],
) -> str:
    """Text of a pw.x input file (positions and cell in Å): :func:`render_namelists`, then the cards."""
    lines: list[str] = ["ATOMIC_SPECIES"]
    for sp in split.species:
        lines.append(f"  {sp.label} {atomic_masses[atomic_numbers[sp.element]]:.4f} {sp.pseudo_file}")
    lines.append("CELL_PARAMETERS angstrom")
    lines.extend("  " + " ".join(f"{x:16.10f}" for x in row) for row in np.asarray(atoms.get_cell()))
    fixed = set(fixed_indices(atoms))
    relax = namelists.get("control", {}).get("calculation") in {"relax", "md", "vc-relax"}
    lines.append("ATOMIC_POSITIONS angstrom")
    for i, (label, pos) in enumerate(zip(split.labels, atoms.get_positions())):
        flags = "  0 0 0" if (relax and i in fixed) else ""
        lines.append(f"  {label:<5s} " + " ".join(f"{x:16.10f}" for x in pos) + flags)
    lines.append("K_POINTS automatic")
    lines.append("  " + " ".join(str(n) for n in mesh) + "  " + " ".join(str(s) for s in shift))
    lines.extend(hubbard_card)
    return render_namelists(namelists) + "\n".join(lines) + "\n"


#: pw.x settings that change the computed physics (not just the way there): a p and an ap point
#: are only compared when their values agree (see :func:`physics_settings`).
PHYSICS_KEYS: dict[str, tuple[str, ...]] = {
    "system": ("ecutwfc", "ecutrho", "occupations", "smearing", "degauss", "nspin", "nbnd", "tot_magnetization",
               "constrained_magnetization", "lambda", "lda_plus_u", "vdw_corr", "input_dft", "edir", "emaxpos", "eopreg",
               "zgate", "tot_charge"),
    "control": ("tefield", "dipfield", "gate"),
    "electrons": ("tqr",),
}


def physics_settings(path: str | Path) -> dict[str, str | None]:
    """The :data:`PHYSICS_KEYS` values of a pw.x input as written (after any correction)."""
    return {f"{namelist}.{key}": get_pw_parameter(path, namelist, key)
            for namelist, keys in PHYSICS_KEYS.items() for key in keys}


def _block(text: str, namelist: str) -> tuple[int, int]:
    match = re.search(rf"^\s*&{namelist}\b.*?$(.*?)^\s*/\s*$", text, re.I | re.M | re.S)
    if not match:
        raise InputError(f"pw.x input has no &{namelist.upper()} namelist")
    return match.start(1), match.end(1)


def pw_parameter(text: str, namelist: str | None, key: str) -> str | None:
    """Value text of ``key = value`` in pw.x input text: the one reader of pw.x inputs.

    Parameters
    ----------
    text
        The input file's text (tipsurf's ``pw.in`` or any pw.x input).
    namelist
        Look only inside ``&namelist`` (InputError if it is missing); None: anywhere.
    key
        The key as written (case-insensitive), e.g. ``mixing_beta`` or ``starting_magnetization(1)``.

    Returns
    -------
    str or None
        The value without quotes (an unquoted one ends at a comma, a ``!`` comment or the line
        end); None if the key is not set.
    """
    if namelist is not None:
        start, end = _block(text, namelist)
        text = text[start:end]
    match = re.search(rf"^\s*{re.escape(key)}\s*=[ \t]*(?:'([^'\n]*)'|\"([^\"\n]*)\"|([^,!\n]*))", text, re.I | re.M)
    if not match:
        return None
    value = next(group for group in match.groups() if group is not None).strip()
    return value or None


def get_pw_parameter(path: str | Path, namelist: str, key: str) -> str | None:
    """Value text of ``key`` in ``&namelist`` of a pw.x input file, or None if absent (see :func:`pw_parameter`)."""
    return pw_parameter(Path(path).read_text(), namelist, key)
