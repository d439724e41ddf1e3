"""A relaxation whose final structure cannot be read is a failed point, never the initial positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ase import Atoms

from tipsurf.engines.qe.engine import _write_structure
from tipsurf.engines.qe.result import final_structure
from tipsurf.engines.qe.starts import STRUCTURE_FILE
from tipsurf.errors import OutputError


def _folder(tmp_path: Path, calculation: str) -> Path:
    atoms = Atoms("Fe2", positions=[[0, 0, 0], [0, 0, 2.3]], cell=[5, 5, 8], pbc=True)
    _write_structure(atoms, tmp_path / STRUCTURE_FILE)
    (tmp_path / "tipsurf_calc.json").write_text(json.dumps({"calculation": calculation}))
    (tmp_path / "pw.out").write_text("     Program PWSCF v.6.7MaX starts on ...\n  damaged, no positions\n")
    return tmp_path


def test_unreadable_relaxed_structure_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="final structure of the relaxation"):
        final_structure(_folder(tmp_path, "relax"), None)


def test_scf_keeps_its_input_structure(tmp_path: Path) -> None:
    atoms = final_structure(_folder(tmp_path, "scf"), None)
    assert atoms is not None and atoms.positions[1, 2] == pytest.approx(2.3)
