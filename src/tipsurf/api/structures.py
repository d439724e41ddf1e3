"""``tipsurf build …`` and structure files as Python functions; Atoms ↔ pymatgen Structure.

Part of :mod:`tipsurf.api` (the command table is there).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from ase import Atoms

from tipsurf.errors import InputError
from tipsurf.structures.specs import AdsorbateSpec, JunctionSpec, MgOAg100Spec, MnW110Spec, MoleculeSpec, TipSpec


if TYPE_CHECKING:
    from pymatgen.core import Structure

StructureLike = Union[Atoms, "Structure"]
PathLike = Union[str, "os.PathLike[str]"]
Record = dict[str, Any]


# ----------------------------------------------------------------------------- conversions


def to_atoms(structure: StructureLike, what: str = "structure") -> Atoms:
    """An independent :class:`ase.Atoms` copy of an Atoms or a pymatgen Structure.

    A Structure keeps what tipsurf needs through pymatgen's ``AseAtomsAdaptor``: site
    property ``magmom`` becomes the initial moments, ``selective_dynamics`` the FixAtoms
    constraint, ``tags`` the tags, and ``Structure.properties`` the ``atoms.info`` metadata
    (sites, apex and reference indices) that the builders write.

    Parameters
    ----------
    structure
        Atoms or pymatgen ``Structure``.
    what
        Name used in the error message (e.g. ``"surface"``).

    Raises
    ------
    InputError
        Anything else (a file name, a spec, a Molecule ...).
    """
    if isinstance(structure, Atoms):
        atoms = structure.copy()
        atoms.info = copy.deepcopy(structure.info)
        return atoms
    from pymatgen.core import Structure

    if isinstance(structure, Structure):
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_atoms(structure, msonable=False)
    raise InputError(f"{what} must be an ase.Atoms or a pymatgen Structure, got {type(structure).__name__}")


def to_structure(structure: StructureLike, what: str = "structure") -> Structure:
    """A pymatgen ``Structure`` of an Atoms (moments as site property ``magmom``, info as properties).

    Raises
    ------
    InputError
        Not an Atoms or Structure, or an Atoms without a 3D cell.
    """
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    if isinstance(structure, Structure):
        return structure.copy()
    atoms = to_atoms(structure, what)
    if atoms.cell.rank < 3:
        raise InputError(f"{what} has no 3D cell; a pymatgen Structure needs one")
    return AseAtomsAdaptor.get_structure(atoms)


def _out(atoms: Atoms, as_pymatgen: bool) -> StructureLike:
    return to_structure(atoms) if as_pymatgen else atoms


def _spec(value: Any, cls: type, default: Any, what: str, structures: bool = False) -> Any:
    """A spec of ``cls`` from an instance, its ``as_dict()`` (``kind`` optional) or None (default)."""
    if value is None:
        return default
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return cls.from_dict({"kind": cls.kind, **dict(value)})
    also = ", an ase.Atoms or a pymatgen Structure" if structures else ""
    raise InputError(f"{what} must be a {cls.__name__}, a dict of its fields{also}; got {type(value).__name__}")


def _scan_part(value: Any, cls: type, what: str) -> Any:
    spec = _spec(value, cls, None, what)
    if spec is None:
        raise InputError(f"a scan needs its {what}: a {cls.__name__} or a dict of its fields")
    return spec


def _is_structure(value: Any) -> bool:
    if isinstance(value, Atoms):
        return True
    try:
        from pymatgen.core import Structure
    except ImportError:  # pragma: no cover - pymatgen is a dependency
        return False
    return isinstance(value, Structure)


# ----------------------------------------------------------------------------- structures


def build_tip(apex: str = "Fe", layers: int = 3, base: str = "Fe", a_A: float = 2.85, *,
              as_pymatgen: bool = False) -> StructureLike:
    """Isolated bcc(001) pyramidal tip (``tipsurf build tip``).

    Parameters
    ----------
    apex
        Apex element (Fe, Co, Mn; also Cr, Ni).
    layers
        Layers 1..6 (3 = the reference 14-atom 9/4/1 pyramid; 1 = the apex atom alone).
    base
        Element of the other atoms.
    a_A
        bcc lattice constant of the base (Å).
    as_pymatgen
        Return a pymatgen Structure instead of Atoms.

    Returns
    -------
    ase.Atoms or pymatgen.core.Structure
        Initial moments, FixAtoms on the base, ``info`` with ``apex_index`` and the spec.
    """
    return _out(TipSpec(apex=apex, layers=layers, base=base, a_A=a_A).build(), as_pymatgen)


def build_mn_w110_slab(w_layers: int = 5, size: tuple[int, int] = (1, 1), *, one_sided: bool = False,
                       a_A: float = 3.17, vacuum_A: float = 10.0, as_pymatgen: bool = False) -> StructureLike:
    """Mn/W(110) slab with c(2×2) antiferromagnetic Mn (``tipsurf build slab mn-w110``).

    Parameters
    ----------
    w_layers
        W(110) layers.
    size
        Lateral repetitions ``(nx, ny)`` of the a × a√2 cell.
    one_sided
        Mn on the top side only (default: both sides, a symmetric slab).
    a_A, vacuum_A
        W lattice constant and the vacuum on each side (Å).
    as_pymatgen
        Return a pymatgen Structure instead of Atoms.

    Returns
    -------
    ase.Atoms or pymatgen.core.Structure
        With ``info['sites']`` (``top``, ``hollow``) that :func:`build_junction` places tips on.
    """
    spec = MnW110Spec(w_layers=w_layers, size=tuple(size), one_sided=one_sided, a_A=a_A, vacuum_A=vacuum_A)
    return _out(spec.build(), as_pymatgen)


def build_mgo_ag100_slab(mgo_layers: int = 2, ag_layers: int = 4, size: int = 1, *, a_A: float = 4.09,
                         vacuum_A: float = 20.0, as_pymatgen: bool = False) -> StructureLike:
    """MgO(n)/Ag(100) slab (``tipsurf build slab mgo-ag100``).

    Parameters
    ----------
    mgo_layers, ag_layers
        MgO monolayers and Ag(100) layers.
    size
        ``size × size`` repetitions of the a × a cell.
    a_A, vacuum_A
        Ag lattice constant and vacuum (Å).
    as_pymatgen
        Return a pymatgen Structure instead of Atoms.
    """
    spec = MgOAg100Spec(mgo_layers=mgo_layers, ag_layers=ag_layers, size=size, a_A=a_A, vacuum_A=vacuum_A)
    return _out(spec.build(), as_pymatgen)


def build_adsorbate(species: str = "Ti", site: str = "o-top", *, mgo_layers: int = 2, ag_layers: int = 4,
                    size: int = 1, height_A: float | None = None, as_pymatgen: bool = False) -> StructureLike:
    """Ti or TiHx on MgO/Ag(100) (``tipsurf build adsorbate``).

    Parameters
    ----------
    species
        ``Ti``, ``TiH``, ``TiH2``, ``TiH3`` or ``TiH4`` (the H2 molecule: :func:`build_molecule`).
    site
        ``o-top``, ``bridge`` or ``hollow``.
    mgo_layers, ag_layers, size
        The slab, as in :func:`build_mgo_ag100_slab`.
    height_A
        Ti height above the MgO (Å); default per site.
    as_pymatgen
        Return a pymatgen Structure instead of Atoms.
    """
    slab = MgOAg100Spec(mgo_layers=mgo_layers, ag_layers=ag_layers, size=size)
    return _out(AdsorbateSpec(species=species, site=site, slab=slab, height_A=height_A).build(), as_pymatgen)


def build_molecule(species: str = "H2", box_A: float = 12.0, *, as_pymatgen: bool = False) -> StructureLike:
    """Gas-phase reference molecule (H2, Ti, TiHx) in a cubic box of edge ``box_A`` (``tipsurf build molecule``)."""
    return _out(MoleculeSpec(species=species, box_A=box_A).build(), as_pymatgen)


def build_junction(
    surface: MnW110Spec | Mapping[str, Any] | StructureLike | None = None,
    tip: TipSpec | Mapping[str, Any] | StructureLike | None = None,
    *,
    distance_A: float,
    site: str = "top",
    site_index: int = 0,
    config: str = "p",
    vacuum_above_tip_A: float = 10.0,
    scan_d_max_A: float | None = None,
    as_pymatgen: bool = False,
) -> StructureLike:
    """A tip over a site of Mn/W(110) at apex–surface distance d (``tipsurf build junction``).

    Parameters
    ----------
    surface
        :class:`MnW110Spec` (or a dict of its fields), or a built slab as Atoms/Structure,
        e.g. one you relaxed, that still carries the builder's metadata (``info['sites']``,
        ``surface_z_A``).  Default: 5 W layers, 3×2, Mn on both sides, as the CLI.
    tip
        :class:`TipSpec` (or a dict), or a built tip as Atoms/Structure carrying
        ``info['apex_index']``.  Default: the 14-atom Fe pyramid.
    distance_A
        Vertical distance between the apex and the surface Mn plane (Å).
    site, site_index
        ``top`` or ``hollow`` and which one.
    config
        ``p`` (apex parallel to the Mn under it / its neighbours) or ``ap``.
    vacuum_above_tip_A
        Vacuum between the tip's top and the slab's periodic image (Å).
    scan_d_max_A
        The cell of a scan whose largest distance this is (see :func:`scan_junctions`).
    as_pymatgen
        Return a pymatgen Structure instead of Atoms.

    Returns
    -------
    ase.Atoms or pymatgen.core.Structure
        Surface atoms first, then the tip; ``info`` with ``apex_index``, ``tip_indices``,
        ``reference_indices``, ``distance_A``, ``config`` ... and, when built from specs only,
        the :class:`JunctionSpec` as ``spec``.

    Raises
    ------
    InputError
        Bad site, index, distance or config; a structure without the builder's metadata;
        atoms closer than 1.5 Å.
    """
    if _is_structure(surface) or _is_structure(tip):
        from tipsurf.structures.junction import build_junction as assemble

        slab = to_atoms(surface, "surface") if _is_structure(surface) else _spec(
            surface, MnW110Spec, MnW110Spec(size=(3, 2)), "surface", True).build()
        tip_atoms = to_atoms(tip, "tip") if _is_structure(tip) else _spec(tip, TipSpec, TipSpec(), "tip", True).build()
        atoms = assemble(slab, tip_atoms, site, site_index, distance_A, config, vacuum_above_tip_A, scan_d_max_A)
        atoms.info.pop("spec", None)  # the slab's spec (carried over) does not describe this junction
    else:
        atoms = JunctionSpec(
            surface=_spec(surface, MnW110Spec, MnW110Spec(size=(3, 2)), "surface", True),
            tip=_spec(tip, TipSpec, TipSpec(), "tip", True),
            site=site, site_index=site_index, distance_A=distance_A, config=config,
            vacuum_above_tip_A=vacuum_above_tip_A, scan_d_max_A=scan_d_max_A,
        ).build()
    return _out(atoms, as_pymatgen)


def scan_junctions(
    surface: MnW110Spec | Mapping[str, Any],
    tip: TipSpec | Mapping[str, Any],
    site: str,
    distances_A: str | Sequence[float],
    *,
    configs: Sequence[str] = ("p", "ap"),
    site_index: int = 0,
    vacuum_above_tip_A: float = 10.0,
    as_pymatgen: bool = False,
) -> list[StructureLike]:
    """The junctions a distance scan computes, to look at before adding it (no launchpad, no code).

    All share the cell and slab position of the largest distance, as in :func:`add_scan`.

    Parameters
    ----------
    surface, tip, site, distances_A, configs, site_index, vacuum_above_tip_A
        As in :func:`add_scan`.
    as_pymatgen
        Return pymatgen Structures instead of Atoms.

    Returns
    -------
    list
        One structure per (configuration, distance): configurations in the given order,
        distances farthest first (the order each chain runs).
    """
    from tipsurf.workflows.scan import parse_distances

    dists = parse_distances(distances_A)
    surf, tip_spec = _scan_part(surface, MnW110Spec, "surface"), _scan_part(tip, TipSpec, "tip")
    return [build_junction(surf, tip_spec, distance_A=d, site=site, site_index=site_index, config=config,
                           vacuum_above_tip_A=vacuum_above_tip_A, scan_d_max_A=max(dists), as_pymatgen=as_pymatgen)
            for config in configs for d in sorted(dists, reverse=True)]


def read_structure(path: PathLike, *, as_pymatgen: bool = False) -> StructureLike:
    """Read an extended XYZ file written by ``tipsurf build`` or :func:`write_structure` (metadata kept)."""
    from tipsurf.structures.io import read_structure as read

    return _out(read(path), as_pymatgen)


def write_structure(structure: StructureLike, path: PathLike) -> str:
    """Write an Atoms or Structure as extended XYZ with moments, tags, constraints and metadata; returns the path."""
    from tipsurf.structures.io import write_structure as write

    return str(write(to_atoms(structure), path))


def record_structure(record: Mapping[str, Any], *, as_pymatgen: bool = False) -> StructureLike:
    """Final structure of a result record: initial moments plus a single-point calculator
    with energy (eV), forces (eV/Å) and final moments (μB), as ``tipsurf export`` stores it.

    Raises
    ------
    InputError
        The record has no structure.
    """
    from tipsurf.analysis.ase_db import record_atoms

    atoms = record_atoms(dict(record))
    return _out(atoms, as_pymatgen)
