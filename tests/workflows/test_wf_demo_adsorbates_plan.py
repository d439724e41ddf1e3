"""What ``tipsurf demo adsorbates`` adds to its launchpad, without running pw.x (issue 11 item 3).

The default model: the bare slab (2 ML MgO on 2 Ag(100) layers, 1x1), Ti/TiH/TiH2 on O-top and
bridge, H2; all relaxations; the adsorbate and the top MgO layer free, the lower MgO layer and
the Ag fixed; pp.x cubes and projwfc.x Löwdin post-steps on every slab and adsorbate; the
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
        top_mgo = [i for i, t in enumerate(atoms.get_tags()) if t == 1]
        ads = list(atoms.info.get("adsorbate_indices", []))
        assert sorted(free) == sorted(top_mgo + ads)
        assert atoms.info["ag_layers"] == 2 and atoms.info["mgo_layers"] == 2 and atoms.info["size"] == 1
    again = add_demo_campaign(model, None, generated_env)
    assert not again.added and len(again.existing) == 8
