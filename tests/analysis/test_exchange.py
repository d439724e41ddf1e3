"""E_ex/F_ex from records built on an analytic E(d) with known derivative."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tipsurf.analysis.exchange import exchange_table, minus_derivative
from tipsurf.errors import InputError

from analysis_records_helpers import analytic_scan, scan_record

D = [3.5, 3.7, 4.0, 4.2, 4.5, 5.0, 5.5, 6.0]  # non-uniform on purpose


def test_eex_fex_match_analytic_law_and_delta_d():
    table = exchange_table(analytic_scan(D), d0_A=5.0)
    rows = table.valid_rows()
    assert len(rows) == len(D)
    for r in rows:
        expected = 2.0 * math.exp(-r["d_A"] / 0.6)
        assert r["E_ex_eV"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert r["E_ex_meV"] == pytest.approx(1e3 * expected, rel=1e-9, abs=1e-9)
        assert r["F_ex_eV_per_A"] == pytest.approx(expected / 0.6, rel=1e-9)
        assert r["delta_d_A"] == pytest.approx(r["d_A"] - 5.0)


def test_finite_difference_check_agrees_with_force_and_shrinks_on_finer_grid():
    coarse = exchange_table(analytic_scan(D)).groups[0]["max_fd_diff_eV_per_A"]
    fine = exchange_table(analytic_scan(list(np.linspace(3.5, 6.0, 41)))).groups[0]["max_fd_diff_eV_per_A"]
    assert coarse is not None and fine < coarse / 10
    # Consistent data: the disagreement is a discretisation error, small against F_ex itself.
    assert fine < 0.01 * 2.0 / 0.6 * math.exp(-3.5 / 0.6)


def test_minus_derivative_nonuniform_is_exact_for_quadratics():
    x = np.array([0.0, 0.3, 1.0, 1.2, 2.5])
    y = 3 * x**2 - x + 1
    assert np.allclose(minus_derivative(x, y), -(6 * x - 1))


def test_injected_spin_flip_is_flagged_and_excluded():
    recs = analytic_scan(D)
    # The ap record at d=4.0 converged back to p: apex moment sign equals the reference's.
    idx = next(i for i, r in enumerate(recs) if r["metadata"]["distance_A"] == 4.0 and r["metadata"]["config"] == "ap")
    recs[idx]["magmoms_muB"][3] = +3.0
    table = exchange_table(recs)
    row = next(r for r in table.rows if r["d_A"] == 4.0)
    assert row["valid"] is False and row["E_ex_eV"] is None and row["F_ex_eV_per_A"] is None
    assert "spin flip" in row["flags"]
    assert [(e["d_A"], e["config"]) for e in table.excluded] == [(4.0, "ap")]
    assert 4.0 not in [r["d_A"] for r in table.valid_rows()]
    assert table.groups[0]["n_valid"] == len(D) - 1


def test_vanished_moment_and_unconverged_are_excluded():
    recs = analytic_scan(D)
    recs[0]["magmoms_muB"][3] = 0.1  # p at 3.5: apex moment collapsed
    recs[5]["converged"] = False  # ap at 4.0
    recs[7]["energy_eV"] = None  # ap at 4.2
    table = exchange_table(recs)
    reasons = {(e["d_A"], e["config"]): e["reason"] for e in table.excluded}
    assert "vanished" in reasons[(3.5, "p")]
    assert "not converged" in reasons[(4.0, "ap")] and "not converged" in reasons[(4.2, "ap")]
    assert len(table.valid_rows()) == len(D) - 3


def test_missing_partner_names_distance_and_config():
    recs = [r for r in analytic_scan(D) if not (r["metadata"]["distance_A"] == 4.5 and r["metadata"]["config"] == "ap")]
    with pytest.raises(InputError, match=r"missing 'ap' partner .* d=4\.500"):
        exchange_table(recs)


def test_conflicting_duplicate_rejected_identical_duplicate_tolerated():
    recs = analytic_scan(D)
    dup = dict(recs[2])
    exchange_table(recs + [dup])
    bad = dict(recs[2], energy_eV=recs[2]["energy_eV"] + 0.01)
    with pytest.raises(InputError, match="different energies"):
        exchange_table(recs + [bad])


def test_groups_are_separated_and_single_group_rejects_mixture():
    recs = analytic_scan(D) + analytic_scan(D, J0=-1.0, site="hollow") + analytic_scan(D, tip="Mn", J0=-3.0)
    table = exchange_table(recs)
    assert {(g["site"], g["tip"]) for g in table.groups} == {("top", "Fe"), ("hollow", "Fe"), ("top", "Mn")}
    mn = table.valid_rows(tip="Mn")
    assert all(r["E_ex_eV"] < 0 for r in mn)
    with pytest.raises(InputError, match="several"):
        exchange_table(recs, single_group=True)


def test_mixed_tip_geometry_in_one_group_rejected():
    recs = analytic_scan(D[:4]) + analytic_scan(D[4:], tip_layers="4-1")
    with pytest.raises(InputError, match="tip_layers"):
        exchange_table(recs)


def test_record_without_scan_metadata_rejected():
    rec = scan_record(4.0, "p", -1.0, 0.0)
    del rec["metadata"]["config"]
    with pytest.raises(InputError, match="config"):
        exchange_table([rec])


def test_flip_of_a_surface_mn_or_the_tip_base_is_flagged_too():
    recs = analytic_scan(D)
    for rec in recs:  # the engine records the starting moments with every result
        apex0 = 3.0 if rec["metadata"]["config"] == "p" else -3.0
        rec["extra"] = {"initial_magmoms_muB": [3.5, -3.5, 2.5 * (1 if apex0 > 0 else -1), apex0]}
        rec["magmoms_muB"][2] = 2.5 * (1 if apex0 > 0 else -1)
    assert exchange_table(recs).groups[0]["n_valid"] == len(D)  # consistent starts: nothing flagged
    p45 = next(r for r in recs if r["metadata"]["distance_A"] == 4.5 and r["metadata"]["config"] == "p")
    p45["magmoms_muB"][1] = +3.4  # the second surface Mn turned ferromagnetic: apex and reference untouched
    ap50 = next(r for r in recs if r["metadata"]["distance_A"] == 5.0 and r["metadata"]["config"] == "ap")
    ap50["magmoms_muB"][2] = +2.4  # the tip base flipped against its ap apex
    table = exchange_table(recs)
    flags = {r["d_A"]: r["flags"] for r in table.rows if not r["valid"]}
    assert set(flags) == {4.5, 5.0}
    assert "X1 -3.50 -> +3.40" in flags[4.5] or "1 -3.50 -> +3.40" in flags[4.5]
    assert "spin flip" in flags[5.0] and "-2.50 -> +2.40" in flags[5.0]
