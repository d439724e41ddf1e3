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


# ----------------------------------------------------------------------------- ESR-STM defaults and limits (issue 12 item 14)


def _exchange_fit_file(tmp_path, E_ex_at_5A_eV: float, lam_A: float = 0.5):
    """A 'tipsurf fit exchange' JSON of E_ex(d) = E_ex_at_5A * exp(-(d - 5)/lam) over d = 3.5-6.5 A."""
    from tipsurf.analysis.fits import fit_exponential

    d = np.linspace(3.5, 6.5, 7)
    fit = fit_exponential(d, E_ex_at_5A_eV * np.exp(-(d - 5.0) / lam_A))
    path = tmp_path / f"fit_{E_ex_at_5A_eV:g}.json"
    path.write_text(json.dumps({"E_ex": fit.as_dict()}))
    return path


def test_esr_defaults_are_the_esr_stm_studys(tmp_path):
    """B = (0.9, 0, 0.1) T (seed 000 Fig. 1a) and the tip 2.4 A above point contact (Fig. 2a, c)."""
    from tests.conftest import SHARED
    from tipsurf.analysis import esr

    assert esr.STUDY_B_EXT_T == (0.9, 0.0, 0.1) and esr.EsrModel().B_ext_T == esr.STUDY_B_EXT_T
    assert esr.STUDY_Z_ABOVE_CONTACT_A == 2.4
    assert esr.DEFAULT_TIP_HEIGHT_A == pytest.approx(2.4 + esr.CONTACT_DISTANCE_A)
    assert esr.MEASURABLE_F0_GHZ == (20.0, 40.0) and "22.5" in esr.MEASURABLE_F0_SOURCE
    seeds = sorted((SHARED / "seeds").glob("000_*.txt"))
    if seeds:  # the numbers are the study's own
        text = " ".join(seeds[0].read_text().replace("\u2009", " ").split())  # the PDF text uses thin spaces
        assert "Bx = 0.9 T" in text and "Bz = 0.1 T" in text and "2.4 Å above point contact" in text
    out = tmp_path / "e"
    assert main(["esr-map", "--points", "11", "-o", str(out)]) == 0
    summary = json.loads((out / "esr_map.json").read_text())
    assert summary["model"]["B_ext_T"] == [0.9, 0.0, 0.1]
    assert summary["height_A"] == pytest.approx(2.4 + esr.CONTACT_DISTANCE_A)
    # No tip: f0 = g muB |B| / h = 25.4 GHz, the study's range (22.5-27.4 GHz).
    f_ext = 2.0 * esr.MU_B_J_PER_T * math.hypot(0.9, 0.1) / esr.H_PLANCK_J_S * 1e-9
    assert f_ext == pytest.approx(25.35, abs=0.01)
    assert abs(summary["f0_min_GHz"] - f_ext) < 2.0 and not summary["f0_outside_measurable_range"]


def test_esr_exchange_fit_of_mev_scale_warns_and_flags(tmp_path, capsys):
    """A Mn/W(110)-like E_ex (-20 meV at 5 A) mapped onto a spin-1/2 adatom: f0 far above 40 GHz."""
    fit = _exchange_fit_file(tmp_path, -0.020)
    out = tmp_path / "e"
    assert main(["esr-map", "--mode", "exchange", "--fit", str(fit), "--points", "21", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "20-40 GHz" in warnings[0]
    mapping = [line for line in captured.out.splitlines() if line.startswith("exchange mapping:")]
    assert len(mapping) == 1 and "spin-1/2" in mapping[0] and "Mn/W(110)" in mapping[0]
    summary = json.loads((out / "esr_map.json").read_text())
    assert summary["f0_outside_measurable_range"] is True and summary["f0_max_GHz"] > 1000.0
    assert summary["mapping"] == mapping[0] and summary["measurable_range_GHz"] == [20.0, 40.0]
    assert summary["warning"] == warnings[0].removeprefix("warning: ")


def test_esr_realistic_small_exchange_is_measurable_without_warning(tmp_path, capsys):
    """J of a few micro-eV at the study's tip height (B_tip ~ 0.05 T, ~5 % of B): f0 in 20-40 GHz."""
    fit = _exchange_fit_file(tmp_path, -5e-6)
    out = tmp_path / "e"
    assert main(["esr-map", "--mode", "exchange", "--fit", str(fit), "--points", "21", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err and "exchange mapping:" in captured.out
    summary = json.loads((out / "esr_map.json").read_text())
    assert summary["f0_outside_measurable_range"] is False and summary["warning"] is None
    assert 20.0 <= summary["f0_min_GHz"] < summary["f0_max_GHz"] <= 40.0
    assert summary["f0_max_GHz"] - summary["f0_min_GHz"] > 0.1  # the tip field does show
    assert summary["B_tip_over_B_max"] < 0.2


def test_analyze_exchange_by_campaign_name_leaves_out_the_scans_pre_steps(tmp_path, capsys, monkeypatch):
    # a stored QE scan holds its slab and tip computed alone (the superposed starts) and may hold
    # relaxations: before, 'analyze exchange --name' stopped at them ("lacks metadata 'config'")
    from tipsurf.workflows import store
    from tipsurf.workflows.launchpad import open_launchpad

    recs = analytic_scan(D[:4])
    for i, rec in enumerate(recs):
        rec["fingerprint"] = f"point{i:02d}"
    pre = [{"fingerprint": f"pre-{role}", "code": "qe", "converged": True, "energy_eV": -50.0,
            "metadata": meta} for role, meta in (("slab", {"fragment": "surface", "kind": "surface"}),
                                                 ("tip", {"fragment": "tip", "kind": "tip"}),
                                                 ("relax", {"role": "relax-tip"}))]
    monkeypatch.chdir(tmp_path)
    with open_launchpad(project_dir=tmp_path) as handle:
        all_recs = pre + recs
        store.register_campaign(handle.db, "scan", "distance_scan", {}, [
            {"fingerprint": r["fingerprint"], "label": r["fingerprint"], "metadata": r["metadata"]} for r in all_recs])
        for rec in all_recs:
            store.store_result(handle.db, rec, campaign="scan")
        handle.flush()
    out = tmp_path / "out"
    assert main(["analyze", "exchange", "--name", "scan", "-o", str(out)]) == 0, capsys.readouterr().err
    table = json.loads((out / "exchange.json").read_text())
    assert [row["d_A"] for row in table["rows"]] == D[:4] and not table["excluded"]
