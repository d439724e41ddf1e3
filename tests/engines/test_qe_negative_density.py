"""The ecutrho drift (engines/qe/negative_density.py): an SCF whose negative spin density grows with its error.

The two sequences below are replayed from real pw.x 6.7 outputs (2026-12-03): Ti on the O-top
site of the 1x1 demo slab (2 ML MgO on 2 Ag(100), tipsurf's ld1.x ultrasoft set, 20 Ry,
conv_thr 1e-10, tqr), ``negative rho (up, down)`` and ``estimated scf accuracy`` of each
iteration, up to where the stagnation monitor stops the run: at ecutrho 240 Ry the SCF reaches
5e-8 Ry and drifts up while the spin-up negative charge grows; at 360 Ry it converges.
"""

from __future__ import annotations

import json
from pathlib import Path

from tipsurf.engines.qe.handlers import STATE_FILE, ScfStagnationHandler
from tipsurf.engines.qe.negative_density import negative_density_drift
from tipsurf.engines.qe.outputs import cycle_negative_charges_e

#: (negative rho up, down in e; SCF accuracy in Ry) per iteration, ecutrho 240 Ry, iterations 1-49.
ECUTRHO_240 = """
    2.112E-03 1.801E-03 7.29736228  2.723E-02 2.871E-02 4.97009000  2.263E-02 2.365E-02 2.52731566  1.944E-02 2.001E-02 2.47529341
    1.687E-02 2.187E-02 2.34514044  1.597E-02 1.893E-02 1.06643410  9.842E-03 1.149E-02 0.19302587  4.142E-03 4.678E-03 0.21180725
    3.232E-03 3.950E-03 0.18458481  1.948E-03 2.423E-03 0.27813203  1.858E-03 2.310E-03 0.01249924  2.027E-03 2.655E-03 0.02521008
    1.803E-03 2.241E-03 0.00134063  1.673E-03 1.900E-03 0.00037559  1.660E-03 1.863E-03 0.00012576  1.650E-03 1.846E-03 0.00004437
    1.612E-03 1.761E-03 0.00006313  1.597E-03 1.737E-03 0.00002928  1.699E-03 1.800E-03 0.00002241  1.822E-03 1.896E-03 0.00001969
    1.903E-03 1.982E-03 0.00001309  1.860E-03 1.964E-03 0.00001015  1.883E-03 1.990E-03 0.00000700  2.048E-03 2.153E-03 0.00000488
    2.021E-03 2.138E-03 0.00000128  2.005E-03 2.127E-03 0.00000065  2.012E-03 2.132E-03 0.00000048  2.015E-03 2.135E-03 0.00000053
    2.029E-03 2.144E-03 0.00000033  2.058E-03 2.146E-03 0.00000028  2.074E-03 2.149E-03 0.00000012  2.061E-03 2.151E-03 0.00000011
    2.059E-03 2.149E-03 0.00000006  2.056E-03 2.146E-03 0.00000005  2.066E-03 2.158E-03 0.00000008  2.071E-03 2.160E-03 0.00000011
    2.085E-03 2.168E-03 0.00000018  2.093E-03 2.170E-03 0.00000018  2.103E-03 2.173E-03 0.00000021  2.118E-03 2.176E-03 0.00000026
    2.130E-03 2.180E-03 0.00000036  2.139E-03 2.182E-03 0.00000036  2.154E-03 2.184E-03 0.00000033  2.170E-03 2.186E-03 0.00000042
    2.188E-03 2.187E-03 0.00000049  2.209E-03 2.188E-03 0.00000059  2.229E-03 2.189E-03 0.00000068  2.253E-03 2.189E-03 0.00000078
    2.273E-03 2.190E-03 0.00000090
"""
#: The same input at ecutrho 360 Ry, iterations 1-49 (converged to 5.1e-11 Ry).
ECUTRHO_360 = """
    8.399E-04 7.583E-04 7.29210593  2.705E-02 2.855E-02 4.96578273  2.239E-02 2.342E-02 2.51530990  1.910E-02 1.975E-02 2.45597704
    1.420E-02 1.886E-02 2.32310281  1.407E-02 1.696E-02 1.08222716  8.605E-03 1.043E-02 0.16278649  3.366E-03 3.680E-03 0.22271816
    2.486E-03 2.801E-03 0.15754554  9.093E-04 1.332E-03 0.43287686  9.300E-04 1.345E-03 0.01610584  8.909E-04 1.432E-03 0.03843039
    7.552E-04 1.086E-03 0.00623870  6.727E-04 8.464E-04 0.00035737  6.500E-04 7.336E-04 0.00030113  6.212E-04 6.627E-04 0.00004750
    6.065E-04 6.287E-04 0.00003917  5.977E-04 6.100E-04 0.00003246  5.940E-04 6.009E-04 0.00002865  5.937E-04 5.980E-04 0.00002837
    5.891E-04 5.920E-04 0.00002850  5.891E-04 5.912E-04 0.00002819  5.903E-04 5.939E-04 0.00002843  5.896E-04 5.935E-04 0.00003337
    5.886E-04 5.922E-04 0.00003571  5.891E-04 5.924E-04 0.00002904  5.927E-04 5.952E-04 0.00002846  5.955E-04 6.034E-04 0.00002273
    6.113E-04 6.373E-04 0.00001803  6.125E-04 6.295E-04 0.00000666  6.138E-04 6.287E-04 0.00000453  6.143E-04 6.256E-04 0.00000361
    6.170E-04 6.287E-04 0.00000269  6.180E-04 6.279E-04 0.00000174  6.207E-04 6.297E-04 0.00000075  6.215E-04 6.301E-04 0.00000039
    6.217E-04 6.302E-04 0.00000029  6.221E-04 6.305E-04 0.00000021  6.220E-04 6.298E-04 0.00000016  6.221E-04 6.299E-04 0.00000007
    6.219E-04 6.297E-04 0.00000004  6.219E-04 6.295E-04 0.00000002  6.222E-04 6.299E-04 0.00000002  6.225E-04 6.302E-04 0.00000001
    6.229E-04 6.307E-04 4.5E-09  6.230E-04 6.308E-04 1.1E-09  6.230E-04 6.308E-04 3.5E-10  6.230E-04 6.307E-04 2.4E-10
    6.230E-04 6.307E-04 5.1E-11
"""


def _pw_out(table: str, n: int | None = None) -> str:
    values = table.split()
    rows = [values[i:i + 3] for i in range(0, len(values), 3)][:n]
    head = "     negative rho (up, down):  2.194E-03 1.742E-03\n     Self-consistent Calculation\n"
    return head + "".join(f"     iteration #{k + 1:3d}     ecut=    20.00 Ry     beta= 0.20\n"
                          f"     negative rho (up, down):  {up} {down}\n"
                          f"     estimated scf accuracy    <       {err} Ry\n" for k, (up, down, err) in enumerate(rows))


def test_negative_charges_are_read_per_iteration_of_the_current_cycle() -> None:
    charges = cycle_negative_charges_e(_pw_out(ECUTRHO_240))
    assert len(charges) == 49  # the line before 'Self-consistent Calculation' belongs to the start
    assert charges[0] == (2.112e-3, 1.801e-3)
    assert cycle_negative_charges_e("     negative rho (up, down):  3.000E-04\n") == [(3.0e-4, 0.0)]


def test_the_240_ry_drift_is_diagnosed_with_its_figures_and_the_fix() -> None:
    line = negative_density_drift(_pw_out(ECUTRHO_240))
    assert line is not None
    assert "5.0e-08" in line and "spin-up" in line and "2.06e-03" in line and "raise ecutrho" in line
    assert negative_density_drift(_pw_out(ECUTRHO_240, 36)) is None  # at its best: no drift yet


def test_a_converging_scf_and_a_stuck_one_without_growing_negative_charge_are_not_blamed_on_ecutrho() -> None:
    assert negative_density_drift(_pw_out(ECUTRHO_360)) is None
    values = ECUTRHO_240.split()
    flat = " ".join(f"2.0E-03 2.0E-03 {values[3 * k + 2]}" for k in range(49))  # same errors, steady charge
    assert negative_density_drift(_pw_out(flat)) is None


def test_the_stagnation_monitor_reports_the_diagnosis(tmp_path: Path) -> None:
    (tmp_path / "pw.in").write_text("&CONTROL\n/\n&SYSTEM\n  ecutrho = 240\n/\n&ELECTRONS\n  mixing_beta = 0.2\n/\n")
    (tmp_path / "pw.out").write_text(_pw_out(ECUTRHO_240))
    handler = ScfStagnationHandler([{"scale": {"mixing_beta": 0.5}}], window=15)
    assert handler.check(str(tmp_path))
    out = handler.correct(str(tmp_path))
    assert out["errors"][0].startswith("SCF stagnated") and "raise ecutrho" in out["errors"][-1]
    assert out["actions"]  # the recovery step is still taken
    assert json.loads((tmp_path / STATE_FILE).read_text())["scf_steps_applied"] == 1
