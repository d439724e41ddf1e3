"""Exponential fit, Sader–Jarvis inversion and ESR-STM map symmetries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tipsurf.analysis.esr import EV_J, EsrModel, H_PLANCK_J_S, MU0_T_M_PER_A, MU_B_J_PER_T, moment_from_spin, resonance_map, resonant_slice
from tipsurf.analysis.fits import fit_exponential
from tipsurf.analysis.sader_jarvis import frequency_shift, sader_jarvis_force
from tipsurf.errors import InputError


@pytest.mark.parametrize("sign", [1, -1])
def test_exponential_fit_recovers_parameters_with_noise(sign):
    rng = np.random.default_rng(7)
    d = np.linspace(3.5, 6.5, 16)
    J0, lam = sign * 40.0, 0.55
    y = J0 * np.exp(-d / lam) * (1 + 0.02 * rng.standard_normal(d.size))
    fit = fit_exponential(d, y)
    assert fit.sign == sign
    assert fit.lambda_A == pytest.approx(lam, abs=3 * fit.lambda_err_A + 1e-3)
    assert fit.lambda_err_A < 0.05 * lam
    assert fit.J0 == pytest.approx(J0, rel=0.3)
    assert abs(fit.J0 - J0) < 3 * fit.J0_err
    assert fit(5.0) == pytest.approx(J0 * math.exp(-5.0 / lam), rel=0.05)


def test_fit_rejects_sign_change():
    with pytest.raises(InputError, match="changes sign"):
        fit_exponential([3.0, 3.5, 4.0, 4.5], [-0.1, -0.02, 0.01, 0.005])


@pytest.mark.parametrize("amplitude_m,tol", [(1e-12, 0.02), (1e-9, 0.02)])
def test_sader_jarvis_recovers_exponential_force(amplitude_m, tol):
    F0, lam = 1e-9, 0.1e-9
    force = lambda z: -F0 * np.exp(-z / lam)  # noqa: E731
    z = np.linspace(0.2e-9, 2.5e-9, 300)
    df = frequency_shift(force, z, amplitude_m, 1800.0, 30000.0)
    assert np.all(df < 0)  # attractive force lowers the frequency
    zz, F = sader_jarvis_force(z[::-1], df[::-1], amplitude_m, 1800.0, 30000.0)  # unsorted input
    inside = zz < zz[-1] - 8 * lam
    assert np.max(np.abs(F[inside] / force(zz[inside]) - 1)) < tol


def test_sader_jarvis_rejects_bad_parameters():
    with pytest.raises(InputError):
        sader_jarvis_force(np.arange(5.0), np.zeros(5), -1.0, 1.0, 1.0)


def test_dipolar_map_on_axis_value_circular_and_mirror_symmetry():
    m = (0.0, 0.0, 3.0)
    res = resonance_map(EsrModel(mode="dipolar", B_ext_T=(0, 0, 0.9), tip_moment_muB=m), 4.0, 8.0, 41)
    f0 = res["f0_GHz"]
    # Directly below the tip r = -z ẑ: B = μ0 μB (2 m_z) / (4π z³).
    b = MU0_T_M_PER_A * MU_B_J_PER_T * 2 * 3.0 / (4 * math.pi * (4e-10) ** 3)
    assert f0[20, 20] == pytest.approx(2.0 * MU_B_J_PER_T * (0.9 + b) / H_PLANCK_J_S * 1e-9, rel=1e-9)
    assert np.allclose(f0, f0.T) and np.allclose(f0, f0[::-1, :]) and np.allclose(f0, f0[:, ::-1])
    # In-plane tip moment: mirror y -> -y only, two lobes of opposite sign in B_z along x.
    res_x = resonance_map(EsrModel(mode="dipolar", B_ext_T=(0, 0, 0.9), tip_moment_muB=(3.0, 0, 0)), 4.0, 12.0, 41)
    fx, bz = res_x["f0_GHz"], res_x["B_tip_T"][..., 2]
    assert np.allclose(fx, fx[::-1, :])
    assert not np.allclose(fx, fx[:, ::-1])
    row = bz[20]
    assert row.argmax() != row.argmin() and row.max() > 0 > row.min()
    assert np.sign(row[row.argmax()] * row[row.argmin()]) < 0


def test_spin_to_moment_sign_convention():
    assert np.allclose(moment_from_spin([0, 0, 0.5], g_tip=2.0), [0, 0, -1.0])


@pytest.mark.parametrize("spread_A,tol", [(0.0, 1e-12), (0.5, 1e-5)])
def test_exchange_map_is_circular_and_slice_is_a_ring(spread_A, tol):
    model = EsrModel(mode="exchange", B_ext_T=(0, 0, 0.9), tip_moment_muB=(0, 0, 1), J0_eV=1.0, lambda_A=0.5,
                     spread_A=spread_A, spread_order=3)
    res = resonance_map(model, 6.0, 10.0, 51)
    f0 = res["f0_GHz"]
    x = res["x_A"]
    rho = np.hypot(*np.meshgrid(x, x))
    # f0 depends on rho only: grid points at equal radius (e.g. (1,0), (0.6,0.8)) share f0.
    for r0 in (1.0, 2.0, 3.0):
        vals = f0[np.abs(rho - r0) < 1e-9]
        assert vals.size > 4
        assert np.ptp(vals) < tol * vals.mean()
    # Tip moment +z = tip spin -z; J > 0 (E = J s.S) gives a field along the spin: it lowers f0,
    # most strongly right under the tip.
    assert f0[25, 25] == f0.min()
    if spread_A == 0.0:
        b_ex = 1.0 * EV_J * math.exp(-6.0 / 0.5) / (2.0 * MU_B_J_PER_T)
        assert f0[25, 25] == pytest.approx(2.0 * MU_B_J_PER_T * (0.9 - b_ex) / H_PLANCK_J_S * 1e-9, rel=1e-9)
    mid = 0.5 * (f0.max() + f0.min())
    mask = resonant_slice(f0, mid, 0.02 * (f0.max() - f0.min()))
    assert mask.any() and not mask[25, 25]
    assert np.ptp(rho[mask]) < 0.6  # a thin ring


def test_esr_bad_mode():
    with pytest.raises(InputError, match="mode"):
        resonance_map(EsrModel(mode="quantum"), 4.0, 8.0, 11)
