"""`tipsurf build ...` commands: files, summaries and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from tipsurf.cli import main
from tipsurf.structures import read_structure


def test_build_tip(tmp_path, capsys) -> None:
    out = tmp_path / "tip.xyz"
    assert main(["build", "tip", "--apex", "Mn", "--layers", "3", "-o", str(out)]) == 0
    atoms = read_structure(out)
    assert len(atoms) == 14 and atoms[atoms.info["apex_index"]].symbol == "Mn"
    text = capsys.readouterr().out
    assert "Fe13Mn" in text and "14" in text and "-3.50" in text


def test_build_slabs(tmp_path, capsys) -> None:
    out = tmp_path / "mnw.xyz"
    assert main(["build", "slab", "mn-w110", "--w-layers", "3", "--size", "2x1", "--one-sided", "-o", str(out)]) == 0
    slab = read_structure(out)
    assert slab.info["size"] == [2, 1] and slab.info["one_sided"] is True
    assert slab.get_chemical_formula() == "Mn4W12"
    out2 = tmp_path / "mgo.xyz"
    assert main(["build", "slab", "mgo-ag100", "--mgo-layers", "3", "--ag-layers", "3", "--size", "2", "-o", str(out2)]) == 0
    assert read_structure(out2).get_chemical_formula() == "Ag24Mg24O24"


def test_build_adsorbate_and_h2(tmp_path, capsys) -> None:
    out = tmp_path / "ads.xyz"
    assert main(["build", "adsorbate", "--species", "TiH2", "--site", "bridge", "--mgo-layers", "3", "-o", str(out)]) == 0
    atoms = read_structure(out)
    assert atoms.info["species"] == "TiH2" and atoms.info["site"] == "bridge" and atoms.info["mgo_layers"] == 3
    out2 = tmp_path / "h2.xyz"
    assert main(["build", "adsorbate", "--species", "H2", "-o", str(out2)]) == 0
    assert read_structure(out2).get_chemical_formula() == "H2"
    out3 = tmp_path / "tih4.xyz"
    assert main(["build", "molecule", "--species", "TiH4", "-o", str(out3)]) == 0
    assert read_structure(out3).info["kind"] == "molecule"


def test_build_junction(tmp_path, capsys) -> None:
    out = tmp_path / "j.xyz"
    args = ["build", "junction", "--surface", "mn-w110", "--tip", "Fe", "--tip-layers", "2", "--w-layers", "3",
            "--size", "2x1", "--site", "top", "--site-index", "1", "--distance", "4.5", "--config", "ap", "-o", str(out)]
    assert main(args) == 0
    j = read_structure(out)
    apex, refs = j.info["apex_index"], j.info["reference_indices"]
    assert np.isclose(j.positions[apex, 2] - j.positions[refs[0], 2], 4.5)
    m = j.get_initial_magnetic_moments()
    assert np.sign(m[apex]) == -np.sign(m[refs[0]])
    assert j.info["config"] == "ap" and j.info["tip_layers"] == 2 and j.info["site_index"] == 1
    text = capsys.readouterr().out
    assert "d 4.500" in text and "reference" in text and "apex" in text


BAD = [
    ["build", "tip", "--apex", "Xx"],
    ["build", "tip", "--layers", "abc"],
    ["build", "tip", "--layers", "0"],
    ["build", "slab", "mn-w110", "--size", "2y1"],
    ["build", "slab", "mn-w110", "--size", "2x"],
    ["build", "slab", "mn-w110", "--w-layers", "-1"],
    ["build", "slab", "mgo-ag100", "--size", "2x2"],
    ["build", "adsorbate", "--species", "TiH7"],
    ["build", "adsorbate", "--site", "top"],
    ["build", "adsorbate", "--height", "0.3"],
    ["build", "molecule", "--species", "CH4"],
    ["build", "junction", "--surface", "pt111", "--distance", "5"],
    ["build", "junction", "--tip", "Ag", "--distance", "5"],
    ["build", "junction", "--site", "bridge", "--distance", "5"],
    ["build", "junction", "--site-index", "99", "--distance", "5"],
    ["build", "junction", "--distance", "0"],
    ["build", "junction", "--distance", "-3"],
    ["build", "junction", "--distance", "1.0"],
    ["build", "junction", "--distance", "five"],
    ["build", "junction", "--distance", "5", "--config", "up"],
    ["build", "junction", "--distance", "5", "--vacuum-above-tip", "-2"],
    ["build", "junction", "--distance", "5", "--size", "1x1"],
]


@pytest.mark.parametrize("args", BAD, ids=lambda a: " ".join(a[1:]))
def test_errors_are_one_line_and_write_nothing(args, tmp_path, capsys) -> None:
    out = tmp_path / "bad.xyz"
    code = main([*args, "-o", str(out)])
    captured = capsys.readouterr()
    assert code != 0
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists() and list(tmp_path.iterdir()) == []
