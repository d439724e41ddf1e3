"""`tipsurf export`: stored records as an ASE database, checked row by row against the store.

The stored results are synthetic records (no pw.x): the 4-atom scan records of
``analysis_records_helpers`` with a structure and starting moments, and an adsorbate campaign
(Ti, TiH2, the H2 reference, the bare slab, one unconverged point), written into a real
embedded launchpad with the store's own functions.  One test exports a real pw.x 6.7 output of
../shared/refdata parsed by tipsurf's QE parser (skipped without ../shared).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase.db import connect

from tipsurf.analysis.ase_db import RowContext, fingerprint_key, initial_moments_muB, record_key_values, write_ase_db
from tipsurf.cli import main
from tipsurf.workflows import store
from tipsurf.workflows.launchpad import open_launchpad

from analysis_records_helpers import analytic_scan

SCAN = "fe-top"
ADS = "ti-mgo"
DISTANCES_A = [4.0, 4.25, 4.5, 5.0]
SURFACE_Z_A = 6.0


def _as_junction(record: dict[str, Any]) -> dict[str, Any]:
    """Give a helper scan record a structure (apex d above the reference Mn) and starting moments."""
    meta = record["metadata"]
    d, config = meta["distance_A"], meta["config"]
    apex0 = 3.0 if config == "p" else -3.0
    record.update({
        "symbols": ["Mn", "W", "Fe", "Fe"],
        "positions_A": [[0.0, 0.0, SURFACE_Z_A], [1.6, 1.1, SURFACE_Z_A - 2.0],
                        [0.0, 0.0, SURFACE_Z_A + d + 2.0], [0.0, 0.0, SURFACE_Z_A + d]],
        "cell_A": [[3.17, 0.0, 0.0], [0.0, 4.48, 0.0], [0.0, 0.0, 25.0]],
        "total_magnetization_muB": float(sum(record["magmoms_muB"])),
        "extra": {"initial_magmoms_muB": [3.5, -3.5, 2.5, apex0]},
        "_calculation": "scf",
    })
    meta.update({"kind": "junction", "surface": "mn-w110", "tip_base": "Fe"})
    return record


def scan_records() -> list[dict[str, Any]]:
    """p/ap records at four distances; the ap point at 4.25 A converged with the apex flipped (p)."""
    records = [_as_junction(r) for r in analytic_scan(DISTANCES_A)]
    flipped = next(r for r in records if r["metadata"]["distance_A"] == 4.25 and r["metadata"]["config"] == "ap")
    flipped["magmoms_muB"][3] = 3.0
    return records


def _adsorbate(species: str, site: str | None, energy: float | None, converged: bool = True) -> dict[str, Any]:
    n_h = {"Ti": 0, "TiH2": 2, "H2": 2}.get(species, 0)
    symbols = ([] if species == "H2" else ["O", "Mg", "Ag", "Ti"]) + ["H"] * n_h
    if species == "slab":
        symbols = ["O", "Mg", "Ag"]
    positions = [[0.5 * i, 0.3 * i, 8.0 + 1.2 * i] for i in range(len(symbols))]
    start = [2.0 if s == "Ti" else 0.0 for s in symbols]
    meta: dict[str, Any] = {"kind": "molecule" if species == "H2" else ("surface" if species == "slab" else "adsorbate")}
    if species != "slab":
        meta["species"] = species
    if site:
        meta.update({"site": site, "surface": "mgo-ag100", "mgo_layers": 2})
    if species == "slab":
        meta.update({"surface": "mgo-ag100", "mgo_layers": 2})
    return {
        "code": "qe", "energy_eV": energy if converged else None, "converged": converged,
        "fingerprint": hashlib.sha256(f"{species}-{site}-{converged}".encode()).hexdigest()[:24],
        "symbols": symbols, "positions_A": positions, "cell_A": [[8.4, 0, 0], [0, 8.4, 0], [0, 0, 30.0]],
        "forces_eV_per_A": [[0.0, 0.0, 0.01 * i] for i in range(len(symbols))] if converged else None,
        "magmoms_muB": [1.1 if s == "Ti" else 0.0 for s in symbols] if converged else None,
        "metadata": meta, "extra": {"initial_magmoms_muB": start}, "_calculation": "relax",
    }


def adsorbate_records() -> list[dict[str, Any]]:
    """Ti and TiH2 on the bridge site, the H2 reference, the bare slab and an unconverged Ti on O-top."""
    return [_adsorbate("Ti", "bridge", -3000.1), _adsorbate("TiH2", "bridge", -3032.4), _adsorbate("H2", None, -31.7),
            _adsorbate("slab", None, -2990.0), _adsorbate("Ti", "o-top", None, converged=False)]


def _save_campaign(db: Any, name: str, kind: str, inputs: dict[str, Any], records: list[dict[str, Any]]) -> None:
    points = [{"fingerprint": r["fingerprint"], "label": r["fingerprint"], "role": "point", "metadata": {}} for r in records]
    store.register_campaign(db, name, kind, inputs, points)
    for record in records:
        store.store_result(db, record, campaign=name)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with an embedded launchpad holding a scan and an adsorbate campaign."""
    with open_launchpad(project_dir=tmp_path) as handle:
        _save_campaign(handle.db, SCAN, "distance_scan", {"preset": {"name": "fast"}, "d0_A": 5.0}, scan_records())
        _save_campaign(handle.db, ADS, "adsorbates", {"preset": {"name": "tio-mgo-qe"}}, adsorbate_records())
        handle.flush()
    return tmp_path


def _export(project: Path, output: Path, *selection: str) -> int:
    return main(["export", *selection, "-o", str(output), "--project", str(project)])


def test_export_rows_match_the_store_and_a_reexport_adds_no_rows(project: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "results.db"
    assert _export(project, output, "--name", SCAN) == 0
    assert "8 new row(s), 0 updated" in capsys.readouterr().out
    stored = store.load_campaign_records(SCAN, project_dir=project)
    db = connect(str(output))
    assert db.count() == len(stored) == 8
    for record in stored:
        row = db.get(fingerprint=record["fingerprint"])
        meta = record["metadata"]
        assert row.energy == pytest.approx(record["energy_eV"], abs=1e-9)
        assert (row.d_A, row.config, row.site, row.tip) == (meta["distance_A"], meta["config"], "top", "Fe")
        assert row.delta_d_A == pytest.approx(meta["distance_A"] - 5.0)
        assert (row.campaign, row.preset, row.code, row.converged) == (SCAN, "fast", "qe", True)
        np.testing.assert_allclose(row.magmoms, record["magmoms_muB"])
        np.testing.assert_allclose(row.initial_magmoms, record["extra"]["initial_magmoms_muB"])
        np.testing.assert_allclose(row.forces, record["forces_eV_per_A"])
        np.testing.assert_allclose(row.toatoms().get_magnetic_moments(), record["magmoms_muB"])
        assert row.spin_flip == (meta["distance_A"] == 4.25 and meta["config"] == "ap")

    # the selection `ase db results.db config=ap,d_A<4.5` uses
    wanted = {r["fingerprint"] for r in stored if r["metadata"]["config"] == "ap" and r["metadata"]["distance_A"] < 4.5}
    assert {row.fingerprint for row in db.select("config=ap,d_A<4.5")} == wanted and len(wanted) == 2
    assert [row.d_A for row in db.select("spin_flip=True")] == [4.25]
    listed = subprocess.run([sys.executable, "-m", "ase", "db", str(output), "config=ap,d_A<4.5", "-c", "id,d_A,config"],
                            capture_output=True, text=True, check=True).stdout
    assert "Rows: 2" in listed

    ids = {row.fingerprint: row.id for row in db.select()}
    assert _export(project, output, "--name", SCAN) == 0
    assert "0 new row(s), 8 updated" in capsys.readouterr().out
    db = connect(str(output))
    assert db.count() == 8 and {row.fingerprint: row.id for row in db.select()} == ids


def test_export_all_adds_the_adsorbate_campaign_with_its_keys(project: Path, tmp_path: Path) -> None:
    output = tmp_path / "results.db"
    assert _export(project, output, "--name", SCAN) == 0
    assert _export(project, output, "--all") == 0
    db = connect(str(output))
    assert db.count() == 8 + 5
    tih2 = db.get(species="TiH2")
    assert (tih2.site, tih2.n_H, tih2.mgo_layers, tih2.campaign, tih2.preset) == ("bridge", 2, 2, ADS, "tio-mgo-qe")
    assert tih2.spin_flip is False and "d_A" not in tih2 and "config" not in tih2
    assert db.get(species="Ti", converged=True).n_H == 0
    assert db.get(species="H2").n_H == 2
    slab = db.get(kind="surface")
    assert "species" not in slab and "n_H" not in slab
    failed = db.get(converged=False)
    assert failed.get("energy") is None and failed.site == "o-top" and "spin_flip" not in failed
    assert db.count("campaign=fe-top") == 8


@pytest.mark.parametrize(
    "selection, output_name, message",
    [
        (["--name", "nope"], "results.db", "no campaign named 'nope'"),
        (["--name", SCAN], "missing/results.db", "does not exist"),
        (["--name", SCAN], "results.csv", "must end in .db"),
        ([], "results.db", "exactly one of --name CAMPAIGN or --all"),
        (["--all", "--name", SCAN], "results.db", "exactly one of --name CAMPAIGN or --all"),
    ],
)
def test_bad_export_is_one_line_error_and_writes_nothing(project: Path, tmp_path: Path, capsys, selection: list[str],
                                                        output_name: str, message: str) -> None:
    store_file = project / ".tipsurf" / "launchpad.json"
    before = store_file.read_bytes()
    output = tmp_path / "out" / output_name
    (tmp_path / "out").mkdir()
    capsys.readouterr()
    assert _export(project, output, *selection) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert list((tmp_path / "out").iterdir()) == []
    assert store_file.read_bytes() == before


def test_an_existing_file_that_is_not_an_ase_database_is_left_alone(project: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "results.db"
    output.write_text("not a database\n")
    assert _export(project, output, "--all") != 0
    assert capsys.readouterr().err.startswith("error: ") and output.read_text() == "not a database\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".results.db")] == []


def test_a_fingerprint_that_reads_as_a_number_stays_one_row(tmp_path: Path) -> None:
    record = scan_records()[0]
    record["fingerprint"] = "123456789012345678901234"
    output = tmp_path / "numeric.db"
    for _ in range(2):
        write_ase_db(output, [(record, RowContext(SCAN))])
    db = connect(str(output))
    assert db.count() == 1 and db.get(id=1).fingerprint == fingerprint_key(record["fingerprint"]) == "fp:" + record["fingerprint"]


def test_vasp_starting_moments_come_back_in_atom_order() -> None:
    record = {"symbols": ["Fe", "O", "Fe", "O"],
              "extra": {"poscar_order": [0, 2, 1, 3], "parameters": {"incar": {"MAGMOM": [5.0, -5.0, 0.6, 0.6]}}}}
    assert initial_moments_muB(record) == [5.0, 0.6, -5.0, 0.6]


def test_keys_are_valid_ase_key_values() -> None:
    record = scan_records()[1]
    record["code_version"] = "6.7"  # text that reads as a number is never a key value
    record["metadata"]["tip_layers"] = "9-4-1"
    pairs = record_key_values(record, RowContext(SCAN, preset="fast"))
    assert all(k.isidentifier() for k in pairs) and all(isinstance(v, (str, int, float, bool)) for v in pairs.values())
    assert pairs["tip_layers"] == "9-4-1" and "code_version" not in pairs


def test_real_pw67_output_exports_its_moments(refdata_dir: Path, tmp_path: Path) -> None:
    """FeCo B2 from pw.x 6.7 (the per-site format ASE misreads): tipsurf's parser, then a row."""
    from ase.io import read

    from tipsurf.engines.qe.outputs import parse_pw_output

    folder = refdata_dir / "qe" / "local_pw67_feco_b2"
    out = parse_pw_output(folder / "pw.out")
    structure = read(folder / "pw.in", format="espresso-in")
    record = {
        "code": "qe", "code_version": out.code_version, "energy_eV": out.energy_eV, "converged": out.converged,
        "forces_eV_per_A": out.forces_eV_per_A, "magmoms_muB": out.magmoms_muB,
        "total_magnetization_muB": out.total_magnetization_muB, "fingerprint": "feco-b2-pw67",
        "symbols": structure.get_chemical_symbols(), "positions_A": structure.positions.tolist(),
        "cell_A": structure.cell.tolist(), "metadata": {},  # no starting moments in uB recorded
    }
    output = tmp_path / "feco.db"
    write_ase_db(output, [(record, RowContext("refdata"))])
    row = connect(str(output)).get(fingerprint="feco-b2-pw67")
    np.testing.assert_allclose(row.magmoms, [2.9930, 1.9751])
    assert row.energy == pytest.approx(out.energy_eV) and row.magmom == pytest.approx(out.total_magnetization_muB)
    np.testing.assert_allclose(np.abs(row.forces[:, 2]), abs(out.forces_eV_per_A[0][2]))
    assert "spin_flip" not in row  # without starting moments a flip cannot be told
