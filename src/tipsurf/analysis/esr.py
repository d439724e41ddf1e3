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

Defaults and limits (the ESR-STM study, seed 000: Willke et al., "Magnetic resonance imaging of
single atoms on a surface", Nature Physics 2019)
--------------------------------------------------------------------------------------------
* Field: in-plane Bx = 0.9 T and out-of-plane Bz = 0.1 T (Fig. 1a caption), |B| = 0.906 T,
  i.e. f0 = 25.4 GHz for g = 2 without a tip.
* Tip height: the MRI scans of Fig. 2a and 2c were taken 2.4 Å above point contact (captions;
  the exchange-potential simulation of Fig. 4b uses z = 2.9 Å).  The model needs the distance
  between the tip spin and the atom, as the DFT scans measure d between atom centres, so the
  default is z + d_contact with d_contact = :data:`CONTACT_DISTANCE_A` — an assumption: the Fe–Ti
  nearest-neighbour distance of B2 FeTi (a ≈ 2.98 Å, a·√3/2 ≈ 2.58 Å) for an Fe tip touching a
  Ti adatom.  The default tip height is therefore 4.98 Å.
* Tip field: the study's tip fields are "of the order of 10 %" of B (main text), which is why
  spin-state mixing is neglected; :func:`measurability` reports max |B_tip|/|B|.
* Measurable f0: :data:`MEASURABLE_F0_GHZ` (see :data:`MEASURABLE_F0_SOURCE`).

Exchange from a DFT scan: the CLI uses E_ex(d) of a tip over Mn/W(110) as −J(r) of the spin-½
adatom.  A metallic Mn monolayer couples to the tip far more strongly than a Ti adatom on MgO:
1 meV of J is a field of 8.6 T (g = 2), so meV-scale DFT exchange gives tip fields of tens to
thousands of tesla and f0 of hundreds to thousands of GHz, whereas the study's ~0.1 T tip fields
mean J ≈ 10 µeV.  The mapping is an upper bound unless scaled (``--J-scale``); the CLI states it
and warns when f0 is not measurable.
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

#: External field (T) of the ESR-STM study (seed 000, Fig. 1a): Bx = 0.9 T in plane, Bz = 0.1 T.
STUDY_B_EXT_T: tuple[float, float, float] = (0.9, 0.0, 0.1)
#: Tip height above point contact (Å) of the study's MRI scans (seed 000, Fig. 2a and 2c).
STUDY_Z_ABOVE_CONTACT_A: float = 2.4
#: Tip-atom centre distance at point contact (Å), an assumption: the Fe-Ti nearest-neighbour
#: distance in B2 FeTi (a ≈ 2.98 Å, a√3/2 ≈ 2.58 Å).
CONTACT_DISTANCE_A: float = 2.58
#: Default tip height of the maps (Å): tip spin to atom, the study's z plus the contact distance.
DEFAULT_TIP_HEIGHT_A: float = STUDY_Z_ABOVE_CONTACT_A + CONTACT_DISTANCE_A
#: Resonance frequencies (GHz) an ESR-STM experiment measures.
MEASURABLE_F0_GHZ: tuple[float, float] = (20.0, 40.0)
MEASURABLE_F0_SOURCE = (
    "lower end: the ESR-STM study measured resonances from 22.5 to 27.4 GHz at |B| = 0.906 T (seed 000, "
    "Willke et al. 2019, Fig. 2), rounded down to 20 GHz; upper end: ESR-STM frequencies reported reach "
    "about 40 GHz (1.6 T; Hwang et al., Rev. Sci. Instrum. 2022, doi:10.1063/5.0096081)"
)


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
    B_ext_T: tuple[float, float, float] = STUDY_B_EXT_T
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


def measurability(
    f0_GHz: np.ndarray, B_tip_T: np.ndarray, B_ext_T: tuple[float, float, float],
    range_GHz: tuple[float, float] = MEASURABLE_F0_GHZ,
) -> dict[str, Any]:
    """Whether a map's f0 lies in the range an ESR-STM experiment measures, with a one-line warning.

    Parameters
    ----------
    f0_GHz, B_tip_T
        The map's resonance frequencies and tip fields (from :func:`resonance_map`).
    B_ext_T
        The external field (T).
    range_GHz
        Measurable (lowest, highest) f0; default :data:`MEASURABLE_F0_GHZ`.

    Returns
    -------
    dict
        ``measurable_range_GHz``, ``measurable_range_source``, ``f0_outside_measurable_range``
        (bool), ``B_tip_over_B_max`` (max |B_tip| / |B_ext|; the study's is about 0.1) and
        ``warning`` (one line, or None).
    """
    lo, hi = float(range_GHz[0]), float(range_GHz[1])
    if not 0 <= lo < hi:
        raise InputError(f"measurable f0 range {lo}-{hi} GHz is empty; give LO,HI with 0 <= LO < HI")
    f_min, f_max = float(np.min(f0_GHz)), float(np.max(f0_GHz))
    b_ext = float(np.linalg.norm(B_ext_T))
    b_tip = float(np.max(np.linalg.norm(np.asarray(B_tip_T, dtype=float), axis=-1)))
    ratio = b_tip / b_ext if b_ext > 0 else float("inf")
    outside = f_min < lo or f_max > hi
    warning = None
    if outside:
        warning = (f"f0 spans {f_min:.4g}-{f_max:.4g} GHz, outside the {lo:g}-{hi:g} GHz an ESR-STM experiment "
                   f"measures (max |B_tip| = {b_tip:.3g} T = {ratio:.3g} |B|; the ESR-STM study's tip fields are "
                   "about 0.1 |B|): the tip field is not one such an experiment sees")
    return {"measurable_range_GHz": [lo, hi], "measurable_range_source": MEASURABLE_F0_SOURCE,
            "f0_outside_measurable_range": bool(outside), "B_tip_over_B_max": ratio, "warning": warning}


def exchange_mapping_note(
    source: str, J_scale: float, J0_eV: float, lambda_A: float, r_range_A: tuple[float, float],
    fit_range_A: tuple[float, float] | None = None,
) -> str:
    """One line stating how J(r) of the map was obtained and what that assumes.

    Parameters
    ----------
    source
        ``"fit"`` (a DFT E_ex(d) fit of a tip over Mn/W(110)) or ``"given"`` (J0, λ given).
    J_scale
        Factor applied to J.
    J0_eV, lambda_A
        The J(r) = J0 exp(−r/λ) used (after scaling).
    r_range_A
        Smallest and largest tip-atom distance of the map.
    fit_range_A
        Distances covered by the fit (for an extrapolation remark).
    """
    law = f"J(r) = {J0_eV:.4g} eV * exp(-r / {lambda_A:.4g} A)"
    if source == "fit":
        extra = ""
        if fit_range_A is not None and (r_range_A[0] < fit_range_A[0] - 1e-9 or r_range_A[1] > fit_range_A[1] + 1e-9):
            extra = (f"; the map's r = {r_range_A[0]:.3g}-{r_range_A[1]:.3g} A extrapolates the fit "
                     f"(d = {fit_range_A[0]:.3g}-{fit_range_A[1]:.3g} A)")
        return (f"exchange mapping: {law} = -{J_scale:g} x E_ex(d = r) of the DFT fit (tip over a Mn/W(110) atom), "
                "taken as J of a spin-1/2 adatom (E_p = +J/2, E_ap = -J/2); assumes the adatom couples to the tip "
                "like that Mn atom of a metallic monolayer, far more strongly than an adatom on MgO, so scale "
                f"with --J-scale{extra}")
    return f"exchange mapping: {law} as given (J_scale {J_scale:g}), a spin-1/2 adatom with E_p = +J/2, E_ap = -J/2"
