"""The adsorbate table (analysis.adsorbate_table) on hand-made records, and the demo command's input errors.

The energies here are made up for the arithmetic; the real runs are in
tests/workflows/test_wf_adsorbates_pwx.py.
"""

from __future__ import annotations

import json

import pytest

from tipsurf.analysis.adsorbate_table import adsorbate_report, record_row, write_adsorbate_report
from tipsurf.cli import main


def _record(species: str | None, site: str | None, energy_eV: float, ti_moment: float | None = None) -> dict:
    symbols = ["Ag", "O", "Mg"] + (["Ti"] if species and species != "H2" else []) + ["H"] * (
        2 if species == "H2" else int(species[3:] or 1) if species and species.startswith("TiH") else 0)
    positions = [[0.0, 0.0, 5.0], [0.0, 0.0, 7.6], [2.0, 0.0, 7.6]] + [[0.0, 0.0, 9.6]] * (len(symbols) - 3)
    meta = {"role": "adsorbate" if site else ("reference" if species == "H2" else "slab"), "mgo_layers": 1}
    if species:
        meta["species"] = species
    if site:
        meta["site"] = site
    post = {}
    if ti_moment is not None:
        post["lowdin"] = {"charges_e": [10.9, 6.5, 7.8, 10.2] + [1.0] * (len(symbols) - 4),
                          "moments_muB": [0.0, 0.0, 0.0, ti_moment] + [0.0] * (len(symbols) - 4)}
    return {"converged": True, "energy_eV": energy_eV, "symbols": symbols, "positions_A": positions,
            "metadata": meta, "n_scf": 20, "_post": post}


RECORDS = [
    _record(None, None, -1000.0),
    _record("Ti", "o-top", -2000.0, 2.2), _record("TiH2", "o-top", -2032.0, 1.0),
    _record("Ti", "bridge", -2000.5, 1.1), _record("TiH2", "bridge", -2032.2, 0.9),
    _record("H2", None, -31.5),
]


def test_row_has_ti_lowdin_net_charge_moment_and_height() -> None:
    row = record_row(RECORDS[1], {"Ti": 12.0})
    assert row["label"] == "Ti@o-top" and row["ti_lowdin_moment_muB"] == 2.2
    assert row["ti_lowdin_net_charge_e"] == pytest.approx(12.0 - 10.2)
    assert row["ti_height_A"] == pytest.approx(2.0)
    assert row["ti_bader_moment_muB"] is None  # no density cubes in a hand-made record
    assert record_row(RECORDS[0])["label"] == "slab" and record_row(RECORDS[-1])["label"] == "H2"


def test_report_delta_g_and_study_comparison(tmp_path) -> None:
    report = adsorbate_report(RECORDS, z_valence={"Ti": 12.0})
    offsets = {g["label"]: g["offsets_eV"]["TiH2"] for g in report["gibbs"]}
    assert offsets["site=o-top, mgo_layers=1"] == pytest.approx(-2032.0 + 2000.0 + 31.5)  # -0.5 eV
    assert offsets["site=bridge, mgo_layers=1"] == pytest.approx(-2032.2 + 2000.5 + 31.5)  # -0.2 eV
    holds = [c["holds"] for c in report["comparison"]]
    assert holds == [True, True, True]  # O-top 2.2 > bridge 1.1; TiH2 at dmu 0; Ti at dmu -1 eV
    written = write_adsorbate_report(report, tmp_path / "out", notes=["a note"])
    names = sorted(p.name for p in written)
    assert names == ["adsorbates.csv", "adsorbates.json", "phase_site_bridge__mgo_layers_1.png",
                     "phase_site_o-top__mgo_layers_1.png"]
    data = json.loads((tmp_path / "out" / "adsorbates.json").read_text())
    assert data["notes"] == ["a note"] and "_lines" not in data


def test_comparison_says_not_computed_without_a_bridge_site() -> None:
    report = adsorbate_report([r for r in RECORDS if (r["metadata"].get("site") or "o-top") == "o-top"])
    assert report["comparison"][0]["holds"] is None


@pytest.mark.parametrize("argv, message", [
    (["--model", "no-such-model"], "no-such-model"),
    (["--workers", "0"], "--workers"),
])
def test_demo_adsorbates_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "adsorbates", "-o", str(out), *argv]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert not out.exists()
