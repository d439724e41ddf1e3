"""Δμ_H(T, p) against hand-computed JANAF values; ΔG envelope on hand-computed energies."""

from __future__ import annotations

import math

import pytest

from tipsurf.analysis.gibbs import gibbs_lines, gibbs_report, temperature_transitions
from tipsurf.analysis.thermo import delta_mu_H, h2_janaf, h2_statmech
from tipsurf.errors import InputError

KJ_PER_MOL_PER_EV = 96.48533212
KB = 8.617333262e-5


def test_delta_mu_at_298K_1bar_from_janaf_entries():
    # JANAF H2: H(298.15)-H(0) = 8.467 kJ/mol, S°(298.15) = 130.680 J/mol/K.
    expected = 0.5 * (8.467 - 298.15 * 0.130680) / KJ_PER_MOL_PER_EV
    assert delta_mu_H(298.15, 1e5, source="janaf") == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(-0.1580, abs=1e-3)


def test_delta_mu_at_500K_1e_minus_8_Pa_from_janaf_entries():
    # JANAF H2 at 500 K: H-H(298.15) = 5.882 kJ/mol, S° = 145.737 J/mol/K.
    h = (5.882 + 8.467) / KJ_PER_MOL_PER_EV
    s = 0.145737 / KJ_PER_MOL_PER_EV
    expected = 0.5 * (h - 500 * s + KB * 500 * math.log(1e-8 / 1e5))
    assert delta_mu_H(500.0, 1e-8) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("T", [298.15, 500.0])
def test_ideal_gas_model_reproduces_janaf_within_1_percent(T):
    h_j, s_j = h2_janaf(T)
    h_s, s_s = h2_statmech(T)
    assert h_s == pytest.approx(h_j, rel=0.01)
    assert s_s == pytest.approx(s_j, rel=0.01)
    assert delta_mu_H(T, 1e5, "statmech") == pytest.approx(delta_mu_H(T, 1e5, "janaf"), rel=0.01)


def test_low_temperature_limit_is_translational_and_continuous_at_table_edge():
    # Below ~20 K only translation (5/2 kT enthalpy) and para-H2 ground state remain.
    h, _ = h2_statmech(5.0)
    assert h == pytest.approx(2.5 * KB * 5.0, rel=1e-3)
    assert delta_mu_H(99.999, 1e-6) == pytest.approx(delta_mu_H(100.0, 1e-6), abs=2e-4)
    assert abs(delta_mu_H(1.0, 1e-8)) < 2e-3  # at 1 K everything is below ~meV


@pytest.mark.parametrize("T", [0.4, 1.2])
def test_experimental_temperatures_of_the_reference_studies_are_accepted(T):
    # 0.4-1.2 K: translation only, H = 5/2 kT, and |dmu_H| stays within 2 meV at 1e-8 Pa
    h, _ = h2_statmech(T)
    assert h == pytest.approx(2.5 * KB * T, rel=1e-6)
    value = delta_mu_H(T, 1e-8)
    assert -2e-3 < value < 0.0
    assert abs(delta_mu_H(T, 1e-8) - delta_mu_H(T * 1.001, 1e-8)) < 1e-5


@pytest.mark.parametrize("T,p", [(0.05, 1e5), (1500.0, 1e5), (300.0, 0.0), (300.0, -1.0)])
def test_out_of_range_conditions_are_input_errors(T, p):
    with pytest.raises(InputError):
        delta_mu_H(T, p)


ENERGIES = {"Ti": -500.0, "TiH": -503.2, "TiH2": -507.3, "TiH3": -510.6, "TiH4": -514.2, "H2": -6.8}


def test_envelope_transitions_and_never_stable_by_hand():
    lines = gibbs_lines(ENERGIES)
    # offsets a_x = E_x - E_Ti + 3.4 x  -> Ti 0, TiH 0.2, TiH2 -0.5, TiH3 -0.4, TiH4 -0.6
    assert lines.offset_eV == pytest.approx([0.0, 0.2, -0.5, -0.4, -0.6])
    # Ti->TiH2 at (-0.5-0)/2 = -0.25 ; TiH2->TiH4 at (-0.6+0.5)/2 = -0.05
    tr = lines.transitions()
    assert [(t["from"], t["to"]) for t in tr] == [("Ti", "TiH2"), ("TiH2", "TiH4")]
    assert [t["delta_mu_H_eV"] for t in tr] == pytest.approx([-0.25, -0.05])
    assert lines.never_stable() == ["TiH", "TiH3"]
    assert lines.stable_at(-1.0) == "Ti" and lines.stable_at(-0.1) == "TiH2" and lines.stable_at(0.0) == "TiH4"


def test_corrections_shift_lines():
    lines = gibbs_lines(ENERGIES, corrections_eV={"TiH2": 0.3, "H2": 0.2})
    # TiH2: -0.5 + 0.3 - 2*0.1 = -0.4
    assert lines.offset_eV[2] == pytest.approx(-0.4)


def test_report_at_T_p_and_temperature_transition():
    lines = gibbs_lines(ENERGIES)
    rep = gibbs_report(lines, 300.0, 1e-8)
    dmu = delta_mu_H(300.0, 1e-8)
    assert rep["delta_mu_H_eV"] == pytest.approx(dmu)
    assert rep["delta_G_eV"]["TiH2"] == pytest.approx(-0.5 - 2 * dmu)
    assert rep["stable_species"] == lines.stable_at(dmu)
    for t in temperature_transitions(lines, 1e-8):
        assert delta_mu_H(t["T_K"], 1e-8) == pytest.approx(t["delta_mu_H_eV"], abs=1e-6)


def test_missing_h2_energy_is_input_error():
    with pytest.raises(InputError, match="H2"):
        gibbs_lines({"Ti": -1.0, "TiH": -2.0})


def test_energies_from_records_groups_by_site_and_thickness_and_skips_unconverged():
    from tipsurf.analysis.gibbs import energies_from_records

    def rec(species, energy, site="bridge", layers=2, converged=True):
        meta = {"species": species, "kind": "molecule" if species == "H2" else "adsorbate"}
        if species != "H2":
            meta.update(site=site, mgo_layers=layers)
        return {"code": "qe", "energy_eV": energy, "converged": converged, "metadata": meta}

    records = [rec("Ti", -1.0), rec("TiH2", -8.0), rec("TiH", -5.0, converged=False), rec("Ti", -2.0, layers=3),
               rec("H2", -6.8), {"code": "qe", "energy_eV": -9.0, "converged": True, "metadata": {"kind": "slab"}}]
    groups = energies_from_records(records)
    assert groups == {"site=bridge, mgo_layers=2": {"Ti": -1.0, "TiH2": -8.0, "H2": -6.8},
                      "site=bridge, mgo_layers=3": {"Ti": -2.0, "H2": -6.8}}
    with pytest.raises(InputError, match="H2"):
        energies_from_records(records[:4])
