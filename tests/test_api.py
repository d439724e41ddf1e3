"""The Python recipes of :mod:`tipsurf.api` without any QE program run.

Contracts: structures go in as ASE Atoms or pymatgen Structures and come out as either, with
moments, constraints and the builders' metadata intact; everything else comes back as plain
records (JSON-able dicts); every bad input is the package's one-line InputError.  Campaign
functions read a real embedded launchpad into which synthetic records (energies from an
analytic law, structures from the real builders) are written with the store's own functions.
The README's script itself runs with pw.x in tests/workflows/test_wf_readme_python_pwx.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from ase import Atoms
from ase.constraints import FixAtoms
from pymatgen.core import Lattice, Structure

from readme_python import MAX_LINES, readme_python_script
from tipsurf import api
from tipsurf.errors import InputError

TINY_SURFACE = {"w_layers": 1, "size": [1, 1], "one_sided": True, "vacuum_A": 5.0}
TINY_TIP = {"apex": "Fe", "layers": 1}
J0_EV, LAMBDA_A = 2.0, 0.6  # synthetic exchange law E_ex = J0 exp(-d / lambda)


def _fixed(atoms: Atoms) -> list[int]:
    return sorted(int(i) for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.get_indices())


def assert_same_structure(a: Atoms, b: Atoms, *, info: bool = True) -> None:
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    np.testing.assert_allclose(a.positions, b.positions, atol=1e-10)
    np.testing.assert_allclose(a.cell[:], b.cell[:], atol=1e-10)
    np.testing.assert_allclose(a.get_initial_magnetic_moments(), b.get_initial_magnetic_moments())
    assert _fixed(a) == _fixed(b) and list(a.get_tags()) == list(b.get_tags())
    if info:
        assert json.loads(json.dumps(a.info)) == json.loads(json.dumps(b.info))


# ----------------------------------------------------------------------------- README script


def test_readme_python_script_is_short_and_compiles() -> None:
    script = readme_python_script()
    assert len(script.splitlines()) <= MAX_LINES
    compile(script, "README.md (## Python)", "exec")
    for call in ("api.add_scan(", "api.run_campaign(", "api.load_records(", "api.analyze_exchange("):
        assert call in script
    assert all(name in api.__all__ for name in ("add_scan", "run_campaign", "load_records", "analyze_exchange"))


def test_readme_python_script_plans_its_scan_without_pw(
    qe_pseudos: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The script up to the run (no pw.x: the QE version comes from the config, the run is skipped)."""
    (tmp_path / "config.yaml").write_text('qe_version: "6.7"\n')
    monkeypatch.setenv("TIPSURF_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.chdir(tmp_path)
    runs: list[tuple[Any, ...]] = []
    monkeypatch.setattr(api, "run_campaign", lambda *args, **kwargs: runs.append((args, kwargs)) or {})
    with pytest.raises(InputError, match="no result records"):  # nothing ran, so nothing to analyse
        exec(compile(readme_python_script(), "README.md (## Python)", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert out.splitlines()[:4] == [f"{c} {d} FeMn2W2" for c in ("p", "ap") for d in (5.0, 4.5)]
    assert "6 calculations added" in out  # 4 points + the slab and the tip alone
    assert runs == [(("fe-top-tiny",), {"workers": 2, "project_dir": "tiny-scan"})]
    status = api.campaign_status("fe-top-tiny", project_dir=tmp_path / "tiny-scan")
    assert status["total"] == 6 and status["counts"]["ready"] == 2  # the two fragments start


# ----------------------------------------------------------------------------- structures


@pytest.mark.parametrize("build", [
    lambda **kw: api.build_tip("Co", 2, **kw),
    lambda **kw: api.build_mn_w110_slab(2, (2, 1), one_sided=True, **kw),
    lambda **kw: api.build_mgo_ag100_slab(2, 2, **kw),
    lambda **kw: api.build_adsorbate("TiH2", "bridge", ag_layers=2, **kw),
    lambda **kw: api.build_molecule("H2", **kw),
], ids=["tip", "mn-w110", "mgo-ag100", "adsorbate", "molecule"])
def test_builders_return_atoms_or_an_equivalent_structure(build: Callable[..., Any]) -> None:
    atoms = build()
    structure = build(as_pymatgen=True)
    assert type(atoms) is Atoms and isinstance(structure, Structure)
    np.testing.assert_allclose(structure.site_properties["magmom"], atoms.get_initial_magnetic_moments())
    assert structure.properties["spec"] == atoms.info["spec"]
    assert_same_structure(api.to_atoms(structure), atoms)


def test_junction_from_specs_dicts_atoms_and_structures_is_the_same() -> None:
    from_specs = api.build_junction(api.MnW110Spec(**TINY_SURFACE), api.TipSpec(**TINY_TIP), distance_A=4.5,
                                    config="ap", vacuum_above_tip_A=5.0)
    from_dicts = api.build_junction(TINY_SURFACE, TINY_TIP, distance_A=4.5, config="ap", vacuum_above_tip_A=5.0)
    assert_same_structure(from_specs, from_dicts)
    slab, tip = api.build_mn_w110_slab(1, (1, 1), one_sided=True, vacuum_A=5.0), api.build_tip("Fe", 1)
    for surface_in, tip_in in ((slab, tip), (api.to_structure(slab), api.to_structure(tip)), (slab, TINY_TIP)):
        built = api.build_junction(surface_in, tip_in, distance_A=4.5, config="ap", vacuum_above_tip_A=5.0)
        assert type(built) is Atoms
        assert_same_structure(built, from_specs, info=False)  # the spec is recorded only when built from specs
        assert {k: v for k, v in from_specs.info.items() if k != "spec"} == built.info
    info = from_specs.info
    moments = from_specs.get_initial_magnetic_moments()
    assert np.sign(moments[info["apex_index"]]) == -np.sign(moments[info["reference_indices"][0]])  # ap
    as_structure = api.build_junction(TINY_SURFACE, TINY_TIP, distance_A=4.5, config="ap", vacuum_above_tip_A=5.0,
                                      as_pymatgen=True)
    assert isinstance(as_structure, Structure) and as_structure.properties["apex_index"] == info["apex_index"]
    assert_same_structure(api.to_atoms(as_structure), from_specs)


def test_scan_junctions_share_the_largest_distance_cell_farthest_first() -> None:
    points = api.scan_junctions(TINY_SURFACE, TINY_TIP, "top", "4.5:5.5:0.5", vacuum_above_tip_A=5.0)
    assert [(a.info["config"], a.info["distance_A"]) for a in points] == [
        ("p", 5.5), ("p", 5.0), ("p", 4.5), ("ap", 5.5), ("ap", 5.0), ("ap", 4.5)]
    assert all(np.allclose(a.cell[:], points[0].cell[:]) for a in points)
    surface = points[0].info["n_surface_atoms"]
    for a in points[1:3]:  # only the tip moves: the slab stays where it is at d_max
        np.testing.assert_allclose(a.positions[:surface], points[0].positions[:surface])
    structures = api.scan_junctions(TINY_SURFACE, TINY_TIP, "top", [5.0], configs=["ap"], vacuum_above_tip_A=5.0,
                                    as_pymatgen=True)
    assert len(structures) == 1 and isinstance(structures[0], Structure)


def test_structure_files_round_trip_from_a_pymatgen_structure(tmp_path: Path) -> None:
    junction = api.build_junction(TINY_SURFACE, TINY_TIP, distance_A=5.0, vacuum_above_tip_A=5.0)
    path = api.write_structure(api.to_structure(junction), tmp_path / "j.xyz")
    assert_same_structure(api.read_structure(path), junction)
    assert isinstance(api.read_structure(path, as_pymatgen=True), Structure)


def test_write_inputs_takes_atoms_or_structure_and_returns_a_plain_record(
    qe_pseudos: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.yaml").write_text('qe_version: "6.7"\n')  # no pw.x banner read
    monkeypatch.setenv("TIPSURF_CONFIG", str(tmp_path / "config.yaml"))
    # 6 A of vacuum: the tiny scan cell's 5.0 A sits exactly on the engine's slab threshold (>= 5 A),
    # where a 1e-15 A round-off of the conversion flips k-mesh and dipole settings
    junction = api.build_junction({**TINY_SURFACE, "vacuum_A": 6.0}, TINY_TIP, distance_A=4.5, vacuum_above_tip_A=6.0)
    from_atoms = api.write_inputs(junction, tmp_path / "a", preset_overrides={"ecutwfc_Ry": 20, "ecutrho_Ry": 160})
    from_structure = api.write_inputs(api.to_structure(junction), tmp_path / "s",
                                      preset_overrides={"ecutwfc_Ry": 20, "ecutrho_Ry": 160})
    json.dumps(from_atoms)
    assert from_atoms["fingerprint"] == from_structure["fingerprint"] and from_atoms["code"] == "qe"
    assert (tmp_path / "s" / "pw.in").is_file() and from_structure["metadata"]["apex_index"] == junction.info["apex_index"]


# ----------------------------------------------------------------------------- errors


def _plain_structure() -> Structure:
    return Structure(Lattice.cubic(5.0), ["W", "Mn"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.mark.parametrize("call, message", [
    (lambda: api.build_junction("slab.xyz", distance_A=4.5), "surface must be a MnW110Spec"),
    (lambda: api.build_junction(TINY_SURFACE, TINY_TIP, distance_A=-1.0), "distance_A"),
    (lambda: api.build_junction(TINY_SURFACE, {"apex": "Fe", "colour": "red"}, distance_A=4.5), "colour"),
    (lambda: api.build_junction(_plain_structure(), TINY_TIP, distance_A=4.5), "info['sites']"),
    (lambda: api.build_tip("Xx"), "apex"),
    (lambda: api.to_atoms(42), "ase.Atoms or a pymatgen Structure"),
    (lambda: api.to_structure(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])), "3D cell"),
    (lambda: api.scan_junctions(TINY_SURFACE, None, "top", [4.5]), "needs its tip"),
    (lambda: api.write_inputs(Atoms("H"), "calc", code="abinit"), "unknown code"),
    (lambda: api.analyze_exchange(42), "campaign name or a list of result records"),
    (lambda: api.analyze_exchange([]), "no result records"),
    (lambda: api.analyze_exchange([{"metadata": {"config": "p"}}]), "lacks metadata 'site'"),
    (lambda: api.analyze_gibbs({"TiH2": -16.0, "H2": -6.0}), "'Ti'"),
    (lambda: api.fit_exchange({"rows": []}), "no rows"),
    (lambda: api.analyze_bader("CHGCAR", output="bader.txt"), ".json or .csv"),
])
def test_bad_input_is_a_one_line_input_error(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        call()
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_scan_is_refused_before_the_project_is_touched(tmp_path: Path) -> None:
    for distances in ("4.0:abc", [4.5, 4.5]):
        with pytest.raises(InputError, match="distances") as caught:
            api.add_scan(TINY_SURFACE, TINY_TIP, "top", distances, project_dir=tmp_path)
        assert "\n" not in str(caught.value)
    with pytest.raises(InputError, match="p, ap"):
        api.add_scan(TINY_SURFACE, TINY_TIP, "top", [4.5], configs=["p", "up"], project_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- campaign records


def _record(atoms: Atoms, energy_eV: float, tip_force_eV_per_A: float, fingerprint: str) -> dict[str, Any]:
    """A converged CalcResult-shaped record of a built structure: moments as started."""
    forces = np.zeros((len(atoms), 3))
    tip = atoms.info.get("tip_indices") or []
    for i in tip:
        forces[i, 2] = tip_force_eV_per_A / len(tip)
    return {
        "code": "qe", "energy_eV": energy_eV, "forces_eV_per_A": forces.tolist(),
        "magmoms_muB": atoms.get_initial_magnetic_moments().tolist(), "converged": True, "n_scf": 12,
        "fingerprint": fingerprint, "symbols": atoms.get_chemical_symbols(), "positions_A": atoms.positions.tolist(),
        "cell_A": atoms.cell[:].tolist(), "metadata": json.loads(json.dumps(atoms.info)),
        "extra": {"initial_magmoms_muB": atoms.get_initial_magnetic_moments().tolist()},
    }


@pytest.fixture
def stored_scan(tmp_path: Path) -> dict[str, Any]:
    """A scan campaign in a real embedded launchpad: 3 distances x p/ap and the tip alone."""
    from tipsurf.workflows import store
    from tipsurf.workflows.launchpad import open_launchpad

    records = []
    for atoms in api.scan_junctions(TINY_SURFACE, TINY_TIP, "top", [4.5, 5.0, 5.5], vacuum_above_tip_A=5.0):
        d, config = atoms.info["distance_A"], atoms.info["config"]
        e_ex = J0_EV * math.exp(-d / LAMBDA_A)
        sign = 1.0 if config == "ap" else 0.0
        records.append(_record(atoms, -100.0 - 0.1 * d + sign * e_ex, -0.1 + sign * e_ex / LAMBDA_A, f"pt-{config}-{d}"))
    tip = api.build_tip("Fe", 1)
    tip.info.update({"role": "fragment-tip", "fragment": "tip", "kind": "fragment"})
    records.append(_record(tip, -5.0, 0.0, "fragment-tip"))
    project = tmp_path / "project"
    with open_launchpad(project_dir=project) as handle:
        points = [{"fingerprint": r["fingerprint"], "label": r["fingerprint"], "metadata": {}} for r in records]
        store.register_campaign(handle.db, "tiny", "distance_scan", {"d0_A": 5.0, "preset": {"name": "fast"}}, points)
        for rec in records:
            store.store_result(handle.db, rec, campaign="tiny")
        handle.flush()
    return {"project": project, "records": records}


def test_campaign_records_load_and_analyse_as_plain_records(stored_scan: dict[str, Any], tmp_path: Path) -> None:
    project = stored_scan["project"]
    records = api.load_records("tiny", project_dir=project)
    assert len(records) == 7 and json.loads(json.dumps(records)) == records
    points = api.load_records("tiny", points_only=True, project_dir=project)
    assert len(points) == 6 and "fragment-tip" not in {r["fingerprint"] for r in points}
    results = api.load_results("tiny", project_dir=project)
    assert results["kind"] == "distance_scan" and len(results["records"]) == 7 and results["analysis"] is None
    assert api.campaign_status("tiny", project_dir=project)["counts"]["done"] == 7

    # by name the scan's tip-alone record is left out, as by tipsurf analyze exchange --name
    by_name = api.analyze_exchange("tiny", project_dir=project)
    by_records = api.analyze_exchange(records, output_dir=tmp_path / "out")
    assert by_name == json.loads(json.dumps(by_records))
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"exchange.csv", "exchange.json", "exchange.png"}
    rows = {row["d_A"]: row for row in by_name["rows"]}
    assert sorted(rows) == [4.5, 5.0, 5.5] and all(row["valid"] for row in rows.values())
    for d, row in rows.items():
        assert row["E_ex_eV"] == pytest.approx(J0_EV * math.exp(-d / LAMBDA_A), rel=1e-9)
        assert row["F_ex_eV_per_A"] == pytest.approx(J0_EV / LAMBDA_A * math.exp(-d / LAMBDA_A), rel=1e-9)
    assert by_name["checks"][0]["decays"] is True and by_name["checks"][0]["lines"]
    fit = api.fit_exchange(by_name)
    assert fit["E_ex"]["lambda_A"] == pytest.approx(LAMBDA_A, rel=1e-6)
    assert api.fit_exchange(tmp_path / "out" / "exchange.csv")["E_ex"]["lambda_A"] == pytest.approx(LAMBDA_A, rel=1e-6)

    final = api.record_structure(points[0])
    assert final.get_potential_energy() == pytest.approx(points[0]["energy_eV"])
    assert isinstance(api.record_structure(points[0], as_pymatgen=True), Structure)
    with pytest.raises(InputError, match="no campaign named 'nope'"):
        api.load_records("nope", project_dir=project)


def test_export_writes_an_ase_database_that_ase_can_query(stored_scan: dict[str, Any], tmp_path: Path) -> None:
    from ase.db import connect

    summary = api.export_ase_db(tmp_path / "results.db", "tiny", project_dir=stored_scan["project"])
    assert summary["n_rows"] == 7 and len(summary["inserted"]) == 7
    rows = list(connect(tmp_path / "results.db").select("config=ap,d_A<5.2", sort="d_A"))
    assert [row.d_A for row in rows] == [4.5, 5.0] and all(row.campaign == "tiny" for row in rows)
    again = api.export_ase_db(tmp_path / "results.db", project_dir=stored_scan["project"])  # every campaign
    assert again["n_rows"] == 7 and len(again["updated"]) == 7
    with pytest.raises(InputError, match=r"\.db"):
        api.export_ase_db(tmp_path / "results.sqlite", "tiny", project_dir=stored_scan["project"])


# ----------------------------------------------------------------------------- Gibbs, Bader, force


def test_gibbs_from_energies_matches_the_formula_and_the_cli_defaults() -> None:
    from tipsurf.cli.analyze import GIBBS_P_DEFAULT_PA, GIBBS_T_DEFAULT_K

    assert (api.GIBBS_TEMPERATURE_K, api.GIBBS_PRESSURE_PA) == (GIBBS_T_DEFAULT_K, GIBBS_P_DEFAULT_PA)
    energies = {"Ti": -10.0, "TiH": -13.1, "TiH2": -16.5, "TiH3": -19.2, "H2": -6.0}  # offsets -0.1, -0.5, -0.2
    result = api.analyze_gibbs(energies)
    json.dumps(result)
    group = result["groups"][0]
    dmu = group["delta_mu_H_eV"]
    assert -0.01 < dmu < 0  # ~1 K, 1e-8 Pa: hydrogen from H2
    assert group["delta_G_eV"]["TiH2"] == pytest.approx(-16.5 + 10.0 - 2 * (-3.0 + dmu))
    assert group["stable_species"] == "TiH2" and group["never_stable"] == ["TiH"]  # TiH3 only above +0.3 eV
    grouped = api.analyze_gibbs({"bridge": {k: v for k, v in energies.items() if k != "H2"}, "H2": -6.0})
    assert grouped["groups"][0]["label"] == "bridge" and grouped["groups"][0]["delta_G_eV"] == group["delta_G_eV"]


def test_bader_of_a_chgcar_returns_per_atom_records(tmp_path: Path) -> None:
    from pymatgen.io.vasp.outputs import Chgcar

    from tipsurf.analysis.volumetric import periodic_gaussian_density

    length, n = 6.0, 24
    cell = np.diag([length] * 3)
    centres = np.array([[length / 4, length / 2, length / 2], [3 * length / 4, length / 2, length / 2]])
    rho = periodic_gaussian_density(cell, (n, n, n), centres, np.array([8.0, 8.0]), np.array([0.8, 0.8]))
    spin = periodic_gaussian_density(cell, (n, n, n), centres, np.array([2.0, -2.0]), np.array([0.6, 0.6]))
    structure = Structure(Lattice(cell), ["Fe", "Fe"], centres, coords_are_cartesian=True)
    Chgcar(structure, {"total": rho * length**3, "diff": spin * length**3}).write_file(str(tmp_path / "CHGCAR"))
    result = api.analyze_bader(tmp_path / "CHGCAR", valences={"Fe": 8}, vacuum_e_per_bohr3=0, output=tmp_path / "b.json")
    assert json.loads((tmp_path / "b.json").read_text()) == json.loads(json.dumps(result))
    charges = [a["charge_e"] for a in result["atoms"]]
    np.testing.assert_allclose(charges, 8.0, atol=5e-3)  # mirror plane between the two atoms
    assert result["atoms"][0]["moment_muB"] == pytest.approx(-result["atoms"][1]["moment_muB"], abs=1e-6)


def test_sader_jarvis_returns_sorted_plain_rows() -> None:
    z = np.linspace(3e-10, 2e-9, 40)[::-1]
    rows = api.sader_jarvis(z, -5.0 * np.exp(-z / 2e-10), amplitude_m=5e-11, stiffness_N_per_m=1800, f0_Hz=30000)
    assert [r["z_m"] for r in rows] == sorted(r["z_m"] for r in rows) and len(rows) == 40
    assert rows[0]["F_N"] < 0 and rows[-1]["F_N"] == 0.0  # attractive near, zero past the last point


def test_the_other_wrappers_return_plain_records_or_one_line_errors(
    stored_scan: dict[str, Any], qe_pseudos: Any, tmp_path: Path
) -> None:
    project = stored_scan["project"]
    assert api.rerun_campaign("tiny", project_dir=project)["rerun"] == []
    dry = api.submit_campaign("tiny", "slurm", dry_run=True, overrides={"account": "proj123"}, project_dir=project)
    assert dry["dry_run"] is True and dry["scripts"] and "proj123" in Path(dry["scripts"][0]).read_text()
    files = api.check_pseudopotentials(qe_pseudos.folder)
    assert {"Fe", "Mn", "W"} <= {f["element"] for f in files} and json.loads(json.dumps(files)) == files
    with pytest.raises(InputError, match="Hubbard U") as caught:  # the tio-mgo presets ship without U on Ti
        api.add_adsorbate_campaign(species=["Ti"], sites=["bridge"], mgo_layers=[2], project_dir=tmp_path / "ads")
    assert "\n" not in str(caught.value) and not (tmp_path / "ads").exists()
    with pytest.raises(InputError, match="MgO layers"):
        api.add_adsorbate_campaign(mgo_layers=[0], project_dir=tmp_path / "ads")
    with pytest.raises(InputError, match="not a folder"):
        api.analyze_ldos(tmp_path / "missing")
