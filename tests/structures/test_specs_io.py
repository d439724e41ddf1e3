"""Spec validation, dict round-trips, labels and the extended XYZ round-trip."""

from __future__ import annotations

import json
import re

import ase.io
import numpy as np
import pytest

from tipsurf.errors import InputError
from tipsurf.structures import (
    AdsorbateSpec,
    JunctionSpec,
    MgOAg100Spec,
    MnW110Spec,
    MoleculeSpec,
    TipSpec,
    read_structure,
    spec_from_dict,
    write_structure,
)

SPECS = [
    TipSpec(),
    TipSpec("Mn", 4),
    MnW110Spec(size=(3, 2), one_sided=True),
    MgOAg100Spec(mgo_layers=3, size=2),
    JunctionSpec(MnW110Spec(size=(3, 2)), TipSpec("Co"), "hollow", 2, 4.5, "ap"),
    AdsorbateSpec("TiH2", "bridge", MgOAg100Spec(), 1.8),
    MoleculeSpec("H2"),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label())
def test_dict_round_trip_and_label(spec) -> None:
    d = spec.as_dict()
    assert "kind" in d
    assert json.loads(json.dumps(d)) == d
    assert spec_from_dict(json.loads(json.dumps(d))) == spec
    assert type(spec).from_dict(d) == spec
    assert re.fullmatch(r"[A-Za-z0-9._-]+", spec.label())


def test_labels_distinguish() -> None:
    assert JunctionSpec(MnW110Spec(size=(3, 2)), TipSpec(), "top", 0, 4.5, "p").label() == "Fe3-top0-d4.500-p"
    labels = {s.label() for s in SPECS}
    assert len(labels) == len(SPECS)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: TipSpec(apex="Xx"),
        lambda: TipSpec(layers=0),
        lambda: MnW110Spec(size=(0, 1)),
        lambda: MnW110Spec(vacuum_A=-1),
        lambda: MgOAg100Spec(size=0),
        lambda: JunctionSpec(MnW110Spec(size=(3, 2)), TipSpec(), site="bridge"),
        lambda: JunctionSpec(MnW110Spec(size=(3, 2)), TipSpec(), distance_A=0.0),
        lambda: JunctionSpec(MnW110Spec(size=(3, 2)), TipSpec(), config="x"),
        lambda: JunctionSpec(MnW110Spec(size=(3, 2)), TipSpec(), site_index=12),
        lambda: JunctionSpec(MnW110Spec(size=(3, 2)), TipSpec(), vacuum_above_tip_A=1.0),
        lambda: JunctionSpec(MnW110Spec(), TipSpec()),  # tip wider than a 1x1 cell
        lambda: AdsorbateSpec("TiH9"),
        lambda: AdsorbateSpec("Ti", "atop"),
        lambda: MoleculeSpec("CH4"),
        lambda: spec_from_dict({"kind": "nope"}),
        lambda: spec_from_dict({"kind": "tip", "colour": "red"}),
    ],
)
def test_invalid_specs(factory) -> None:
    with pytest.raises(InputError) as err:
        factory()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label())
def test_extxyz_round_trip(spec, tmp_path) -> None:
    atoms = spec.build()
    path = write_structure(atoms, tmp_path / "s.xyz")
    back = read_structure(path)
    assert back.info == atoms.info
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert np.allclose(back.positions, atoms.positions, atol=1e-7)
    assert np.allclose(back.cell, atoms.cell) and list(back.pbc) == list(atoms.pbc)
    assert np.array_equal(back.get_initial_magnetic_moments(), atoms.get_initial_magnetic_moments())
    assert np.array_equal(back.get_tags(), atoms.get_tags())
    fixed = [c.get_indices().tolist() for c in atoms.constraints]
    assert [c.get_indices().tolist() for c in back.constraints] == fixed
    plain = ase.io.read(path)  # plain ASE sees moments and metadata too
    assert np.array_equal(plain.get_initial_magnetic_moments(), atoms.get_initial_magnetic_moments())
    assert plain.info["kind"] == atoms.info["kind"]


def test_tricky_info_values(tmp_path) -> None:
    atoms = TipSpec().build()
    atoms.info.update({"empty": "", "nan_text": "nan", "spaced": "a b", "flag": True, "n": 3, "x": 0.1 + 0.2, "t": "T", "num": "5"})
    back = read_structure(write_structure(atoms, tmp_path / "t.xyz"))
    assert back.info == atoms.info
    assert all(type(back.info[k]) is type(atoms.info[k]) for k in atoms.info)


def test_read_errors(tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_structure(tmp_path / "missing.xyz")
    bad = tmp_path / "bad.xyz"
    bad.write_text("not an xyz file\n")
    with pytest.raises(InputError):
        read_structure(bad)
