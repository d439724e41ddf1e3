"""The adsorbate table (analysis.adsorbate_table) on hand-made records, and the demo command's input errors.

The energies here are made up for the arithmetic; the real runs are in
tests/workflows/test_wf_adsorbates_pwx.py.
"""

from __future__ import annotations

import json

import pytest

from tipsurf.analysis.adsorbate_table import adsorbate_report, record_row, write_adsorbate_report
from tipsurf.cli import main
from tipsurf.errors import InputError


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


FAILED_TI_O_TOP = {"metadata": {"role": "adsorbate", "species": "Ti", "site": "o-top", "mgo_layers": 1},
                   "state": "failed", "fw_id": 7, "reason": "SCF stagnated after the last recovery step"}
WITHOUT_TI_O_TOP = [r for r in RECORDS if not (r["metadata"].get("species") == "Ti" and r["metadata"].get("site") == "o-top")]


def test_a_failed_bare_ti_point_costs_its_site_not_the_table(tmp_path) -> None:
    report = adsorbate_report(WITHOUT_TI_O_TOP, z_valence={"Ti": 12.0}, unfinished=[FAILED_TI_O_TOP])
    failed = [r for r in report["rows"] if r["label"] == "Ti@o-top"]
    assert len(failed) == 1 and failed[0]["energy_eV"] is None and failed[0]["converged"] is False
    assert failed[0]["state"] == "failed: SCF stagnated after the last recovery step"
    assert [g["label"] for g in report["gibbs"]] == ["site=bridge, mgo_layers=1"]  # bridge keeps its ΔG
    assert report["gibbs"][0]["offsets_eV"]["TiH2"] == pytest.approx(-0.2)
    assert len(report["gibbs_skipped"]) == 1 and "site=o-top" in report["gibbs_skipped"][0]
    assert report["comparison"][0]["holds"] is None  # no O-top moment to compare
    written = sorted(p.name for p in write_adsorbate_report(report, tmp_path / "out"))
    assert written == ["adsorbates.csv", "adsorbates.json", "phase_site_bridge__mgo_layers_1.png"]
    csv_rows = (tmp_path / "out" / "adsorbates.csv").read_text().splitlines()
    assert any(line.startswith("Ti@o-top,") and "failed: SCF stagnated" in line for line in csv_rows)


def test_an_unfinished_point_with_a_converged_record_is_not_listed_twice() -> None:
    report = adsorbate_report(RECORDS, unfinished=[FAILED_TI_O_TOP])
    assert [r["label"] for r in report["rows"]].count("Ti@o-top") == 1


def test_no_h2_gives_no_gibbs_and_says_why() -> None:
    report = adsorbate_report([r for r in RECORDS if r["metadata"].get("species") != "H2"])
    assert report["gibbs"] == [] and "H2" in report["gibbs_skipped"][0]


def test_demo_adsorbates_prints_the_table_then_fails_on_a_failed_point(tmp_path, capsys, monkeypatch) -> None:
    """The CLI's contract with a failed point: table and files written, the point named, exit code 3.

    The campaign run is replaced (run_campaign returns a status with one failed point, the
    records are the hand-made ones); the real run is tests/workflows/test_wf_adsorbates_pwx.py.
    """
    import tipsurf.cli.demo_adsorbates as demo
    import tipsurf.workflows.runner as runner
    import tipsurf.workflows.store as store

    def fake_run(name, progress=None, **kwargs):
        progress({"event": "done", "fw_id": 7, "label": "Ti@o-top", "state": "FIZZLED",
                  "reason": FAILED_TI_O_TOP["reason"], "counts": {}, "total": 8})
        points = [{**FAILED_TI_O_TOP, "reason": None}] + [{"metadata": r["metadata"], "state": "done", "fw_id": i}
                                                          for i, r in enumerate(WITHOUT_TI_O_TOP)]
        return {"status": {"points": points}}

    monkeypatch.setattr(runner, "run_campaign", fake_run)
    monkeypatch.setattr(store, "load_campaign_records", lambda name, project_dir=None: WITHOUT_TI_O_TOP)
    monkeypatch.setattr(demo, "_pseudo_note", lambda elements: "test")
    out = tmp_path / "demo"
    assert main(["demo", "adsorbates", "-o", str(out), "--model", "ti-mgo-ag100-tiny"]) == 3
    captured = capsys.readouterr()
    assert "site=bridge" in captured.out and "no ΔG for site=o-top" in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: 1 point(s) did not finish: Ti@o-top (failed: SCF stagnated")
    assert (out / "results" / "adsorbates.csv").is_file() and (out / "results" / "phase_site_bridge__mgo_layers_1.png").is_file()


def test_conflicting_records_still_raise_rather_than_being_reported_as_missing() -> None:
    stale = _record("TiH2", "bridge", -2031.0, 0.9)  # a second, different TiH2@bridge energy
    with pytest.raises(InputError, match="two converged 'TiH2' records"):
        adsorbate_report([*RECORDS, stale])
