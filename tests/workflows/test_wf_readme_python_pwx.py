"""The README's Python script, run as written (read from README.md) with real pw.x.

It plans, runs and analyses the smallest scan model (tiny_scan_kwargs: one Fe atom over a
one-sided 1-W-layer Mn/W(110) c(2x2) cell, Gamma only, 20/160 Ry): two distances x p/ap plus
the slab and tip fragments, six pw.x runs, about a minute on two cores.  Run it with

    python -m pytest tests/workflows/test_wf_readme_python_pwx.py -m pwx
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from readme_python import README, readme_python_script
from wf_helpers import TINY_OVERRIDES, tiny_scan_kwargs

from tipsurf import api
from tipsurf.engines.presets import load_preset, merge_preset
from tipsurf.workflows import store
from tipsurf.workflows.launchpad import open_launchpad

pytestmark = pytest.mark.pwx

CAMPAIGN, PROJECT = "fe-top-tiny", "tiny-scan"


def test_readme_python_script_plans_runs_and_analyses_the_tiny_scan(
    pseudo_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_python_script(), f"{README} (## Python)", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    project = tmp_path / PROJECT

    # the script used the smallest model of the workflow tests, nothing bigger
    tiny = tiny_scan_kwargs()
    with open_launchpad(project_dir=project) as handle:
        inputs = store.get_campaign(handle.db, CAMPAIGN)["inputs"]
    assert inputs["surface"] == tiny["surface"].as_dict() and inputs["tip"] == tiny["tip"].as_dict()
    assert inputs["site"] == tiny["site"] and inputs["vacuum_above_tip_A"] == tiny["vacuum_above_tip_A"]
    assert inputs["preset"] == json.loads(json.dumps(merge_preset(load_preset("fast", "qe"), dict(TINY_OVERRIDES))))
    assert inputs["distances_A"] == [5.0, 4.5]

    # everything ran and the printed table is the stored records' E_ap - E_p
    assert "6 calculations added" in out  # 4 points + slab and tip alone
    status = api.campaign_status(CAMPAIGN, project_dir=project)
    assert status["counts"]["done"] == 6 and status["counts"]["failed"] == 0
    points = api.load_records(CAMPAIGN, points_only=True, project_dir=project)
    assert len(points) == 4 and all(r["converged"] for r in points)
    energy = {(r["metadata"]["config"], r["metadata"]["distance_A"]): r["energy_eV"] for r in points}
    table = api.analyze_exchange(points)
    assert sorted(row["d_A"] for row in table["rows"]) == [4.5, 5.0]
    for row in table["rows"]:
        assert f"d = {row['d_A']} A  E_ex = {row['E_ex_meV']} meV" in out
        if row["valid"]:
            assert row["E_ex_eV"] == pytest.approx(energy[("ap", row["d_A"])] - energy[("p", row["d_A"])], abs=1e-9)
        else:  # never a number from an invalid point
            assert row["E_ex_eV"] is None and row["flags"]
    for name in ("exchange.csv", "exchange.json", "exchange.png"):
        assert (project / "results" / name).is_file()
    assert table["checks"][0]["lines"][-1] in out

    # running the script again adds and recomputes nothing
    again = api.add_scan(tiny["surface"], tiny["tip"], "top", [5.0, 4.5], preset="fast",
                         preset_overrides=TINY_OVERRIDES, vacuum_above_tip_A=5.0, name=CAMPAIGN, project_dir=project)
    assert not again["added"] and api.run_campaign(CAMPAIGN, project_dir=project)["rockets"] == 0
