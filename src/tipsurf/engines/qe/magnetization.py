"""A moment that is dying away: how to see it in ``pw.out`` and how to shorten its death.

Near a magnetic instability (a Ti adatom whose moment is quenched by its H, say) the spin
channel of the SCF is a soft mode: the absolute magnetisation falls by a few per cent per
iteration, the SCF accuracy with it, and halving ``mixing_beta`` (the usual recovery) makes the
fall slower still.  Measured on TiH2 at the O-top site of the 1x1 demo slab (pw.x 6.7, from
atoms, conv_thr 1e-8 Ry): beta 0.4 -> 24 iterations, 0.2 -> 31, 0.05 -> not converged after 60
(0.09 muB left of 0.66).  The state the SCF is heading for is known from its own course, so the
recovery restarts from the saved density with its magnetisation scaled down
(:func:`scale_saved_magnetization`): a moment that is really there grows back from a tenth of
itself (the m = 0 state is never imposed), and one that is dying starts near its end.

* :func:`moment_vanishing` — whether the absolute magnetisations of the current SCF cycle
  (:func:`tipsurf.engines.qe.outputs.cycle_absolute_magnetizations`) are falling steadily
  towards zero;
* :func:`scale_saved_magnetization` — the saved ``charge-density.dat`` with its magnetisation
  component multiplied by a factor (the total density untouched).
"""

from __future__ import annotations

from pathlib import Path

from tipsurf.engines.qe.charge_density import ChargeDensity, read_charge_density, write_charge_density
from tipsurf.errors import OutputError

__all__ = ["moment_vanishing", "scale_saved_magnetization"]


def moment_vanishing(values_muB: list[float], window: int = 8, fraction: float = 0.5, tolerance: float = 0.02) -> bool:
    """True if the absolute magnetisation is falling steadily towards zero.

    Parameters
    ----------
    values_muB
        Absolute magnetisation per iteration (:func:`tipsurf.engines.qe.outputs.cycle_absolute_magnetizations`).
    window
        How many of the last iterations must not rise (each at most ``tolerance`` x the cycle's
        largest value above the one before).
    fraction
        The last value must be at most this fraction of the cycle's largest value.
    tolerance
        Allowed rise between iterations, as a fraction of the largest value.

    Returns
    -------
    bool
        False for a moment that is steady, rising, oscillating, already zero, or for fewer than
        ``window`` + 1 iterations.
    """
    if len(values_muB) <= window:
        return False
    largest, last = max(values_muB), values_muB[-1]
    if largest <= 0.0 or last <= 1e-3 * largest or last > fraction * largest:
        return False
    recent = values_muB[-window - 1:]
    return all(b <= a + tolerance * largest for a, b in zip(recent, recent[1:])) and recent[-1] < recent[0]


def scale_saved_magnetization(density_file: str | Path, factor: float) -> dict[str, float]:
    """Multiply the magnetisation component of a saved pw.x density by ``factor``, in place.

    Parameters
    ----------
    density_file
        ``charge-density.dat`` of a spin-polarised (collinear) run.
    factor
        Scale of the magnetisation (the total density is not changed).

    Returns
    -------
    dict
        ``magnetization_before_muB`` and ``magnetization_after_muB`` (total moment of the cell).

    Raises
    ------
    OutputError
        If the file is not a collinear spin-polarised density.
    """
    path = Path(density_file)
    density = read_charge_density(path)
    if density.nspin != 2:
        raise OutputError(f"{path} holds {density.nspin} density component(s), not a collinear spin density; "
                          "its magnetisation cannot be scaled")
    before = density.magnetization_muB
    rho_g = density.rho_g.copy()
    rho_g[1] *= float(factor)
    scaled = ChargeDensity(density.gamma_only, density.b_vectors_per_bohr, density.miller, rho_g)
    write_charge_density(path, scaled)
    return {"magnetization_before_muB": float(before or 0.0), "magnetization_after_muB": float(scaled.magnetization_muB or 0.0)}
