"""An SCF that drifts away because the density cut-off is too low: how to see it in ``pw.out``.

With ultrasoft (or PAW) pseudopotentials the augmentation charges are hard; at an ``ecutrho``
well below what the pseudopotentials ask for, their Fourier series rings and the density on
the FFT grid goes negative in places.  In a spin-polarized GGA run that negative spin density
feeds back on itself: the SCF converges to ~1e-7 Ry, then its error *rises* by 5-20 % per
iteration while pw.x's ``negative rho`` grows with it and the moment stays put.  No mixing
change cures it.  Measured (pw.x 6.7, Ti on the O-top site of the 1x1 demo slab of 2 ML MgO on
2 Ag(100), tipsurf's ld1.x ultrasoft set, 20 Ry, conv_thr 1e-10, 2026-12-03):

* ecutrho 240 Ry: best 5e-8 Ry at iteration 34, then 1.1e-6 Ry at 50 and ~1e-5 Ry after; the
  negative spin-up charge rose in every one of those 16 iterations (2.06e-3 -> 2.27e-3 e), the
  spin-down one stayed at 2.15e-3 e.  The same with tqr off, ``diago_full_acc``, plain mixing
  and Gaussian smearing;
* ecutrho 360 Ry: 5e-11 Ry in 49 iterations, negative charge 6e-4 e per spin, no drift; 480 Ry
  the same.

:func:`negative_density_drift` recognises the pattern so that the failure says what to change
(the ``ecutrho``), instead of only that the SCF stagnated.
"""

from __future__ import annotations

from tipsurf.engines.qe.outputs import current_scf_errors_Ry, cycle_negative_charges_e

__all__ = ["negative_density_drift"]


def negative_density_drift(text: str, error_rise: float = 3.0, min_iterations: int = 8, charge_rise: float = 1.05,
                           steady_fraction: float = 0.6) -> str | None:
    """Why the current SCF cycle drifts away, if a spin channel's negative density grows with its error.

    The pattern: at least ``min_iterations`` iterations after the cycle's best SCF error, the
    last error is ``error_rise`` x the best or more, and the negative charge of one spin channel
    rose in ``steady_fraction`` of those iterations and by ``charge_rise`` x overall.

    Parameters
    ----------
    text
        The content of ``pw.out`` as it stands.
    error_rise, min_iterations, charge_rise, steady_fraction
        Thresholds of the pattern, as above.

    Returns
    -------
    str or None
        A one-line diagnosis naming the figures and the fix, or None when the pattern is absent
        (a converging, sloshing or stuck SCF whose negative charge does not grow steadily).
    """
    errors = current_scf_errors_Ry(text)
    charges = cycle_negative_charges_e(text)
    n = min(len(errors), len(charges))
    errors, charges = errors[len(errors) - n:], charges[len(charges) - n:]  # one of each per iteration, aligned from the end
    if n < 2:
        return None
    best = min(range(n), key=errors.__getitem__)
    if n - 1 - best < min_iterations or errors[-1] < error_rise * errors[best]:
        return None
    for spin, label in enumerate(("up", "down")):
        since = [c[spin] for c in charges[best:]]
        rises = sum(b > a for a, b in zip(since, since[1:]))
        if since[0] > 0.0 and since[-1] >= charge_rise * since[0] and rises >= steady_fraction * (len(since) - 1):
            return (f"the SCF error rose from {errors[best]:.1e} to {errors[-1]:.1e} Ry over {n - 1 - best} iterations while "
                    f"the negative spin-{label} charge on the grid grew from {since[0]:.2e} to {since[-1]:.2e} e: ecutrho is "
                    f"too low for the pseudopotentials' augmentation charges; raise ecutrho (their suggested minimum "
                    f"is in the UPF headers)")
    return None
