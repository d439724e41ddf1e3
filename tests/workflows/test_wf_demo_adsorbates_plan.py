"""What ``tipsurf demo adsorbates`` adds to its launchpad, without running pw.x (issue 11 item 3).

The default model: the bare slab (2 ML MgO on 2 Ag(100) layers, 1x1), Ti/TiH/TiH2 on O-top and
bridge, H2; all relaxations; the adsorbate free, the whole slab fixed (in the 1x1 cell a free
top MgO layer lets Ti@O-top pull its O out of the film); pp.x cubes and projwfc.x Löwdin post-steps on every slab and adsorbate; the
Gibbs analysis Firework; no Hubbard U (stated by the model); run again, nothing is added.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from wf_helpers import generated_pseudo_cache


@pytest.fixture
def generated_env(pseudo_provider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if shutil.which("pw.x") is None:
        pytest.skip("needs pw.x on PATH for its version banner")
    chosen = generated_pseudo_cache(pseudo_provider, Path(os.environ["TIPSURF_CACHE_DIR"]))
    chosen.apply_env(monkeypatch)
    return tmp_path


def test_default_model_campaign(generated_env: Path) -> None:
    from tipsurf.cli.demo_adsorbates import add_demo_campaign, load_adsorbate_model
    from tipsurf.workflows.launchpad import open_launchpad

    model = load_adsorbate_model()
    assert "not legible" in model["hubbard_u_note"] and model["preset_overrides"]["hubbard_u_eV"] == {"Ti": 0.0}
    report = add_demo_campaign(model, None, generated_env)
    assert len(report.added) == 1 + 3 * 2 + 1 and report.analysis_added
    with open_launchpad(None, generated_env) as handle:
        docs = list(handle.db["fireworks"].find({}))
    calcs = [d for d in docs if d["spec"]["_tasks"][0].get("calculation")]
    assert len(calcs) == 8 and all(d["spec"]["_tasks"][0]["calculation"] == "relax" for d in calcs)
    for doc in calcs:
        spec = doc["spec"]["_tasks"][0]["spec"]
        functions = [t["function"] for t in doc["spec"]["_tasks"][1:]]
        if spec.get("kind") == "molecule":
            assert functions == [] and spec["box_A"] == 8.0
            continue
        assert functions == ["tipsurf.engines.qe.pp:qe_density_cubes", "tipsurf.engines.qe.projwfc:run_projwfc"]
        from tipsurf.structures.specs import AdsorbateSpec, MgOAg100Spec

        atoms = (AdsorbateSpec if spec["kind"] == "adsorbate" else MgOAg100Spec).from_dict(spec).build()
        fixed = {int(i) for c in atoms.constraints for i in c.get_indices()}
        free = [i for i in range(len(atoms)) if i not in fixed]
        ads = list(atoms.info.get("adsorbate_indices", []))
        assert sorted(free) == sorted(ads)  # the bare slab: nothing free
        assert atoms.info["ag_layers"] == 2 and atoms.info["mgo_layers"] == 2 and atoms.info["size"] == 1
    again = add_demo_campaign(model, None, generated_env)
    assert not again.added and len(again.existing) == 8


def test_adsorbates_wait_for_the_relaxed_slab_and_sit_on_it(generated_env: Path) -> None:
    """The adsorbate points follow the bare slab's relaxation and are built on its final positions."""
    import numpy as np

    from tipsurf.cli.demo_adsorbates import add_demo_campaign, load_adsorbate_model
    from tipsurf.structures.specs import MgOAg100Spec
    from tipsurf.workflows.launchpad import open_launchpad
    from tipsurf.workflows.assembly import build_atoms

    add_demo_campaign(load_adsorbate_model(), None, generated_env)
    with open_launchpad(None, generated_env) as handle:
        docs = {d["fw_id"]: d for d in handle.db["fireworks"].find({})}
        links = handle.lp.workflows.find_one({})["links"]
    tasks = {i: d["spec"]["_tasks"][0] for i, d in docs.items() if d["spec"]["_tasks"][0].get("calculation")}
    (slab_id,) = [i for i, t in tasks.items() if t["spec"]["kind"] == "mgo-ag100"]
    ads_ids = {i for i, t in tasks.items() if t["spec"]["kind"] == "adsorbate"}
    assert set(links[str(slab_id)]) >= ads_ids  # every adsorbate is a child of the slab ...
    assert all(tasks[i]["relaxed_from"] == {"surface": tasks[slab_id]["fingerprint"]} for i in ads_ids)
    (h2_id,) = [i for i, t in tasks.items() if t["spec"]["kind"] == "molecule"]
    assert h2_id not in links[str(slab_id)] and not tasks[h2_id]["relaxed_from"]  # ... H2 is not
    # a relaxation that raised the top MgO plane by 0.3 A: the adsorbate keeps its height over the new plane
    ads_spec = next(tasks[i]["spec"] for i in ads_ids if tasks[i]["spec"]["species"] == "TiH2")
    slab = MgOAg100Spec.from_dict(ads_spec["slab"]).build()
    top = np.abs(slab.positions[:, 2] - slab.info["surface_z_A"]) < 0.1
    moved = slab.positions.copy()
    moved[top, 2] += 0.3
    record = {"converged": True, "positions_A": moved.tolist(), "symbols": slab.get_chemical_symbols()}
    on_relaxed = build_atoms(ads_spec, {"surface": record})
    as_built = build_atoms(ads_spec)
    ti = as_built.info["ti_index"]
    assert np.allclose(on_relaxed.positions[: len(slab)], moved)
    assert on_relaxed.positions[ti, 2] - as_built.positions[ti, 2] == pytest.approx(0.3)
    assert on_relaxed.get_chemical_symbols() == as_built.get_chemical_symbols()
    fixed = lambda atoms: sorted(int(i) for c in atoms.constraints for i in c.get_indices())  # noqa: E731
    assert fixed(on_relaxed) == fixed(as_built)
