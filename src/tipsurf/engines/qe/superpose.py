"""Starting density of a tip-surface junction from the converged densities of its parts.

A floating junction (tip over vacuum over a slab) started from superposed atomic densities
charge-sloshes for tens of iterations in pw.x.  Started from the *sum of the converged
densities of its separated parts* (slab alone, tip alone, both computed in the junction's own
cell and FFT grid), the first SCF error drops from ~1000 Ry to a few Ry and the junction
converges in ~15 iterations (measured: ``benchmarks/bench_floating_superposed.py``).

Within one scan the cell is fixed, so a fragment computed once can serve every distance: a
rigid translation by ``shift_z_A`` along z is a phase factor exp(-i G_z Δz) on its G-space
components (exact for any Δz, the cell being periodic), and the ap configuration is the p
tip with its magnetisation negated.  A part may also enter with a weight (e.g. −1 to remove
an old tip position from a converged neighbour's density).

All parts must come from the same cell and density cut-off and from serial runs of the same
pw.x (identical Miller-index lists, which is checked); pw.x then reads the sum as its own
``charge-density.dat`` with ``startingpot='file'``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tipsurf.engines.qe.inputs import OUTDIR, PREFIX
from tipsurf.engines.qe.charge_density import DENSITY_FILE, ChargeDensity, read_charge_density, write_charge_density
from tipsurf.errors import InputError

__all__ = ["DensityPart", "calc_save_dir", "superpose_densities", "write_superposed_density"]

#: Relative tolerance on the reciprocal vectors of parts that must share one cell.
_CELL_RTOL = 1e-8


@dataclass(frozen=True)
class DensityPart:
    """One converged density entering a superposition.

    Attributes
    ----------
    save_dir
        ``<prefix>.save`` folder (or the ``charge-density.dat`` file) of the part.
    shift_z_A
        Rigid translation along z applied to the part (Angstrom).
    weight
        Factor on the whole density (1 adds the part, -1 removes it).
    flip_magnetization
        Negate the magnetisation component (the ap copy of a p tip).
    """

    save_dir: str
    shift_z_A: float = 0.0
    weight: float = 1.0
    flip_magnetization: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (stored with the calculation)."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DensityPart":
        """Inverse of :meth:`as_dict`."""
        return cls(str(data["save_dir"]), float(data.get("shift_z_A", 0.0)), float(data.get("weight", 1.0)),
                   bool(data.get("flip_magnetization", False)))


def calc_save_dir(calc_dir: str | Path) -> str:
    """The ``<prefix>.save`` folder of a tipsurf QE calculation folder (where its density is)."""
    return str(Path(calc_dir) / OUTDIR / f"{PREFIX}.save")


def _c_length_bohr(density: ChargeDensity) -> float:
    """Length of the third cell vector (bohr); the vector must be along z."""
    cell_bohr = density.cell_bohr
    if np.abs(cell_bohr[2, :2]).max() > 1e-6 * abs(cell_bohr[2, 2]) or np.abs(cell_bohr[:2, 2]).max() > 1e-6 * abs(cell_bohr[2, 2]):
        raise InputError("superposed starts need a cell whose third vector is along z and the others in the xy plane")
    return float(cell_bohr[2, 2])


def _translated(density: ChargeDensity, part: DensityPart, bohr_per_A: float) -> np.ndarray:
    """Components of one part after translation, weight and optional magnetisation flip."""
    c_bohr = _c_length_bohr(density)
    phase = np.exp(-2j * np.pi * density.miller[:, 2] * (part.shift_z_A * bohr_per_A) / c_bohr)
    rho = density.rho_g * phase[None, :] * float(part.weight)
    if part.flip_magnetization:
        if density.nspin != 2:
            raise InputError(f"{part.save_dir}: flipping the magnetisation needs a collinear spin-polarised density (nspin = 2)")
        rho[1] = -rho[1]
    return rho


def superpose_densities(parts: list[DensityPart], bohr_per_A: float = 1.0 / 0.529177210903) -> tuple[ChargeDensity, dict[str, Any]]:
    """Sum the densities of ``parts`` (translated, weighted, flipped) into one.

    Parameters
    ----------
    parts
        At least one part; all from the same cell, cut-off and G order.
    bohr_per_A
        Conversion used for the translations (pw.x's value by default).

    Returns
    -------
    tuple
        The summed density and diagnostics (``electrons`` and ``magnetization_muB`` of each
        part and of the sum).

    Raises
    ------
    InputError
        No parts, or parts from different cells, cut-offs, G orders or spin settings.
    """
    if not parts:
        raise InputError("a superposed start needs at least one converged density")
    densities = [read_charge_density(Path(p.save_dir)) for p in parts]
    first = densities[0]
    for part, density in zip(parts[1:], densities[1:]):
        same = (
            np.array_equal(density.miller, first.miller)
            and np.allclose(density.b_vectors_per_bohr, first.b_vectors_per_bohr, rtol=_CELL_RTOL, atol=0.0)
            and density.nspin == first.nspin
            and density.gamma_only == first.gamma_only
        )
        if not same:
            raise InputError(
                f"{part.save_dir} was computed in another cell, cut-off, G order or spin setting than "
                f"{parts[0].save_dir}; fragments must share the junction's cell and ecutrho"
            )
    total = sum(_translated(d, p, bohr_per_A) for d, p in zip(densities, parts))
    result = replace(first, rho_g=np.asarray(total))
    diagnostics = {
        "parts": [{**p.as_dict(), "electrons": d.electrons, "magnetization_muB": d.magnetization_muB}
                  for p, d in zip(parts, densities)],
        "electrons": result.electrons,
        "magnetization_muB": result.magnetization_muB,
    }
    return result, diagnostics


def write_superposed_density(parts: list[DensityPart], target_save_dir: str | Path, expected_electrons: float | None = None) -> dict[str, Any]:
    """Write the superposition of ``parts`` as ``charge-density.dat`` in ``target_save_dir``.

    Parameters
    ----------
    parts
        See :func:`superpose_densities`.
    target_save_dir
        ``<prefix>.save`` folder of the new calculation (created).
    expected_electrons
        Electron count of the new calculation; the sum must match it within 1e-3 e (a part
        missing or counted twice is an error, not a start).

    Returns
    -------
    dict
        Diagnostics plus ``files`` (names written).
    """
    density, diagnostics = superpose_densities(parts)
    if expected_electrons is not None and abs(density.electrons - float(expected_electrons)) > 1e-3:
        raise InputError(
            f"the superposed density holds {density.electrons:.4f} electrons, the calculation "
            f"{float(expected_electrons):.4f}; the fragments do not add up to the junction"
        )
    target = Path(target_save_dir)
    target.mkdir(parents=True, exist_ok=True)
    write_charge_density(target / DENSITY_FILE, density)
    return {**diagnostics, "files": [DENSITY_FILE]}
