"""CLI of the analysis layer: outputs on good input, one-line errors and no files on bad input."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from tipsurf.analysis.sader_jarvis import frequency_shift
from tipsurf.analysis.thermo import delta_mu_H
from tipsurf.cli import main

from analysis_records_helpers import analytic_scan

D = [3.5, 3.75, 4.0, 4.25, 4.5, 5.0, 5.5, 6.0]


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_analyze_exchange_from_records_then_fit(tmp_path, capsys):
    recs = analytic_scan(D, J0=2.0, lam=0.6)
    recs[1]["magmoms_muB"][3] = +3.0  # ap at 3.5 converged to p: flagged
    path = tmp_path / "records.json"
    path.write_text(json.dumps(recs))
    out = tmp_path / "out"
    assert main(["analyze", "exchange", "--records", str(path), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "flagged points" in text and "3.500" in text
    with open(out / "exchange.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {"d_A", "delta_d_A", "E_ex_eV", "E_ex_meV", "F_ex_eV_per_A", "flags"} <= set(rows[0])
    assert rows[0]["valid"] == "false" and rows[0]["E_ex_eV"] == ""
    assert (out / "exchange.png").stat().st_size > 1000
    data = json.loads((out / "exchange.json").read_text())
    assert data["excluded"][0]["config"] == "ap" and data["excluded"][0]["d_A"] == 3.5

    fit = tmp_path / "fit.json"
    assert main(["fit", "exchange", str(out / "exchange.csv"), "-o", str(fit)]) == 0
    res = json.loads(fit.read_text())
    assert res["E_ex"]["lambda_A"] == pytest.approx(0.6, rel=1e-6)
    assert res["E_ex"]["J0"] == pytest.approx(2.0, rel=1e-5)
    assert res["F_ex"]["lambda_A"] == pytest.approx(0.6, rel=1e-6)

    esr = tmp_path / "esr"
    assert main(["esr-map", "--mode", "exchange", "--fit", str(fit), "--height-A", "4", "--extent-A", "6",
                 "--points", "21", "--f-drive-GHz", "25.0", "-o", str(esr)]) == 0
    arr = np.load(esr / "esr_map.npz")
    assert arr["f0_GHz"].shape == (21, 21) and "resonant" in arr.files


def test_analyze_exchange_missing_partner_is_one_line_error_without_files(tmp_path, capsys):
    recs = [r for r in analytic_scan(D) if not (r["metadata"]["distance_A"] == 4.5 and r["metadata"]["config"] == "p")]
    path = tmp_path / "records.json"
    path.write_text(json.dumps(recs))
    out = tmp_path / "out"
    assert main(["analyze", "exchange", "--records", str(path), "-o", str(out)]) != 0
    assert "missing 'p' partner" in _error_line(capsys) and not out.exists()


@pytest.mark.parametrize("args", [[], ["--name", "x", "--records", "y.json"]])
def test_analyze_exchange_needs_exactly_one_source(tmp_path, capsys, args):
    assert main(["analyze", "exchange", *args, "-o", str(tmp_path / "o")]) != 0
    assert "exactly one" in _error_line(capsys) and not (tmp_path / "o").exists()


def test_analyze_exchange_unknown_campaign(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", "exchange", "--name", "no-such-campaign", "-o", str(tmp_path / "o")]) != 0
    _error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_analyze_gibbs_from_energies(tmp_path, capsys):
    energies = {"Ti": -500.0, "TiH": -503.2, "TiH2": -507.3, "TiH3": -510.6, "TiH4": -514.2, "H2": -6.8}
    path = tmp_path / "energies.json"
    path.write_text(json.dumps(energies))
    out = tmp_path / "g"
    assert main(["analyze", "gibbs", "--energies", str(path), "--temperature", "298.15", "--pressure", "1e5", "-o", str(out)]) == 0
    rep = json.loads((out / "gibbs.json").read_text())["groups"][0]
    dmu = 0.5 * (8.467 - 298.15 * 0.130680) / 96.48533212  # JANAF entries by hand
    assert rep["delta_mu_H_eV"] == pytest.approx(dmu, abs=1e-6)
    assert rep["delta_G_eV"]["TiH2"] == pytest.approx(-0.5 - 2 * dmu, abs=1e-6)
    assert rep["stable_species"] == "TiH2"  # -0.25 < dmu = -0.158 < -0.05
    assert rep["never_stable"] == ["TiH", "TiH3"]
    assert [t["to"] for t in rep["transitions"]] == ["TiH2", "TiH4"]
    assert list(out.glob("gibbs_*.png"))


def test_analyze_gibbs_default_conditions_and_errors(tmp_path, capsys):
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"Ti": -1.0, "TiH2": -8.0, "H2": -6.8}))
    out = tmp_path / "g"
    assert main(["analyze", "gibbs", "--energies", str(path), "-o", str(out)]) == 0
    rep = json.loads((out / "gibbs.json").read_text())["groups"][0]
    assert rep["temperature_K"] == 1.0 and rep["delta_mu_H_eV"] == pytest.approx(delta_mu_H(1.0, 1e-8))
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(["analyze", "gibbs", "--energies", str(path), "--temperature", "5000", "-o", str(bad)]) != 0
    assert "temperature" in _error_line(capsys) and not bad.exists()
    path.write_text(json.dumps({"Ti": -1.0, "TiH2": -8.0}))
    assert main(["analyze", "gibbs", "--energies", str(path), "-o", str(bad)]) != 0
    assert "H2" in _error_line(capsys) and not bad.exists()


def test_sader_jarvis_cli_roundtrip_and_bad_table(tmp_path, capsys):
    A, k, f0 = 1e-9, 1800.0, 30000.0
    force = lambda z: -1e-9 * np.exp(-z / 0.1e-9)  # noqa: E731
    z = np.linspace(0.2e-9, 2.5e-9, 200)
    df = frequency_shift(force, z, A, k, f0)
    table = tmp_path / "df.csv"
    table.write_text("z_m,df_Hz\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(z, df)))
    out = tmp_path / "F.csv"
    assert main(["sader-jarvis", str(table), "--amplitude-m", str(A), "--stiffness-N-per-m", str(k), "--f0-Hz", str(f0), "-o", str(out)]) == 0
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    zz = np.array([float(r["z_m"]) for r in rows])
    F = np.array([float(r["F_N"]) for r in rows])
    sel = zz < 1.5e-9
    assert np.max(np.abs(F[sel] / force(zz[sel]) - 1)) < 0.02
    capsys.readouterr()
    table.write_text("z,df\n1,2\n")
    assert main(["sader-jarvis", str(table), "--amplitude-m", "1e-9", "--stiffness-N-per-m", "1", "--f0-Hz", "1", "-o", str(tmp_path / "G.csv")]) != 0
    assert "z_m" in _error_line(capsys) and not (tmp_path / "G.csv").exists()


def test_esr_map_exchange_without_parameters_is_error(tmp_path, capsys):
    assert main(["esr-map", "--mode", "exchange", "-o", str(tmp_path / "e")]) != 0
    assert "--fit" in _error_line(capsys) and not (tmp_path / "e").exists()


def test_esr_map_dipolar_writes_outputs(tmp_path):
    out = tmp_path / "e"
    assert main(["esr-map", "--points", "15", "--tip-spin", "0,0,1", "--f-drive-GHz", "25.2", "-o", str(out)]) == 0
    summary = json.loads((out / "esr_map.json").read_text())
    assert summary["model"]["tip_moment_muB"] == [0.0, 0.0, -2.0]
    assert (out / "esr_map.png").exists() and math.isfinite(summary["f0_min_GHz"])
