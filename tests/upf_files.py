"""Small pseudopotential files written by the tests themselves (no library needed).

:func:`write_upf_v1` writes an ultrasoft pseudopotential in the old UPF v1 layout (the
positional ``<PP_HEADER>`` block of the original GBRV files, then mesh, core charge, local
part, projectors with D_ij and Q_ij, pseudo-wavefunctions and atomic charge), so that the v1
header parser is tested on the file structure it meets in real libraries.  (The generated ld1.x
set covers every element of the presets, so no stand-in UPF is needed for input-writing tests.)

The radial functions are smooth analytic shapes on the logarithmic mesh ld1.x uses
(``r_i = exp(xmin + i dx) / Z``); the tests check file handling, not physics.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

from ase.data import atomic_numbers


def _mesh(element: str, rmax_bohr: float = 40.0, xmin: float = -7.0, dx: float = 0.03) -> tuple[list[float], list[float]]:
    z = atomic_numbers[element]
    n = math.ceil((math.log(rmax_bohr * z) - xmin) / dx) + 1
    r = [math.exp(xmin + i * dx) / z for i in range(n)]
    return r, [ri * dx for ri in r]


def _block(values: Iterable[float], per_line: int = 4) -> str:
    values = list(values)
    rows = [values[i : i + per_line] for i in range(0, len(values), per_line)]
    return "\n".join("  " + "  ".join(f"{v:19.11E}" for v in row) for row in rows)


def _wavefunction(r: Sequence[float], l: int, a: float) -> list[float]:
    """r * chi(r) of a normalised hydrogen-like orbital r^l exp(-r/a) (integral of its square = 1)."""
    norm = math.sqrt((2 / a) ** (2 * l + 3) / math.factorial(2 * l + 2))
    return [norm * ri ** (l + 1) * math.exp(-ri / a) for ri in r]


def write_upf_v1(
    path: str | Path,
    element: str = "W",
    z_valence: float = 14.0,
    *,
    channels: Sequence[tuple[str, int, float]] = (("5S", 0, 2.0), ("5P", 1, 6.0), ("5D", 2, 6.0)),
    functional: str = "SLA  PW   PBE  PBE",
    functional_short: str = "PBE",
    cutoffs_Ry: tuple[float, float] = (0.0, 0.0),
    total_energy_Ry: float = -158.0,
) -> Path:
    """Write an ultrasoft UPF v1 file (one projector per channel, no Q pseudization) and return its path."""
    path = Path(path)
    r, rab = _mesh(element)
    n = len(r)
    zeff = float(z_valence)
    rc = 1.2
    widths = [1.0 + 0.4 * i for i in range(len(channels))]
    chis = [_wavefunction(r, l, a) for (_, l, _), a in zip(channels, widths)]
    kkbeta = next(i for i, ri in enumerate(r) if ri > 2.5 * rc)
    lmax = max(l for _, l, _ in channels)
    nbeta = len(channels)

    lines = ["<PP_INFO>", "  Written by the tipsurf test suite (tests/upf_files.py): an ultrasoft pseudopotential",
             "  in the UPF v1 layout with analytic radial functions, for parser tests only.",
             "</PP_INFO>", "", "", "<PP_HEADER>",
             f"   0                   Version Number",
             f"  {element:<2}                   Element",
             f"   US                  Ultrasoft pseudopotential",
             f"    T                  Nonlinear Core Correction",
             f"{functional:<20}    {functional_short:<4} Exchange-Correlation functional",
             f"{zeff:17.11f}      Z valence",
             f"{total_energy_Ry:17.11f}      Total energy",
             f"{cutoffs_Ry[0]:11.5f}{cutoffs_Ry[1]:11.5f} Suggested cutoff for wfc and rho",
             f"{lmax:5d}                  Max angular momentum component",
             f"{n:5d}                  Number of points in mesh",
             f"{len(channels):5d}{nbeta:5d}             Number of Wavefunctions, Number of Projectors",
             " Wavefunctions         nl  l   occ"]
    lines += [f"                       {label:<2}{l:3d}{occ:6.2f}" for label, l, occ in channels]
    lines += ["</PP_HEADER>", "", "", "<PP_MESH>", "  <PP_R>", _block(r), "  </PP_R>",
              "  <PP_RAB>", _block(rab), "  </PP_RAB>", "</PP_MESH>", "", ""]
    core = [0.5 * zeff * math.exp(-((ri / 0.7) ** 2)) for ri in r]
    lines += ["<PP_NLCC>", _block(core), "</PP_NLCC>", "", ""]
    local = [-2 * zeff * math.erf(ri / rc) / ri for ri in r]
    lines += ["<PP_LOCAL>", _block(local), "</PP_LOCAL>", "", "", "<PP_NONLOCAL>"]
    for index, ((_, l, _), chi) in enumerate(zip(channels, chis), start=1):
        beta = [c * math.exp(-((ri / rc) ** 2)) for c, ri in zip(chi[:kkbeta], r)]
        lines += ["  <PP_BETA>", f"{index:5d}{l:5d}             Beta    L", f"{kkbeta:6d}", _block(beta),
                  "  </PP_BETA>"]
    lines += ["  <PP_DIJ>", f"{nbeta:5d}                  Number of nonzero Dij"]
    lines += [f"{i:5d}{i:5d}{-1.0 / i:19.11E}" for i in range(1, nbeta + 1)]
    lines += ["  </PP_DIJ>", "  <PP_QIJ>", f"{0:5d}     nqf. If not zero, Qij's inside rinner are computed using qfcoef's"]
    for i in range(1, nbeta + 1):
        for j in range(i, nbeta + 1):
            q = [a * b if i == j else 0.0 for a, b in zip(chis[i - 1], chis[j - 1])]
            q_int = sum(v * w for v, w in zip(q, rab))
            lines += [f"{i:5d}{j:5d}{channels[j - 1][1]:5d}   i  j  (l(j))", f"{q_int:19.11E}   Q_int", _block(q)]
    lines += ["  </PP_QIJ>", "</PP_NONLOCAL>", "", "", "<PP_PSWFC>"]
    for (label, l, occ), chi in zip(channels, chis):
        lines += [f"{label:<2}{l:5d}{occ:10.2f}          Wavefunction", _block(chi)]
    lines += ["</PP_PSWFC>", "", "", "<PP_RHOATOM>"]
    rho = [sum(occ * chi[i] ** 2 for (_, _, occ), chi in zip(channels, chis)) for i in range(n)]
    lines += [_block(rho), "</PP_RHOATOM>", ""]
    path.write_text("\n".join(lines))
    return path
