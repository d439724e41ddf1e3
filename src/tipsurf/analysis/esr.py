"""ESR-STM resonance maps of a spin-½ surface atom under a magnetic tip (Willke et al., seed 000).

The atom's spin follows the total field, so its resonance frequency is

    h f0(x, y, z) = g μB |B_ext + B_tip(x, y, z)|,

and the *resonant slice* at a driving frequency f is where |f0 − f| < linewidth.

Tip field models (r = vector from the tip moment to the surface atom):

* ``dipolar``: B = μ0 μB / (4π |r|³) [3 (m·r̂) r̂ − m] with the tip **magnetic moment** m given
  in μB.  Sign choice: we specify the moment, not the spin.  For a tip spin S_tip with g-factor
  g_tip the moment is m = −g_tip S_tip (an electron's moment is antiparallel to its spin);
  :func:`moment_from_spin` does that conversion.  The publication's equation (2) writes
  +g_tip μB S_tip, i.e. its S_tip denotes the moment direction.
* ``exchange``: B = J(|r|) ŝ_tip / (g μB) with J(r) = J0 exp(−r/λ) (eV) and ŝ_tip the unit
  vector of the tip *spin* (= −m̂ for the given moment m).  This is the effective field of the
  coupling E = J(r) ŝ_tip·S (the atom's Zeeman energy is +g μB B·S), so J > 0 favours antiparallel
  spins.  For a spin-½ atom E_p = +J/2 and E_ap = −J/2, hence J = −E_ex with the DFT
  E_ex = E_ap − E_p (> 0 ferromagnetic); the CLI applies that mapping to a fitted E_ex.

The tip moment may be spread over a few Å: the field is averaged over a 3-D Gaussian
distribution of source points (σ = ``spread_A``), sampled deterministically on a
Gauss–Hermite grid, which keeps the map's symmetries exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tipsurf.errors import InputError

MU_B_J_PER_T = 9.2740100783e-24
MU0_T_M_PER_A = 1.25663706212e-6
H_PLANCK_J_S = 6.62607015e-34
EV_J = 1.602176634e-19
MODES = ("dipolar", "exchange")


def moment_from_spin(spin: np.ndarray, g_tip: float = 2.0) -> np.ndarray:
    """Tip magnetic moment (μB) of a spin vector: m = −g_tip S (electron moment ∥ −spin)."""
    return -g_tip * np.asarray(spin, dtype=float)


def dipolar_field_T(r_A: np.ndarray, moment_muB: np.ndarray) -> np.ndarray:
    """Field (T) of a point moment (μB) at displacement(s) ``r_A`` (Å) from it, shape (..., 3)."""
    r = np.asarray(r_A, dtype=float) * 1e-10
    m = np.asarray(moment_muB, dtype=float) * MU_B_J_PER_T
    norm = np.linalg.norm(r, axis=-1, keepdims=True)
    rhat = r / norm
    mdot = np.sum(rhat * m, axis=-1, keepdims=True)
    return MU0_T_M_PER_A / (4.0 * math.pi * norm**3) * (3.0 * mdot * rhat - m)


def exchange_field_T(r_A: np.ndarray, spin_direction: np.ndarray, J0_eV: float, lambda_A: float, g: float = 2.0) -> np.ndarray:
    """Effective exchange field (T) B = J0 exp(−|r|/λ) ŝ / (g μB)."""
    s = np.asarray(spin_direction, dtype=float)
    s = s / np.linalg.norm(s)
    dist = np.linalg.norm(np.asarray(r_A, dtype=float), axis=-1, keepdims=True)
    J_J = J0_eV * EV_J * np.exp(-dist / lambda_A)
    return J_J * s / (g * MU_B_J_PER_T)


def _spread_points(spread_A: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (Å) and weights of a 3-D Gaussian (σ = spread_A) on a Gauss–Hermite grid."""
    if spread_A <= 0:
        return np.zeros((1, 3)), np.ones(1)
    x, w = np.polynomial.hermite_e.hermegauss(order)  # weight exp(-x²/2)
    w = w / w.sum()
    grid = np.stack(np.meshgrid(x, x, x, indexing="ij"), axis=-1).reshape(-1, 3) * spread_A
    weights = np.einsum("i,j,k->ijk", w, w, w).reshape(-1)
    return grid, weights


@dataclass
class EsrModel:
    """Parameters of the tip-field model (units in the names)."""

    mode: str = "dipolar"
    B_ext_T: tuple[float, float, float] = (0.0, 0.0, 0.9)
    g: float = 2.0
    tip_moment_muB: tuple[float, float, float] = (0.0, 0.0, 2.0)
    J0_eV: float = 0.0
    lambda_A: float = 0.5
    spread_A: float = 0.0
    spread_order: int = 5
    notes: list[str] = field(default_factory=list)

    def validate(self) -> None:
        """Raise InputError on unusable parameters."""
        if self.mode not in MODES:
            raise InputError(f"unknown ESR tip-field mode '{self.mode}'; choose dipolar or exchange")
        if len(self.B_ext_T) != 3 or len(self.tip_moment_muB) != 3:
            raise InputError("B_ext_T and tip_moment_muB must be 3-vectors (x,y,z)")
        if self.g <= 0:
            raise InputError(f"g-factor must be positive, got {self.g}")
        if self.mode == "exchange":
            if not self.lambda_A > 0:
                raise InputError(f"decay length lambda_A must be positive, got {self.lambda_A}")
            if np.linalg.norm(self.tip_moment_muB) == 0:
                raise InputError("the tip spin direction (tip moment) must be non-zero")
        if self.spread_A < 0:
            raise InputError(f"spread_A must be >= 0, got {self.spread_A}")

    def tip_field_T(self, r_A: np.ndarray) -> np.ndarray:
        """Tip field at displacement(s) r (from the tip centre to the atom), averaged over the spread."""
        offsets, weights = _spread_points(self.spread_A, self.spread_order)
        r = np.asarray(r_A, dtype=float)
        total = np.zeros(r.shape)
        for off, w in zip(offsets, weights):
            rr = r - off
            if self.mode == "dipolar":
                total += w * dipolar_field_T(rr, self.tip_moment_muB)
            else:
                spin_dir = -np.asarray(self.tip_moment_muB, dtype=float)
                total += w * exchange_field_T(rr, spin_dir, self.J0_eV, self.lambda_A, self.g)
        return total


def resonance_map(model: EsrModel, height_A: float, extent_A: float, points: int) -> dict[str, Any]:
    """f0(x, y) on a square grid of tip positions at height z above the atom.

    The atom sits at the origin; the tip at (x, y, height_A), so r = (−x, −y, −height_A).

    Returns
    -------
    dict
        ``x_A``, ``y_A`` (1-D), ``f0_GHz`` (points × points, indexed [iy, ix]), ``B_tip_T``
        (points × points × 3) and the model parameters.
    """
    model.validate()
    if not height_A > 0:
        raise InputError(f"tip height must be positive (A), got {height_A}")
    if model.spread_A > 0 and height_A <= 2 * model.spread_A and model.mode == "dipolar":
        raise InputError(f"tip height {height_A} A is within 2 sigma of the spread {model.spread_A} A; the dipole model diverges there")
    if not extent_A > 0 or points < 3:
        raise InputError("extent must be positive and points >= 3")
    x = np.linspace(-extent_A / 2, extent_A / 2, int(points))
    X, Y = np.meshgrid(x, x, indexing="xy")
    r = np.stack([-X, -Y, -np.full_like(X, height_A)], axis=-1)
    b_tip = model.tip_field_T(r)
    b_total = b_tip + np.asarray(model.B_ext_T, dtype=float)
    f0 = model.g * MU_B_J_PER_T * np.linalg.norm(b_total, axis=-1) / H_PLANCK_J_S
    return {"x_A": x, "y_A": x.copy(), "height_A": float(height_A), "f0_GHz": f0 * 1e-9, "B_tip_T": b_tip,
            "model": {k: v for k, v in model.__dict__.items() if k != "notes"}}


def resonant_slice(f0_GHz: np.ndarray, f_drive_GHz: float, linewidth_GHz: float) -> np.ndarray:
    """Boolean mask of tip positions where |f0 − f_drive| < linewidth."""
    if not linewidth_GHz > 0:
        raise InputError(f"linewidth must be positive (GHz), got {linewidth_GHz}")
    return np.abs(np.asarray(f0_GHz) - f_drive_GHz) < linewidth_GHz
