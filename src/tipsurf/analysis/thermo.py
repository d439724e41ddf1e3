"""Thermochemistry of gas-phase H2 and the hydrogen chemical potential Δμ_H(T, p).

Two sources for the enthalpy H(T) − H(0) and the standard entropy S°(T) of H2:

* ``"janaf"`` — the NIST-JANAF table shipped as ``templates/thermo/h2_janaf.yaml`` (Chase 1998),
  interpolated (H linearly in T, S linearly in ln T), valid over the table (100–1000 K).
* ``"statmech"`` — an ideal-gas model: translation (Sackur–Tetrode), rigid-rotor rotation with
  ortho/para H2 in *thermal equilibrium* (nuclear-spin weights 1 for even J, 3 for odd J), and a
  harmonic vibration.  As in JANAF, nuclear-spin entropy is excluded (the rotational partition
  function is divided by (2I+1)² = 4), and H(0) is the energy of the lowest (J = 0, para) level.
  Below ~50 K this convention makes S_rot tend to −R ln 4; the resulting term in Δμ_H is at
  most ½·T·R ln 4 per H (0.06 meV at 1 K), negligible against any chemical energy.  Valid 0.1–1000 K (the
  experiments of the Ti/TiHx study run at 0.4–1.2 K; there Δμ_H is the ideal-gas bookkeeping value)
  (checked against JANAF to better than 1 % in H and S at 298.15 K and 500 K).
* ``"auto"`` (default) — JANAF where tabulated, the ideal-gas model below the table's lowest T.

Δμ_H(T, p) = ½ [(H(T) − H(0)) − T S°(T) + k_B T ln(p/p°)], per H atom, in eV, with p° = 1 bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tipsurf.errors import InputError
from tipsurf.templates import load_template

KB_EV_PER_K = 8.617333262e-5
KB_J_PER_K = 1.380649e-23
H_PLANCK_J_S = 6.62607015e-34
AMU_KG = 1.66053906660e-27
EV_PER_KJ_PER_MOL = 1.0 / 96.48533212
R_J_PER_MOL_K = 8.314462618
P_STANDARD_PA = 1.0e5

H2_MASS_AMU = 2.01588
# Rotational constant of the vibrational ground state, B0 = 59.322 cm^-1 -> theta_rot = h c B0 / k.
H2_THETA_ROT_K = 59.322 * 1.438776877
# Fundamental vibrational wavenumber 4161.17 cm^-1 -> theta_vib.
H2_THETA_VIB_K = 4161.17 * 1.438776877

T_MIN_K = 0.1  # ESR-STM and MExFM experiments run at 0.4-1.2 K
T_MAX_K = 1000.0
SOURCES = ("auto", "janaf", "statmech")


@dataclass(frozen=True)
class JanafTable:
    """Tabulated S°(T) and H(T) − H(0) of H2 (SI molar units as in JANAF)."""

    T_K: np.ndarray
    S_J_per_mol_K: np.ndarray
    H_minus_H0_kJ_per_mol: np.ndarray
    source: str


@lru_cache(maxsize=1)
def h2_janaf_table() -> JanafTable:
    """Load the shipped NIST-JANAF H2 table, with H converted to H(T) − H(0)."""
    data = load_template("thermo", "h2_janaf")
    rows = np.asarray(data["rows"], dtype=float)
    h298 = float(data["H298_minus_H0_kJ_per_mol"])
    return JanafTable(rows[:, 0], rows[:, 1], rows[:, 2] + h298, str(data["source"]))


def _check_temperature(temperature_K: float) -> float:
    T = float(temperature_K)
    if not math.isfinite(T) or T < T_MIN_K or T > T_MAX_K:
        raise InputError(f"temperature {temperature_K} K is outside the valid range {T_MIN_K:g}-{T_MAX_K:g} K of the H2 thermochemistry")
    return T


def _check_pressure(pressure_Pa: float) -> float:
    p = float(pressure_Pa)
    if not math.isfinite(p) or p <= 0.0:
        raise InputError(f"pressure {pressure_Pa} Pa must be a positive number of pascals")
    return p


def _rotational(T: float) -> tuple[float, float]:
    """Rotational energy above J=0 and entropy (units of k_B T and k_B) of equilibrium H2."""
    J = np.arange(0, 60)
    weight = np.where(J % 2 == 0, 1.0, 3.0) * (2 * J + 1)
    e = J * (J + 1) * H2_THETA_ROT_K / T  # E_J / kT
    boltz = weight * np.exp(-e)
    q = boltz.sum()
    mean_e = float((boltz * e).sum() / q)
    entropy = math.log(q / 4.0) + mean_e
    return mean_e, entropy


def _vibrational(T: float) -> tuple[float, float]:
    """Harmonic vibrational energy above the zero point and entropy (units of k_B T, k_B)."""
    x = H2_THETA_VIB_K / T
    if x > 700:
        return 0.0, 0.0
    mean_e = x / math.expm1(x)
    entropy = mean_e - math.log(-math.expm1(-x))
    return mean_e, entropy


def _translational_entropy_kB(T: float, pressure_Pa: float) -> float:
    """Sackur–Tetrode entropy per molecule in units of k_B."""
    m = H2_MASS_AMU * AMU_KG
    lam3 = (H_PLANCK_J_S**2 / (2.0 * math.pi * m * KB_J_PER_K * T)) ** 1.5
    return math.log(KB_J_PER_K * T / (pressure_Pa * lam3)) + 2.5


def h2_statmech(temperature_K: float) -> tuple[float, float]:
    """Ideal-gas H2: ``(H(T) − H(0) in eV, S°(T) in eV/K)`` per molecule at p° = 1 bar.

    Parameters
    ----------
    temperature_K
        Temperature, 0.1–1000 K.
    """
    T = _check_temperature(temperature_K)
    e_rot, s_rot = _rotational(T)
    e_vib, s_vib = _vibrational(T)
    enthalpy_kT = 2.5 + e_rot + e_vib
    entropy_kB = _translational_entropy_kB(T, P_STANDARD_PA) + s_rot + s_vib
    return enthalpy_kT * KB_EV_PER_K * T, entropy_kB * KB_EV_PER_K


def h2_janaf(temperature_K: float) -> tuple[float, float]:
    """JANAF H2 interpolated: ``(H(T) − H(0) in eV, S°(T) in eV/K)`` per molecule.

    Raises
    ------
    InputError
        ``temperature_K`` outside the table (use source ``"statmech"`` or ``"auto"`` there).
    """
    table = h2_janaf_table()
    T = float(temperature_K)
    lo, hi = float(table.T_K[0]), float(table.T_K[-1])
    if not (lo <= T <= hi):
        raise InputError(f"temperature {T:g} K is outside the JANAF H2 table ({lo:g}-{hi:g} K); use the 'auto' or 'statmech' source")
    h_kj = float(np.interp(T, table.T_K, table.H_minus_H0_kJ_per_mol))
    s_j = float(np.interp(math.log(T), np.log(table.T_K), table.S_J_per_mol_K))
    return h_kj * EV_PER_KJ_PER_MOL, s_j * 1e-3 * EV_PER_KJ_PER_MOL


def h2_enthalpy_entropy(temperature_K: float, source: str = "auto") -> tuple[float, float]:
    """H(T) − H(0) (eV) and S°(T) (eV/K) of one H2 molecule from the chosen source."""
    if source not in SOURCES:
        raise InputError(f"unknown H2 thermochemistry source '{source}'; choose one of: {', '.join(SOURCES)}")
    T = _check_temperature(temperature_K)
    if source == "janaf" or (source == "auto" and T >= float(h2_janaf_table().T_K[0])):
        return h2_janaf(T)
    return h2_statmech(T)


def delta_mu_H(temperature_K: float, pressure_Pa: float, source: str = "auto") -> float:
    """Hydrogen chemical potential per H atom relative to ½ E[H2], in eV.

    Δμ_H(T, p) = ½ [(H(T) − H(0)) − T S°(T) + k_B T ln(p / p°)], p° = 1 bar.

    Parameters
    ----------
    temperature_K
        Gas temperature, 0.1–1000 K.
    pressure_Pa
        H2 partial pressure (Pa), > 0.
    source
        ``"auto"``, ``"janaf"`` or ``"statmech"`` (see the module docstring).
    """
    p = _check_pressure(pressure_Pa)
    T = _check_temperature(temperature_K)
    h, s = h2_enthalpy_entropy(T, source)
    return 0.5 * (h - T * s + KB_EV_PER_K * T * math.log(p / P_STANDARD_PA))
