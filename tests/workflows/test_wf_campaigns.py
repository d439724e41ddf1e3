"""Workflow construction: the scan graph, de-duplication, the adsorbate campaign, queue scripts."""

from __future__ import annotations

from pathlib import Path

import pytest
from wf_helpers import tiny_scan_kwargs

from tipsurf.errors import ConfigurationError, InputError
from tipsurf.workflows import store
from tipsurf.api.campaigns import add_adsorbate_campaign
from tipsurf.workflows.common import SPEC_FINGERPRINT, SPEC_POINT, SPEC_ROLE
from tipsurf.workflows.launchpad import open_launchpad
from tipsurf.workflows.queue import submit_campaign
from tipsurf.workflows.runner import campaign_status
from tipsurf.api.campaigns import add_distance_scan
from tipsurf.workflows.scan import parse_distances


def _fireworks(project: Path) -> dict[int, dict]:
    with open_launchpad(project_dir=project) as handle:
        docs = {d["fw_id"]: d for d in handle.lp.fireworks.find({})}
        links = handle.lp.workflows.find_one({})["links"]
    for fw_id, doc in docs.items():
        doc["children"] = [int(c) for c in links.get(str(fw_id), [])]
    return docs


def test_parse_distances_accepts_lists_and_inclusive_ranges() -> None:
    assert parse_distances("4.0,4.5, 5") == [4.0, 4.5, 5.0]
    assert parse_distances("3.5:5.0:0.5") == [3.5, 4.0, 4.5, 5.0]
    for bad in ("", "4:3:0.5", "a,b", "4.0,4.0", "-1,2"):
        with pytest.raises(InputError):
            parse_distances(bad)


def test_scan_graph_has_separate_far_to_near_p_and_ap_chains(tmp_path: Path, pseudo_env) -> None:
    report = add_distance_scan(distances="4.0,4.5,5.0", name="g", project_dir=tmp_path, **tiny_scan_kwargs())
    assert len(report.added) == 6 + 2 and report.analysis_added  # 6 points, slab and tip fragments
    docs = _fireworks(tmp_path)
    points = {(d["spec"][SPEC_POINT]["config"], d["spec"][SPEC_POINT]["distance_A"]): d
              for d in docs.values() if d["spec"][SPEC_ROLE] == "point"}
    analysis = [d for d in docs.values() if d["spec"][SPEC_ROLE] == "analysis"]
    fragments = {d["spec"][SPEC_ROLE]: d for d in docs.values() if d["spec"][SPEC_ROLE].startswith("fragment")}
    assert len(points) == 6 and len(analysis) == 1 and set(fragments) == {"fragment-surface", "fragment-tip"}
    starts = {role.split("-")[1]: fw["spec"][SPEC_FINGERPRINT] for role, fw in fragments.items()}
    for role, fw in fragments.items():
        task = fw["spec"]["_tasks"][0]
        assert fw["state"] == "READY" and task["fragment"] == role.split("-")[1]
        assert task["preset"]["conv_thr_Ry"] >= 1e-5  # a starting density, not a result
        assert {p["fw_id"] for p in points.values()} <= set(fw["children"])  # every point waits for both
    for config in ("p", "ap"):
        far, mid, near = points[(config, 5.0)], points[(config, 4.5)], points[(config, 4.0)]
        assert mid["fw_id"] in far["children"] and near["fw_id"] in mid["children"]
        assert far["state"] == "WAITING" and near["state"] == "WAITING"
        assert all(p["spec"]["_tasks"][0]["start_fragments"] == starts for p in (far, mid, near))
        task = near["spec"]["_tasks"][0]
        # warm start only from the same configuration, nearest finished neighbour first
        assert task["warm_start_from"] == [mid["spec"][SPEC_FINGERPRINT], far["spec"][SPEC_FINGERPRINT]]
        assert task["calc_dir"].endswith(f".tipsurf/calcs/{near['spec'][SPEC_FINGERPRINT]}")
        other = "ap" if config == "p" else "p"
        for child in far["children"] + mid["children"]:
            assert child not in {points[(other, d)]["fw_id"] for d in (4.0, 4.5, 5.0)}
    assert all(analysis[0]["fw_id"] in p["children"] for p in points.values())
    assert analysis[0]["spec"]["_tasks"][0]["function"] == "tipsurf.analysis.exchange:exchange_table"
    assert len({p["spec"][SPEC_FINGERPRINT] for p in points.values()}) == 6


def test_resubmitting_the_same_scan_adds_nothing(tmp_path: Path, pseudo_env) -> None:
    first = add_distance_scan(distances="4.5,5.0", name="dup", project_dir=tmp_path, **tiny_scan_kwargs())
    second = add_distance_scan(distances="4.5,5.0", name="dup", project_dir=tmp_path, **tiny_scan_kwargs())
    assert len(first.added) == 4 + 2 and not second.added and not second.analysis_added
    assert sorted(p["fingerprint"] for p in second.existing) == sorted(p["fingerprint"] for p in first.added)
    assert len(_fireworks(tmp_path)) == 7
    # a scan extended to a smaller d (same d_max, same cell) adds only the new distance
    third = add_distance_scan(distances="4.0,4.5,5.0", name="dup", project_dir=tmp_path, **tiny_scan_kwargs())
    assert [p["metadata"]["distance_A"] for p in third.added] == [4.0, 4.0] and len(third.existing) == 6
    status = campaign_status("dup", project_dir=tmp_path)
    # ready: the two fragments and the two new points (their neighbours belong to the first workflow)
    assert status["total"] == 8 and status["counts"]["ready"] == 2 + 2 and status["counts"]["waiting"] == 4


def test_a_point_shared_with_an_unfinished_campaign_gets_its_own_firework_and_links(tmp_path: Path, pseudo_env) -> None:
    # issue 12 item 6: before, the second campaign got no Firework for a point the first one had
    # queued, so its analysis (no parents) could run before that point was done
    first = add_distance_scan(distances="4.5,5.0", name="first", project_dir=tmp_path, **tiny_scan_kwargs())
    second = add_distance_scan(distances="4.5,5.0", name="second", project_dir=tmp_path, **tiny_scan_kwargs())
    shared = sorted(p["fingerprint"] for p in first.added)
    assert sorted(p["fingerprint"] for p in second.added) == shared and not second.existing
    with open_launchpad(project_dir=tmp_path) as handle:
        docs = {d["fw_id"]: d for d in handle.lp.fireworks.find({"spec._tipsurf_campaign": "second"})}
        wf = handle.lp.workflows.find_one({"nodes": {"$in": list(docs)}})
    parents = {int(k) for k, children in wf["links"].items() for c in children
               if docs.get(int(c), {}).get("spec", {}).get(SPEC_ROLE) == "analysis"}
    points = {fw_id for fw_id, d in docs.items() if d["spec"][SPEC_ROLE] == "point"}
    assert len(points) == 4 and points <= parents  # the analysis waits for every point of its own
    # once a point's result is stored converged, a third campaign needs no Firework for it
    with open_launchpad(project_dir=tmp_path) as handle:
        handle.db[store.RESULTS].insert_one({"fingerprint": shared[0], "converged": True})
    third = add_distance_scan(distances="4.5,5.0", name="third", project_dir=tmp_path, **tiny_scan_kwargs())
    assert [p["fingerprint"] for p in third.existing] == [shared[0]] and len(third.added) == 5


def test_no_warm_start_gives_independent_points(tmp_path: Path, pseudo_env) -> None:
    add_distance_scan(distances="4.5,5.0", name="cold", warm_start=False, project_dir=tmp_path, **tiny_scan_kwargs())
    docs = _fireworks(tmp_path)
    points = [d for d in docs.values() if d["spec"][SPEC_ROLE] == "point"]
    assert all(d["state"] == "READY" for d in points)
    assert all(d["spec"]["_tasks"][0]["warm_start_from"] == [] for d in points)


def test_pre_steps_feed_every_point(tmp_path: Path, pseudo_env) -> None:
    report = add_distance_scan(distances="4.5,5.0", name="pre", relax_tip=True, relax_slab=True,
                               project_dir=tmp_path, **tiny_scan_kwargs())
    assert len(report.added) == 2 + 2 + 4  # relaxations, fragments, points
    docs = _fireworks(tmp_path)
    relax = {d["spec"][SPEC_ROLE]: d for d in docs.values() if d["spec"][SPEC_ROLE].startswith("relax")}
    assert set(relax) == {"relax-tip", "relax-surface"}
    points = [d for d in docs.values() if d["spec"][SPEC_ROLE] == "point"]
    for role, fw in relax.items():
        assert fw["spec"]["_tasks"][0]["calculation"] == "relax"
        # every point depends on the relaxation, directly or through its chain
        assert all(p["spec"]["_tasks"][0]["relaxed_from"][role.split("-")[1]] == fw["spec"][SPEC_FINGERPRINT] for p in points)
        assert {p["fw_id"] for p in points if p["spec"][SPEC_POINT]["distance_A"] == 5.0} <= set(fw["children"])


def test_adsorbate_campaign_structure(tmp_path: Path, pseudo_library_env) -> None:
    """MgO/Ag(100): without ../shared the Ag file is tipsurf's generated one (inputs only, nothing runs)."""
    overrides = pseudo_library_env.preset_overrides()
    report = add_adsorbate_campaign(preset="fast", preset_overrides=overrides, name="ads", project_dir=tmp_path)
    # TiHx (5) x sites (2) x MgO thickness (2) + 2 bare slabs + H2
    assert len(report.added) == 23 and report.analysis_added
    docs = _fireworks(tmp_path)
    calcs = [d for d in docs.values() if d["spec"][SPEC_ROLE] != "analysis"]
    analysis = [d for d in docs.values() if d["spec"][SPEC_ROLE] == "analysis"][0]
    # slabs and H2 start at once; each adsorbate waits for the relaxed slab of its thickness
    slab_of = {d["spec"][SPEC_POINT]["mgo_layers"]: d for d in calcs if d["spec"][SPEC_ROLE] == "slab"}
    for d in calcs:
        role, task = d["spec"][SPEC_ROLE], d["spec"]["_tasks"][0]
        if role == "adsorbate":
            slab = slab_of[d["spec"][SPEC_POINT]["mgo_layers"]]
            assert d["state"] == "WAITING" and d["fw_id"] in slab["children"]
            assert task["relaxed_from"] == {"surface": slab["spec"][SPEC_FINGERPRINT]}
        else:
            assert d["state"] == "READY" and not task["relaxed_from"]
    assert {c["fw_id"] for c in calcs} == set(
        fw_id for fw_id, d in docs.items() if analysis["fw_id"] in d["children"])
    assert all(d["spec"]["_tasks"][0]["calculation"] == "relax" for d in calcs)
    roles = sorted(d["spec"][SPEC_ROLE] for d in calcs)
    assert roles.count("adsorbate") == 20 and roles.count("slab") == 2 and roles.count("reference") == 1
    species = {(d["spec"][SPEC_POINT].get("species"), d["spec"][SPEC_POINT].get("site"), d["spec"][SPEC_POINT].get("mgo_layers"))
               for d in calcs if d["spec"][SPEC_ROLE] == "adsorbate"}
    assert ("TiH2", "bridge", 3) in species and ("Ti", "o-top", 2) in species
    post = [t for d in calcs if d["spec"][SPEC_ROLE] != "reference" for t in d["spec"]["_tasks"][1:]]
    assert len(post) == 44  # per slab/adsorbate: density cubes (Bader) and projwfc.x (Löwdin)
    assert [t["function"] for t in post[:2]] == ["tipsurf.engines.qe.pp:qe_density_cubes",
                                                 "tipsurf.engines.qe.projwfc:run_projwfc"]
    assert {t["label"] for t in post} == {"density_cubes", "lowdin"}
    assert analysis["spec"]["_tasks"][0]["function"] == "tipsurf.analysis.gibbs:energies_from_records"
    again = add_adsorbate_campaign(preset="fast", preset_overrides=overrides, name="ads", project_dir=tmp_path)
    assert not again.added and len(again.existing) == 23


def test_slurm_and_pbs_scripts_carry_the_requested_resources(tmp_path: Path, pseudo_env) -> None:
    add_distance_scan(distances="4.5,5.0", name="q", project_dir=tmp_path, **tiny_scan_kwargs())
    slurm = submit_campaign("q", "slurm", dry_run=True, project_dir=tmp_path, overrides={
        "account": "proj42", "queue": "short", "nodes": 2, "ntasks_per_node": 16, "walltime": "01:30:00",
        "modules": ["quantum-espresso/7.2"], "pw_command": "srun pw.x -nk 2"})
    text = Path(slurm["scripts"][0]).read_text()
    for line in ("#SBATCH --account=proj42", "#SBATCH --partition=short", "#SBATCH --nodes=2",
                 "#SBATCH --ntasks-per-node=16", "#SBATCH --time=01:30:00", "module load quantum-espresso/7.2",
                 'TIPSURF_PW_COMMAND="srun pw.x -nk 2"', "TIPSURF_WALLTIME_S=5400",
                 f"tipsurf run --project {tmp_path} --name q"):
        assert line in text, line
    assert "$$" not in text and "rlaunch" not in text  # the embedded store only under tipsurf's lock
    with pytest.raises(InputError, match="MongoDB"):  # one job per Firework cannot share an embedded store
        submit_campaign("q", "slurm", dry_run=True, reserve=True, project_dir=tmp_path)
    pbs = submit_campaign("q", "pbs", dry_run=True, project_dir=tmp_path, overrides={
        "account": "abc", "queue": "workq", "nodes": 3, "ntasks_per_node": 8, "walltime": "10:00:00"})
    text = Path(pbs["scripts"][0]).read_text()
    for line in ("#PBS -A abc", "#PBS -q workq", "#PBS -l nodes=3:ppn=8", "#PBS -l walltime=10:00:00", "tipsurf run --project"):
        assert line in text, line
    with pytest.raises(ConfigurationError):  # compute nodes cannot share the embedded store
        submit_campaign("q", "slurm", project_dir=tmp_path)
    with open_launchpad(project_dir=tmp_path) as handle:  # dry runs reserve nothing
        assert handle.lp.fireworks.count_documents({"state": "RESERVED"}) == 0
        assert store.get_campaign(handle.db, "q")["kind"] == "distance_scan"


def test_unknown_adsorbate_species_is_named_before_any_preset_or_database_work(tmp_path) -> None:
    import pytest

    from tipsurf.errors import InputError
    from tipsurf.api.campaigns import add_adsorbate_campaign

    with pytest.raises(InputError, match="TiH9"):
        add_adsorbate_campaign(code="qe", preset="tio-mgo-qe", species=["Ti", "TiH9"], project_dir=tmp_path)
    assert not (tmp_path / ".tipsurf").exists()


def test_preset_decides_the_reference_protocols_pre_relaxations(tmp_path: Path, pseudo_env) -> None:
    from tipsurf.engines.presets import load_preset

    assert load_preset("mnw110-vasp", "vasp")["relax_parts_before_scan"] is True  # production: on
    assert load_preset("demo", "qe")["relax_parts_before_scan"] is False  # demo: off (budget)
    kwargs = tiny_scan_kwargs()
    plain = add_distance_scan(distances="5.0", configs=["p"], name="plain", project_dir=tmp_path, **kwargs)
    assert not [p for p in plain.added if p["role"].startswith("relax")]
    kwargs["preset_overrides"] = {**kwargs["preset_overrides"], "relax_parts_before_scan": True}
    protocol = add_distance_scan(distances="5.0", configs=["p"], name="protocol", project_dir=tmp_path / "b", **kwargs)
    assert sorted(p["role"] for p in protocol.added if p["role"].startswith("relax")) == ["relax-surface", "relax-tip"]
    opted_out = add_distance_scan(distances="5.0", configs=["p"], name="out", relax_tip=False, relax_slab=False,
                                  project_dir=tmp_path / "c", **kwargs)
    assert not [p for p in opted_out.added if p["role"].startswith("relax")]


def test_the_workflow_runs_the_analysis_its_caller_names(tmp_path: Path, pseudo_env) -> None:
    """Issue 13 item 6: workflows name no analysis function; without one there is no analysis Firework."""
    from tipsurf.workflows.scan import add_distance_scan as bare_scan
    from tipsurf.workflows.tasks import dotted_name, resolve_callable

    report = bare_scan(distances="5.0", configs=["p"], name="bare", project_dir=tmp_path, **tiny_scan_kwargs())
    assert report.added and not report.analysis_added
    assert all(d["spec"][SPEC_ROLE] != "analysis" for d in _fireworks(tmp_path).values())
    assert resolve_callable(dotted_name(parse_distances)) is parse_distances
    with pytest.raises(InputError):
        dotted_name(lambda records: records)


def test_scan_d_max_puts_a_partial_scan_in_the_full_scans_cell(tmp_path: Path, pseudo_env) -> None:
    full = add_distance_scan(distances="4.5,5.0", configs=["p"], name="full", warm_start=False,
                             project_dir=tmp_path / "a", **tiny_scan_kwargs())
    part = add_distance_scan(distances="4.5", configs=["p"], name="part", warm_start=False, scan_d_max_A=5.0,
                             project_dir=tmp_path / "b", **tiny_scan_kwargs())
    alone = add_distance_scan(distances="4.5", configs=["p"], name="alone", warm_start=False,
                              project_dir=tmp_path / "c", **tiny_scan_kwargs())
    at_45 = {p["fingerprint"] for p in full.added if p["metadata"].get("distance_A") == 4.5}
    assert {p["fingerprint"] for p in part.added if p["metadata"].get("distance_A") == 4.5} == at_45
    assert {p["fingerprint"] for p in alone.added if p["metadata"].get("distance_A") == 4.5}.isdisjoint(at_45)
    with pytest.raises(InputError, match="below the scan's largest distance"):
        add_distance_scan(distances="4.5,5.0", configs=["p"], name="bad", scan_d_max_A=4.8,
                          project_dir=tmp_path / "d", **tiny_scan_kwargs())
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.json"))


def test_an_unknown_campaign_keyword_is_named(tmp_path: Path) -> None:
    from tipsurf.workflows.adsorbates import add_adsorbate_campaign as add_ads
    from tipsurf.workflows.scan import add_distance_scan as add_scan

    with pytest.raises(TypeError, match="unexpected keyword.s. walltime; .*walltime_s"):
        add_scan(None, None, "top", "5.0", walltime=60, project_dir=tmp_path)
    with pytest.raises(TypeError, match="unexpected keyword.s. specie; .*species"):
        add_ads(specie=["Ti"], project_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything is written
