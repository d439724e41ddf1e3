"""``tipsurf demo`` when a point fails: the report of what finished, then a non-zero exit naming the rest.

The campaign run is replaced (``run_campaign`` returns a status with one failed point and the
records are analytic p/ap pairs); the real scan is tests/demo/test_demo_scan_pwx.py.
"""

from __future__ import annotations

import json

from analysis_records_helpers import analytic_scan, scan_record

from tipsurf.cli import main

REASON = "SCF not converged after all 4 recovery steps"


def _fake_demo(monkeypatch, records: list[dict]) -> None:
    import tipsurf.cli.demo as demo
    import tipsurf.workflows.runner as runner
    import tipsurf.workflows.store as store

    def fake_run(name, progress=None, **kwargs):
        progress({"event": "done", "fw_id": 9, "label": "d=4.500 ap", "state": "FIZZLED", "reason": REASON,
                  "counts": {}, "total": 10})
        return {"status": {"points": [{"label": "d=4.500 ap", "state": "failed", "fw_id": 9, "metadata": {}},
                                      {"label": "d=4.500 p", "state": "done", "fw_id": 8, "metadata": {}}]}}

    monkeypatch.setattr(runner, "run_campaign", fake_run)
    monkeypatch.setattr(store, "load_campaign_records", lambda name, project_dir=None: records)
    monkeypatch.setattr(demo, "_prepare_pseudopotentials", lambda model, console: "test")


def test_demo_reports_the_finished_pairs_then_exits_3_naming_the_failed_point(tmp_path, capsys, monkeypatch) -> None:
    records = analytic_scan([6.5, 5.5, 5.0]) + [scan_record(4.5, "p", -100.0, 0.1)]
    _fake_demo(monkeypatch, records)
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: 1 point(s) did not finish: d=4.500 ap (failed: {REASON}); they have no number in the "
                   "report, and running the same command again retries them"]
    table = json.loads((out / "results" / "exchange.json").read_text())
    assert sorted(r["d_A"] for r in table["rows"]) == [5.0, 5.5, 6.5]  # the unpaired 4.5 A p point gives no E_ex


def test_demo_without_one_finished_pair_exits_3_and_writes_no_report(tmp_path, capsys, monkeypatch) -> None:
    _fake_demo(monkeypatch, [scan_record(4.5, "p", -100.0, 0.1)])
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: 1 point(s) did not finish: d=4.500 ap (failed:")
    assert not (out / "results").exists()
