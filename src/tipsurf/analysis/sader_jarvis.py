"""Frequency shift → force inversion (Sader & Jarvis, Appl. Phys. Lett. 84, 1801 (2004)).

    F(z) = 2k ∫_z^∞ [ (1 + A^{1/2} / (8 √(π (t − z)))) Ω(t) − A^{3/2} / √(2 (t − z)) dΩ/dt ] dt,

with Ω = Δf/f0, z the distance of closest approach, A the oscillation amplitude and k the
cantilever stiffness.  The integrable 1/√(t − z) singularity is removed by the substitution
t = z + u², dt = 2u du; Ω and dΩ/dt come from a shape-preserving (PCHIP) interpolant of the data,
which is integrated with Gauss–Legendre quadrature up to the largest measured z (Ω is taken as
zero beyond it, so the data should reach where Δf has decayed).  The forward relation
:func:`frequency_shift` (exact for any amplitude) is provided for checks.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from tipsurf.errors import InputError

N_QUAD = 200


def _validate(z_m: np.ndarray, df_Hz: np.ndarray, amplitude_m: float, stiffness_N_per_m: float, f0_Hz: float) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(z_m, dtype=float)
    df = np.asarray(df_Hz, dtype=float)
    if z.ndim != 1 or z.shape != df.shape or z.size < 4:
        raise InputError("Sader-Jarvis needs at least 4 (z_m, df_Hz) pairs of equal length")
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(df))):
        raise InputError("z_m and df_Hz must be finite numbers")
    for name, value in (("amplitude", amplitude_m), ("stiffness", stiffness_N_per_m), ("f0", f0_Hz)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{name} must be a positive number, got {value}")
    order = np.argsort(z)
    z, df = z[order], df[order]
    if np.any(np.diff(z) <= 0):
        raise InputError("z_m values must be distinct (one frequency shift per height)")
    return z, df


def sader_jarvis_force(z_m: np.ndarray, df_Hz: np.ndarray, amplitude_m: float, stiffness_N_per_m: float, f0_Hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Force F(z) (N) from a frequency-shift curve Δf(z).

    Parameters
    ----------
    z_m
        Closest-approach distances (m), any order; returned sorted.
    df_Hz
        Frequency shifts (Hz).
    amplitude_m, stiffness_N_per_m, f0_Hz
        Oscillation amplitude A (m), cantilever stiffness k (N/m), free resonance f0 (Hz).

    Returns
    -------
    z_m, force_N
        Sorted heights and the force at each (negative = attractive).  The last point is 0 by
        construction (nothing measured beyond it).
    """
    from scipy.interpolate import PchipInterpolator

    z, df = _validate(z_m, df_Hz, amplitude_m, stiffness_N_per_m, f0_Hz)
    omega = PchipInterpolator(z, df / f0_Hz, extrapolate=False)
    d_omega = omega.derivative()
    nodes, weights = np.polynomial.legendre.leggauss(N_QUAD)
    A = amplitude_m
    force = np.zeros_like(z)
    for i, zi in enumerate(z[:-1]):
        umax = math.sqrt(z[-1] - zi)
        u = 0.5 * umax * (nodes + 1.0)
        w = 0.5 * umax * weights
        t = np.minimum(zi + u**2, z[-1])
        om, dom = omega(t), d_omega(t)
        integrand = (2.0 * u * om
                     + math.sqrt(A) / (4.0 * math.sqrt(math.pi)) * om
                     - math.sqrt(2.0) * A**1.5 * dom)
        force[i] = 2.0 * stiffness_N_per_m * float(np.sum(w * integrand))
    return z, force


def frequency_shift(force_N: Callable[[np.ndarray], np.ndarray], z_m: np.ndarray, amplitude_m: float, stiffness_N_per_m: float, f0_Hz: float, n: int = 400) -> np.ndarray:
    """Forward relation Δf(z) = −f0/(π A k) ∫_{−1}^{1} F(z + A(1 + u)) u / √(1 − u²) du.

    Evaluated with Gauss–Chebyshev quadrature (exact weight 1/√(1 − u²)); z is the closest
    approach, ``force_N`` a vectorised callable F(z) in newtons.
    """
    k = np.arange(1, n + 1)
    u = np.cos((2 * k - 1) * math.pi / (2 * n))
    z = np.asarray(z_m, dtype=float)[:, None]
    vals = force_N(z + amplitude_m * (1.0 + u[None, :])) * u[None, :]
    integral = vals.sum(axis=1) * math.pi / n
    return -f0_Hz / (math.pi * amplitude_m * stiffness_N_per_m) * integral
