"""Exponential fits of the exchange decay: J(d) = J0 exp(−d/λ).

The fit is done in the well-conditioned form J(d) = J_ref exp(−(d − d_ref)/λ) with d_ref the
mean distance of the data (J0 = J_ref exp(d_ref/λ) is derived, with propagated uncertainty).
Sign handling: all points must share one sign; |J| is fitted and the sign is recorded (J0 and
J_ref carry it).  A straight-line fit of ln|J| gives the start values; the final parameters and
their 1σ uncertainties come from ``scipy.optimize.curve_fit`` (covariance scaled by the residual
variance, i.e. no absolute error bars are assumed).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from tipsurf.errors import InputError


@dataclass
class ExponentialFit:
    """Result of :func:`fit_exponential` (units in the names; ``unit`` names J's unit)."""

    quantity: str
    unit: str
    sign: int
    J0: float
    J0_err: float
    lambda_A: float
    lambda_err_A: float
    d_ref_A: float
    J_ref: float
    J_ref_err: float
    n_points: int
    rms_residual: float
    d_min_A: float
    d_max_A: float
    model: str = "J(d) = J0 * exp(-d / lambda_A) = J_ref * exp(-(d - d_ref_A) / lambda_A)"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def __call__(self, d_A: np.ndarray | float) -> np.ndarray | float:
        """Evaluate the fitted J at distance(s) d (Å)."""
        return self.J_ref * np.exp(-(np.asarray(d_A, dtype=float) - self.d_ref_A) / self.lambda_A)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExponentialFit":
        """Rebuild from :meth:`as_dict` output (one-line error on missing keys)."""
        needed = {"J_ref", "d_ref_A", "lambda_A"}
        if not isinstance(data, dict) or not needed <= set(data):
            raise InputError(f"fit file must be a JSON object with keys {sorted(needed)} (written by 'tipsurf fit exchange')")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def fit_exponential(d_A: Sequence[float], values: Sequence[float], quantity: str = "E_ex", unit: str = "eV") -> ExponentialFit:
    """Fit ``values(d) = J0 exp(−d/λ)`` with uncertainties.

    Parameters
    ----------
    d_A
        Distances (Å), at least 3 distinct values.
    values
        Data of one sign (E_ex in eV, or F_ex in eV/Å); zeros are not allowed.
    quantity, unit
        Names recorded in the result.

    Raises
    ------
    InputError
        Fewer than 3 points, non-finite data, zeros, or a sign change (restrict the range).
    """
    from scipy.optimize import curve_fit

    d = np.asarray(d_A, dtype=float)
    y = np.asarray(values, dtype=float)
    if d.shape != y.shape or d.ndim != 1:
        raise InputError("distances and values must be 1-D sequences of the same length")
    ok = np.isfinite(d) & np.isfinite(y)
    d, y = d[ok], y[ok]
    if np.unique(d).size < 3:
        raise InputError(f"an exponential fit of {quantity} needs at least 3 valid distances, got {np.unique(d).size}")
    if np.any(y == 0.0):
        raise InputError(f"{quantity} is exactly zero at some distance; an exponential cannot fit it")
    signs = np.sign(y)
    if np.any(signs != signs[0]):
        change = d[np.nonzero(signs != signs[0])[0][0]]
        raise InputError(f"{quantity} changes sign (near d={change:.2f} A); restrict the fit range to one sign with --d-min/--d-max")
    sign = int(signs[0])
    a = np.abs(y)
    d_ref = float(np.mean(d))
    slope, intercept = np.polyfit(d - d_ref, np.log(a), 1)
    if slope >= 0:
        raise InputError(f"|{quantity}| does not decay with distance (log-slope {slope:+.3g} per A); an exponential decay does not describe it")
    p0 = [math.exp(intercept), -1.0 / slope]

    def model(x: np.ndarray, j_ref: float, lam: float) -> np.ndarray:
        return j_ref * np.exp(-(x - d_ref) / lam)

    popt, pcov = curve_fit(model, d, a, p0=p0, maxfev=10000)
    j_ref, lam = (float(v) for v in popt)
    if d.size > 2 and np.all(np.isfinite(pcov)):
        j_ref_err, lam_err = (float(math.sqrt(max(pcov[i, i], 0.0))) for i in range(2))
        cov = float(pcov[0, 1])
    else:
        j_ref_err = lam_err = cov = float("nan")
    j0 = j_ref * math.exp(d_ref / lam)
    # J0 = J_ref exp(d_ref/λ): dJ0/dJ_ref = J0/J_ref, dJ0/dλ = −J0 d_ref/λ².
    g = np.array([j0 / j_ref, -j0 * d_ref / lam**2])
    var = g @ np.array([[j_ref_err**2, cov], [cov, lam_err**2]]) @ g
    resid = a - model(d, j_ref, lam)
    return ExponentialFit(
        quantity=quantity, unit=unit, sign=sign,
        J0=sign * j0, J0_err=float(math.sqrt(max(var, 0.0))),
        lambda_A=lam, lambda_err_A=lam_err, d_ref_A=d_ref,
        J_ref=sign * j_ref, J_ref_err=j_ref_err,
        n_points=int(d.size), rms_residual=float(np.sqrt(np.mean(resid**2))),
        d_min_A=float(d.min()), d_max_A=float(d.max()),
    )


def fit_exchange_rows(rows: Sequence[dict[str, Any]], d_min_A: float | None = None, d_max_A: float | None = None) -> dict[str, Any]:
    """Fit E_ex and (if present) F_ex of exchange-table rows of ONE group.

    Returns ``{"group": {...}, "E_ex": fit dict, "F_ex": fit dict or None}``.
    """
    keys = {(r.get("surface"), r.get("site"), r.get("tip")) for r in rows}
    if len(keys) > 1:
        raise InputError(f"the table holds {len(keys)} (surface, site, tip) groups; choose one with --site/--tip/--surface")
    sel = [r for r in rows if _truthy(r.get("valid", True)) and _num(r.get("E_ex_eV")) is not None
           and (d_min_A is None or float(r["d_A"]) >= d_min_A) and (d_max_A is None or float(r["d_A"]) <= d_max_A)]
    if not sel:
        raise InputError("no valid E_ex_eV rows in the selected distance range")
    d = [float(r["d_A"]) for r in sel]
    out: dict[str, Any] = {"group": dict(zip(("surface", "site", "tip"), next(iter(keys))))}
    out["E_ex"] = fit_exponential(d, [_num(r["E_ex_eV"]) for r in sel], "E_ex", "eV").as_dict()
    forces = [(float(r["d_A"]), _num(r.get("F_ex_eV_per_A"))) for r in sel]
    forces = [(x, f) for x, f in forces if f is not None]
    out["F_ex"] = None
    if len(forces) >= 3:
        try:
            out["F_ex"] = fit_exponential([x for x, _ in forces], [f for _, f in forces], "F_ex", "eV/A").as_dict()
        except InputError as err:
            out["F_ex_note"] = str(err)
    return out


def _num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)
