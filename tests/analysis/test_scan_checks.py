"""Scan checks (decay, decay length, F_ex = -dE_ex/dd, sign vs reference) and the p/ap physics pairing guard."""

from __future__ import annotations

import math

import pytest

from tipsurf.analysis.exchange import exchange_table
from tipsurf.analysis.scan_checks import assess_exchange_scan, coupling_sign, decay_length_A

from analysis_records_helpers import analytic_scan

D = [4.5, 5.0, 5.5, 6.5]
AFM = {"sign": "antiferromagnetic", "text": "reference study: E_ex < 0"}


def _rows(records: list[dict]) -> list[dict]:
    return exchange_table(records).as_dict()["rows"]


def test_exponential_exchange_passes_every_check_and_its_sign_is_compared() -> None:
    checks = assess_exchange_scan(_rows(analytic_scan(D, J0=-2.0, lam=0.8)), AFM)
    assert checks["sign"] == "antiferromagnetic" and checks["matches_reference"] is True
    assert checks["decays"] and checks["far_near_ratio"] == pytest.approx(math.exp(-2.0 / 0.8))
    assert checks["decay_length_A"] == pytest.approx(0.8, rel=1e-6) and checks["decay_length_ok"]
    assert [c["d_A"] for c in checks["force_checks"]] == [5.0, 5.5] and checks["forces_ok"]
    assert "matches the reference study" in checks["reference_line"]


def test_offset_exchange_does_not_decay_and_a_wrong_force_disagrees() -> None:
    records = analytic_scan(D, J0=2.0, lam=0.8)
    for rec in records:
        if rec["metadata"]["config"] == "ap":
            rec["energy_eV"] += 0.1  # a d-independent 0.1 eV offset (a model artefact)
            if rec["metadata"]["distance_A"] == 5.5:
                rec["forces_eV_per_A"][3][2] -= 0.2  # F_ex off by -0.2 eV/A at one interior point
    checks = assess_exchange_scan(_rows(records), AFM)
    assert not checks["decays"] and not checks["decay_length_ok"]
    assert checks["sign"] == "ferromagnetic" and checks["matches_reference"] is False
    bad = [c for c in checks["force_checks"] if not c["ok"]]
    assert [c["d_A"] for c in bad] == [5.5] and checks["forces_ok"] is False
    assert any("DISAGREE" in line for line in checks["lines"]) and any("does NOT decay" in line for line in checks["lines"])


def test_sign_and_decay_length_helpers() -> None:
    assert coupling_sign([1e-3, -2e-3]) == "mixed"
    assert decay_length_A([4.0, 5.0], [1e-3, 2e-3]) is None  # growing: no decay
    assert decay_length_A([4.0], [1e-3]) is None


def test_p_and_ap_with_different_physics_are_not_paired() -> None:
    records = analytic_scan(D)
    settings = {"system.degauss": "0.02", "system.smearing": "m-v"}
    for rec in records:
        rec["extra"] = {"physics_settings": dict(settings)}
    ap = next(r for r in records if r["metadata"]["distance_A"] == 5.0 and r["metadata"]["config"] == "ap")
    ap["extra"]["physics_settings"]["system.degauss"] = "0.03"  # a recovery step broadened the smearing
    table = exchange_table(records)
    row = next(r for r in table.rows if r["d_A"] == 5.0)
    p = next(r for r in records if r["metadata"]["distance_A"] == 5.0 and r["metadata"]["config"] == "p")
    assert not row["valid"] and row["E_ex_eV"] is None
    assert p["fingerprint"] in row["flags"] and ap["fingerprint"] in row["flags"] and "degauss 0.02 vs 0.03" in row["flags"]
    assert table.groups[0]["n_valid"] == len(D) - 1
