"""Structure builders: STM tips, Mn/W(110) and MgO/Ag(100) slabs, adsorbates, junctions.

Builders are plain functions returning :class:`ase.Atoms` with initial magnetic moments,
tags, FixAtoms constraints and metadata in ``atoms.info`` (plain JSON-able values).  Specs are
frozen, validated, serializable dataclasses around them.  Files are extended XYZ written with
:func:`write_structure` and read back unchanged with :func:`read_structure`.
"""

from __future__ import annotations

from tipsurf.structures.adsorbates import build_adsorbate, build_molecule
from tipsurf.structures.checks import check_min_distance
from tipsurf.structures.io import read_structure, write_structure
from tipsurf.structures.junction import build_junction
from tipsurf.structures.mgo_ag100 import build_mgo_ag100
from tipsurf.structures.mn_w110 import build_mn_w110
from tipsurf.structures.specs import (
    AdsorbateSpec,
    JunctionSpec,
    MgOAg100Spec,
    MnW110Spec,
    MoleculeSpec,
    TipSpec,
    spec_from_dict,
)
from tipsurf.structures.tip import build_tip

__all__ = [
    "AdsorbateSpec",
    "JunctionSpec",
    "MgOAg100Spec",
    "MnW110Spec",
    "MoleculeSpec",
    "TipSpec",
    "build_adsorbate",
    "build_junction",
    "build_mgo_ag100",
    "build_mn_w110",
    "build_molecule",
    "build_tip",
    "check_min_distance",
    "read_structure",
    "spec_from_dict",
    "write_structure",
]
