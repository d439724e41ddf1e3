"""The README's main job, for real: ``tipsurf demo`` on two distances of the demo model.

Runs pw.x four times (p and ap at d = 4.5 and 5.0 Å, ~1 min each) through the embedded
launchpad with tipsurf's own ld1.x pseudopotentials, then checks the physics the demo claims
(DESIGN.md §2 and templates/demo/mn-w110-fe.yaml): c(2×2) AFM Mn moments near 3.6 μB, p and ap
converged to the requested patterns, ferromagnetic Eex varying smoothly, warm starts used
within one configuration, and a second run that reuses everything.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import require_program
from tipsurf.cli import main
from tipsurf.cli.demo import DEMO_CAMPAIGN, load_demo_model
from tipsurf.workflows.store import load_campaign_records

pytestmark = [pytest.mark.pwx, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_program("pw.x")
    require_program("ld1.x")
    out = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    mp.setenv("TIPSURF_CACHE_DIR", str(out / "cache"))
    mp.setenv("TIPSURF_CONFIG", str(out / "no-config.yaml"))
    mp.delenv("TIPSURF_PSEUDO_DIR", raising=False)
    try:
        rc = main(["demo", "-o", str(out / "project"), "--distances", "4.5,5.0"])
        t0 = time.monotonic()
        rc_again = main(["demo", "-o", str(out / "project"), "--distances", "4.5,5.0"])
        again_s = time.monotonic() - t0
    finally:
        mp.undo()
    records = load_campaign_records(DEMO_CAMPAIGN, project_dir=out / "project")
    table = json.loads((out / "project" / "results" / "exchange.json").read_text())
    return {"rc": rc, "rc_again": rc_again, "again_s": again_s, "records": records, "table": table,
            "results": out / "project" / "results"}


def test_demo_finishes_and_writes_table_plot_and_csv(demo_run: dict) -> None:
    assert demo_run["rc"] == 0
    for name in ("exchange.csv", "exchange.json", "exchange.png"):
        assert (demo_run["results"] / name).stat().st_size > 0
    assert "demo-grade" in demo_run["table"]["note"].lower()
    assert len(demo_run["records"]) == 4
    assert all(r["converged"] for r in demo_run["records"])


def test_surface_mn_moments_are_c2x2_afm_near_reference(demo_run: dict) -> None:
    for record in demo_run["records"]:
        mn = [m for s, m in zip(record["symbols"], record["magmoms_muB"]) if s == "Mn"]
        assert len(mn) == 2
        assert sorted(abs(m) for m in mn)[0] >= 3.3 and max(abs(m) for m in mn) <= 3.9, mn
        assert mn[0] * mn[1] < 0, "c(2x2) AFM order lost"


def test_p_and_ap_keep_requested_patterns(demo_run: dict) -> None:
    for record in demo_run["records"]:
        meta = record["metadata"]
        apex = record["magmoms_muB"][meta["apex_index"]]
        ref = record["magmoms_muB"][meta["reference_indices"][0]]
        assert abs(apex) > 2.5
        assert (apex * ref > 0) == (meta["config"] == "p"), (meta["config"], apex, ref)
    rows = demo_run["table"]["rows"]
    assert len(rows) == 2 and all(row["valid"] and not row["flags"] for row in rows)


def test_exchange_is_ferromagnetic_and_smooth(demo_run: dict) -> None:
    expected = load_demo_model()["expected"]
    rows = sorted(demo_run["table"]["rows"], key=lambda r: r["d_A"])
    e_ex = [row["E_ex_eV"] for row in rows]
    lo, hi = expected["e_ex_eV"]
    assert all(lo <= e <= hi for e in e_ex), e_ex
    assert abs(e_ex[1] - e_ex[0]) <= expected["e_ex_max_jump_eV"], e_ex
    # F_ex is noise-level in this model: it must at least stay below the stated noise scale x 2
    assert all(abs(row["F_ex_eV_per_A"]) < 2 * expected["f_ex_noise_eV_per_A"] for row in rows)


def test_warm_start_follows_its_own_configuration(demo_run: dict) -> None:
    by_fp = {r["fingerprint"]: r for r in demo_run["records"]}
    warm = [r for r in demo_run["records"] if r.get("_warm_start_from")]
    assert warm, "no point was warm-started"
    for record in warm:
        source = by_fp[record["_warm_start_from"]]
        assert source["metadata"]["config"] == record["metadata"]["config"]
        assert record["extra"].get("restart_method") == "shifted"


def test_second_run_reuses_everything(demo_run: dict) -> None:
    assert demo_run["rc_again"] == 0
    assert demo_run["again_s"] < 60
