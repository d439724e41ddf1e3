"""Test POTCARs written by the tests themselves (real VASP POTCARs are licensed: none ship).

:func:`write_test_potcar` writes one single-element POTCAR in VASP's text layout: the title
line, the valence, the ``parameters from PSCTR are:`` block with the keywords pymatgen reads
(VRHFIN, LEXCH, TITEL, POMASS/ZVAL, ENMAX ...), the description and kinetic-energy error
tables, ``END of PSCTR-controll parameters``, the data sections (local part, core and
atomic charge, one non-local block per projector, PAW radial sets) and ``End of Dataset``.
The numbers of the data sections are smooth deterministic shapes: the file is read and
copied, never used by VASP.  TITEL carries the ``; TEST`` mark that names it as such.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path
from typing import Sequence

#: (symbol, element, TITEL date, ZVAL, POMASS, VRHFIN configuration, ENMAX eV, projector l values)
KNOWN = {
    "Fe": ("Fe", "06Sep2000", 8.0, 55.847, "3d7 4s1", 267.883, (0, 0, 1, 1, 2, 2)),
    "Fe_pv": ("Fe", "06Sep2000", 14.0, 55.847, "3p6 3d7 4s1", 293.238, (1, 1, 2, 2, 0, 0)),
    "O": ("O", "08Apr2002", 6.0, 16.000, "s2p4", 400.000, (0, 0, 1, 1)),
}


def _numbers(count: int, phase: float) -> list[str]:
    return [f"{abs(math.sin(phase + 0.37 * i)) * math.exp(-0.02 * i) * 10:.9f}" for i in range(count)]


def _data(count: int, phase: float, per_line: int = 5) -> list[str]:
    values = _numbers(count, phase)
    return [" ".join(values[i : i + per_line]) for i in range(0, count, per_line)]


def potcar_text(symbol: str, element: str, date: str, zval: float, pomass: float, config: str, enmax: float,
                projector_l: Sequence[int]) -> str:
    """Text of one test POTCAR (see the module docstring)."""
    titel = f"PAW_PBE {symbol} {date}"
    lines = [
        titel, f" {zval:.16f}", " parameters from PSCTR are:",
        f"   VRHFIN ={element}: {config}", "   LEXCH  = PE",
        f"   EATOM  = {100 * zval:10.4f} eV, {100 * zval / 13.6057:9.4f} Ry", "",
        f"   TITEL  = {titel} ; TEST (written by the tipsurf tests, not a VASP potential)",
        "   LULTRA =        F    use ultrasoft PP ?", "   IUNSCR =        1    unscreen: 0-lin 1-nonlin 2-no",
        "   RPACOR =    1.500    partial core radius",
        f"   POMASS = {pomass:8.3f};  ZVAL   = {zval:8.3f}    mass and valenz",
        "   RCORE  =    2.000    outmost cutoff radius",
        "   RWIGS  =    2.000;  RWIGS  =    1.058    wigner-seitz radius (au A)",
        f"   ENMAX  = {enmax:8.3f};  ENMIN  = {0.75 * enmax:8.3f} eV",
        "   RCLOC  =    1.500    cutoff for local pot", "   LCOR   =        T    correct aug charges",
        "   LPAW   =        T    paw PP", "   EAUG   =  500.000", "   DEXC   =     .000",
        "   RMAX   =    2.500    core radius for proj-oper", "   RAUG   =    1.300    factor for augmentation sphere",
        "   RDEP   =    2.100    radius for radial grids",
        "   QCUT   =   -4.500;  QGAM   =    9.000    optimization parameters", " ",
        "   Description", "     l     E      TYP  RCUT    TYP  RCUT",
    ]
    lines += [f"     {l}   {0.0 if k % 2 == 0 else -0.5:.3f}     23  2.000" for k, l in enumerate(projector_l)]
    lines += ["Error from kinetic energy argument (eV)", "NDATA = 8", "STEP = 18.000 0.500"]
    lines += _data(8, 0.1, per_line=8)
    lines += ["END of PSCTR-controll parameters", "local part", f"{2 * zval:.14f}"]
    lines += _data(100, 0.3)
    lines += ["gradient corrections used for XC", "    5", "core charge-density (partial)"]
    lines += _data(100, 0.5)
    lines += ["atomic pseudo charge-density"]
    lines += _data(100, 0.7)
    for k, l in enumerate(projector_l):
        lines += ["Non local Part", f"    {l}    1    {1.5 + 0.1 * k:.9f}", f"  {-3.0 + k:.9f}",
                  "Reciprocal Space Part", f" {20.0:.9f}"]
        lines += _data(100, 0.9 + k)
        lines += ["Real Space Part"]
        lines += _data(100, 1.1 + k)
    lines += ["PAW radial sets", f"   {200}    {0.050:.9f}", "augmentation charges (non sperical)"]
    lines += _data(len(projector_l) ** 2, 2.0)
    lines += ["grid"]
    lines += _data(200, 2.5)
    lines += ["End of Dataset", ""]
    return "\n".join(lines)


def write_test_potcar(root: str | Path, symbol: str, functional_dir: str = "POT_GGA_PAW_PBE") -> Path:
    """Write ``root/<functional_dir>/POTCAR.<symbol>.gz`` (pymatgen's PMG_VASP_PSP_DIR layout)."""
    element, date, zval, pomass, config, enmax, projector_l = KNOWN[symbol]
    folder = Path(root) / functional_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"POTCAR.{symbol}.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(potcar_text(symbol, element, date, zval, pomass, config, enmax, projector_l))
    return path


def write_test_potcars(root: str | Path, symbols: Sequence[str] = ("Fe", "Fe_pv", "O")) -> Path:
    """Write test POTCARs of ``symbols`` under ``root`` and return ``root``."""
    for symbol in symbols:
        write_test_potcar(root, symbol)
    return Path(root)
