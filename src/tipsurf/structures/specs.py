"""Validated, serializable structure specifications.

Each spec is a frozen dataclass that checks its fields in ``__post_init__`` (raising
:class:`~tipsurf.errors.InputError` with a one-line message), converts to and from plain dicts
(``as_dict`` carries a ``kind`` key; :func:`spec_from_dict` dispatches on it), builds its
:class:`ase.Atoms` with :meth:`build` (``info['spec']`` = ``as_dict()``) and names itself with a
short filesystem-safe :meth:`label`.  A :class:`JunctionSpec` also builds itself once while
validating, so geometric clashes (a tip too wide for the lateral cell, d too small) are
reported when the spec is made.
"""

from __future__ import annotations

import copy

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ase import Atoms

from tipsurf.errors import InputError
from tipsurf.structures.adsorbates import ADSORBATE_SITES, ADSORBATE_SPECIES, MOLECULE_SPECIES, build_adsorbate, build_molecule
from tipsurf.structures.checks import require_choice, require_int, require_positive
from tipsurf.structures.junction import CONFIGS, MIN_VACUUM_ABOVE_TIP_A, build_junction
from tipsurf.structures.mgo_ag100 import AG_O_INTERFACE_A, MGO_SPACING_A, build_mgo_ag100
from tipsurf.structures.mn_w110 import MN_ORDERS, build_mn_w110
from tipsurf.structures.tip import APEX_ELEMENTS, BASE_ELEMENTS, MAX_TIP_LAYERS, TIP_SHAPES, build_tip

MN_W110_SITES: tuple[str, ...] = ("top", "hollow")


def _set(obj: Any, name: str, value: Any) -> None:
    """Assign to a frozen dataclass field during ``__post_init__``."""
    object.__setattr__(obj, name, value)


def _as_float(obj: Any, name: str) -> None:
    """Validate a positive number field and store it as float."""
    value = getattr(obj, name)
    require_positive(name, value)
    _set(obj, name, float(value))


def _num(value: float) -> str:
    """Compact number for labels: 3 decimals, no trailing zeros ('4.5', '2.85')."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _tags(*items: tuple[str, float | None, float | None]) -> str:
    """Label suffixes ``-<tag><value>`` of the values that differ from their default.

    Each item is (tag, value, default); a value of None is left out, a default of None means
    any given value is shown.
    """
    return "".join(f"-{tag}{_num(value)}" for tag, value, default in items
                   if value is not None and (default is None or not math.isclose(value, default)))


class _SpecBase:
    """as_dict / from_dict shared by all specs."""

    kind: ClassVar[str] = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the fields plus ``kind`` (nested specs as dicts, tuples as lists)."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, _SpecBase):
                value = value.as_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """Inverse of :meth:`as_dict`; InputError for a wrong kind or unknown keys."""
        if not isinstance(d, dict):
            raise InputError(f"a {cls.kind} spec must be a mapping, got {type(d).__name__}")
        data = dict(d)
        kind = data.pop("kind", cls.kind)
        if kind != cls.kind:
            raise InputError(f"expected a spec of kind {cls.kind!r}, got {kind!r}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"unknown field(s) {', '.join(unknown)} for a {cls.kind} spec; known: {', '.join(sorted(names))}")
        return cls(**cls._nested(data))

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Hook turning nested dicts into specs."""
        return data


@dataclass(frozen=True)
class TipSpec(_SpecBase):
    """bcc(001) pyramid or bcc(110) layer tip (see :func:`tipsurf.structures.tip.build_tip`)."""

    apex: str = "Fe"
    layers: int = 3
    base: str = "Fe"
    a_A: float = 2.85
    shape: str = "pyramid"
    layer_spacing_A: float | None = None
    cell_size: tuple[int, int] = (1, 1)
    kind: ClassVar[str] = "tip"

    def __post_init__(self) -> None:
        require_choice("apex element", self.apex, APEX_ELEMENTS)
        require_choice("tip base element", self.base, BASE_ELEMENTS)
        require_int("tip layers", self.layers, 1, MAX_TIP_LAYERS)
        _set(self, "layers", int(self.layers))
        _as_float(self, "a_A")
        require_choice("tip shape", self.shape, TIP_SHAPES)
        if self.layer_spacing_A is not None:
            _as_float(self, "layer_spacing_A")
        _set(self, "cell_size", tuple(self.cell_size))

    def build(self) -> Atoms:
        """Build the isolated tip."""
        atoms = build_tip(
            self.apex, self.layers, self.base, self.a_A, shape=self.shape, layer_spacing_A=self.layer_spacing_A,
            cell_size=self.cell_size,
        )
        atoms.info["spec"] = self.as_dict()
        return atoms

    def label(self) -> str:
        """E.g. ``Fe3``, ``Mn3`` (Fe base), ``Co4-Cr-a2.91``, ``Fe2-b110-a3.17-s2`` (bcc110 shape)."""
        text = f"{self.apex}{self.layers}"
        if self.base != "Fe":
            text += f"-{self.base}"
        if self.shape != "pyramid":
            text += "-b110"
        text += _tags(("a", self.a_A, 2.85), ("s", self.layer_spacing_A, None))
        if self.shape == "bcc110" and tuple(self.cell_size) != (1, 1):
            text += f"-c{self.cell_size[0]}x{self.cell_size[1]}"
        return text


@dataclass(frozen=True)
class MnW110Spec(_SpecBase):
    """Mn/W(110) slab (see :func:`tipsurf.structures.mn_w110.build_mn_w110`)."""

    w_layers: int = 5
    size: tuple[int, int] = (1, 1)
    a_A: float = 3.17
    one_sided: bool = False
    vacuum_A: float = 10.0
    mn_w_spacing_A: float | None = None
    mn_order: str = MN_ORDERS[0]
    kind: ClassVar[str] = "mn-w110"

    def __post_init__(self) -> None:
        require_int("W layers", self.w_layers, 1, 15)
        if not isinstance(self.size, (tuple, list)) or len(self.size) != 2:
            raise InputError(f"lateral size must be two integers (nx, ny), got {self.size!r}")
        require_int("lateral size nx", self.size[0], 1, 12)
        require_int("lateral size ny", self.size[1], 1, 12)
        _set(self, "size", (int(self.size[0]), int(self.size[1])))
        if not isinstance(self.one_sided, bool):
            raise InputError(f"one_sided must be true or false, got {self.one_sided!r}")
        _as_float(self, "a_A")
        _as_float(self, "vacuum_A")
        if self.mn_w_spacing_A is not None:
            _as_float(self, "mn_w_spacing_A")
        require_choice("Mn order", self.mn_order, MN_ORDERS)

    def build(self) -> Atoms:
        """Build the slab."""
        atoms = build_mn_w110(self.w_layers, self.size, self.a_A, self.one_sided, self.vacuum_A, self.mn_w_spacing_A,
                              self.mn_order)
        atoms.info["spec"] = self.as_dict()
        return atoms

    def label(self) -> str:
        """E.g. ``mnw110-w5-3x2`` (``-1s`` one-sided, ``-fm`` ferro Mn, ``-a``/``-v`` non-default a, vacuum)."""
        text = f"mnw110-w{self.w_layers}-{self.size[0]}x{self.size[1]}"
        if self.one_sided:
            text += "-1s"
        if self.mn_order == "ferro":
            text += "-fm"
        return text + _tags(("a", self.a_A, 3.17), ("v", self.vacuum_A, 10.0), ("dmn", self.mn_w_spacing_A, None))


@dataclass(frozen=True)
class MgOAg100Spec(_SpecBase):
    """MgO(n)/Ag(100) slab (see :func:`tipsurf.structures.mgo_ag100.build_mgo_ag100`)."""

    mgo_layers: int = 2
    ag_layers: int = 4
    size: int = 1
    a_A: float = 4.09
    vacuum_A: float = 20.0
    mgo_spacing_A: float = MGO_SPACING_A
    interface_A: float = AG_O_INTERFACE_A
    free_top_layers: int | None = None
    kind: ClassVar[str] = "mgo-ag100"

    def __post_init__(self) -> None:
        require_int("MgO layers", self.mgo_layers, 1, 12)
        require_int("Ag layers", self.ag_layers, 1, 12)
        require_int("lateral size k", self.size, 1, 8)
        for name in ("mgo_layers", "ag_layers", "size"):
            _set(self, name, int(getattr(self, name)))
        if self.free_top_layers is not None:
            require_int("free top layers", self.free_top_layers, 0, self.mgo_layers + self.ag_layers)
            _set(self, "free_top_layers", int(self.free_top_layers))
        for name in ("a_A", "vacuum_A", "mgo_spacing_A", "interface_A"):
            _as_float(self, name)

    def build(self) -> Atoms:
        """Build the slab."""
        atoms = build_mgo_ag100(
            self.mgo_layers, self.ag_layers, self.size, self.a_A, self.vacuum_A, self.mgo_spacing_A, self.interface_A,
            self.free_top_layers,
        )
        atoms.info["spec"] = self.as_dict()
        return atoms

    def label(self) -> str:
        """E.g. ``mgo2-ag4-1x1``."""
        text = f"mgo{self.mgo_layers}-ag{self.ag_layers}-{self.size}x{self.size}"
        text += _tags(("a", self.a_A, 4.09), ("v", self.vacuum_A, 20.0), ("dmgo", self.mgo_spacing_A, MGO_SPACING_A),
                      ("dago", self.interface_A, AG_O_INTERFACE_A))
        if self.free_top_layers is not None:
            text += f"-free{self.free_top_layers}"
        return text


@dataclass(frozen=True)
class JunctionSpec(_SpecBase):
    """Tip over a site of Mn/W(110) at distance d (see :func:`build_junction`).

    ``scan_d_max_A``: the largest distance of the scan this point belongs to; the cell and
    the slab position are those of that distance (with ``vacuum_above_tip_A`` behind the tip
    there), so that only the tip moves from point to point.
    """

    surface: MnW110Spec = field(default_factory=lambda: MnW110Spec(size=(3, 2)))
    tip: TipSpec = field(default_factory=TipSpec)
    site: str = "top"
    site_index: int = 0
    distance_A: float = 5.0
    config: str = "p"
    vacuum_above_tip_A: float = 10.0
    scan_d_max_A: float | None = None
    kind: ClassVar[str] = "junction"

    def __post_init__(self) -> None:
        if not isinstance(self.surface, MnW110Spec):
            raise InputError(f"junction surface must be an mn-w110 spec, got {type(self.surface).__name__}")
        if not isinstance(self.tip, TipSpec):
            raise InputError(f"junction tip must be a tip spec, got {type(self.tip).__name__}")
        require_choice("site", self.site, MN_W110_SITES)
        require_choice("config", self.config, CONFIGS)
        require_int("site index", self.site_index, 0)
        _set(self, "site_index", int(self.site_index))
        require_positive("distance_A (apex to surface-Mn-plane distance)", self.distance_A)
        _as_float(self, "distance_A")
        if not isinstance(self.vacuum_above_tip_A, (int, float)) or self.vacuum_above_tip_A < MIN_VACUUM_ABOVE_TIP_A:
            raise InputError(f"vacuum_above_tip_A must be >= {MIN_VACUUM_ABOVE_TIP_A} A, got {self.vacuum_above_tip_A!r}")
        _set(self, "vacuum_above_tip_A", float(self.vacuum_above_tip_A))
        if self.scan_d_max_A is not None:
            _as_float(self, "scan_d_max_A")
        object.__setattr__(self, "_validated", self._assemble())  # geometric validation (site range, clashes), kept for build()

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        if isinstance(out.get("surface"), dict):
            out["surface"] = MnW110Spec.from_dict(out["surface"])
        if isinstance(out.get("tip"), dict):
            out["tip"] = TipSpec.from_dict(out["tip"])
        return out

    def _assemble(self) -> Atoms:
        return build_junction(
            self.surface.build(), self.tip.build(), self.site, self.site_index,
            self.distance_A, self.config, self.vacuum_above_tip_A, self.scan_d_max_A,
        )

    def build(self) -> Atoms:
        """Build tip, surface and the junction (a copy of the one built when the spec was validated)."""
        atoms = self._validated.copy()
        atoms.info = copy.deepcopy(self._validated.info)  # Atoms.copy() shares the nested info values
        atoms.info["spec"] = self.as_dict()
        return atoms

    def label(self) -> str:
        """E.g. ``Fe3-top0-d4.500-p``; in a scan cell: ``Fe3-top0-d4.500-of6.5-p``."""
        text = f"{self.tip.label()}-{self.site}{self.site_index}-d{self.distance_A:.3f}"
        if self.scan_d_max_A is not None and not math.isclose(self.scan_d_max_A, self.distance_A):
            text += f"-of{_num(self.scan_d_max_A)}"
        return f"{text}-{self.config}"


@dataclass(frozen=True)
class AdsorbateSpec(_SpecBase):
    """Ti or TiHx on MgO/Ag(100) (see :func:`build_adsorbate`)."""

    species: str = "Ti"
    site: str = "o-top"
    slab: MgOAg100Spec = field(default_factory=MgOAg100Spec)
    height_A: float | None = None
    kind: ClassVar[str] = "adsorbate"

    def __post_init__(self) -> None:
        require_choice("adsorbate species", self.species, ADSORBATE_SPECIES)
        require_choice("adsorption site", self.site, ADSORBATE_SITES)
        if not isinstance(self.slab, MgOAg100Spec):
            raise InputError(f"adsorbate slab must be an mgo-ag100 spec, got {type(self.slab).__name__}")
        if self.height_A is not None:
            _as_float(self, "height_A")

    @classmethod
    def _nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        if isinstance(out.get("slab"), dict):
            out["slab"] = MgOAg100Spec.from_dict(out["slab"])
        return out

    def build(self) -> Atoms:
        """Build slab + adsorbate."""
        return self.build_on(self.slab.build())

    def build_on(self, slab: Atoms) -> Atoms:
        """The adsorbate at its site and height over ``slab`` (this spec's slab, e.g. relaxed)."""
        atoms = build_adsorbate(self.species, self.site, slab, self.height_A)
        atoms.info["spec"] = self.as_dict()
        return atoms

    def label(self) -> str:
        """E.g. ``TiH2-bridge-mgo2-ag4-1x1`` (``-h1.8`` for an explicit height)."""
        text = f"{self.species}-{self.site}-{self.slab.label()}"
        return text + _tags(("h", self.height_A, None))


@dataclass(frozen=True)
class MoleculeSpec(_SpecBase):
    """Gas-phase reference in a cubic box (see :func:`build_molecule`)."""

    species: str
    box_A: float = 12.0
    kind: ClassVar[str] = "molecule"

    def __post_init__(self) -> None:
        require_choice("molecule species", self.species, MOLECULE_SPECIES)
        _as_float(self, "box_A")

    def build(self) -> Atoms:
        """Build the molecule in its box."""
        atoms = build_molecule(self.species, self.box_A)
        atoms.info["spec"] = self.as_dict()
        return atoms

    def label(self) -> str:
        """E.g. ``H2-box12``."""
        return f"{self.species}-box{_num(self.box_A)}"


SPEC_TYPES: dict[str, type[_SpecBase]] = {
    cls.kind: cls for cls in (TipSpec, MnW110Spec, MgOAg100Spec, JunctionSpec, AdsorbateSpec, MoleculeSpec)
}

Spec = TipSpec | MnW110Spec | MgOAg100Spec | JunctionSpec | AdsorbateSpec | MoleculeSpec


def spec_from_dict(d: dict[str, Any]) -> Spec:
    """Rebuild any spec from its ``as_dict()`` output, dispatching on ``d['kind']``.

    Raises
    ------
    InputError
        If ``d`` is not a mapping, has no or an unknown ``kind``, or invalid fields.
    """
    if not isinstance(d, dict) or "kind" not in d:
        raise InputError("a structure spec must be a mapping with a 'kind' key")
    kind = d["kind"]
    if kind not in SPEC_TYPES:
        raise InputError(f"unknown spec kind {kind!r}; choose one of: {', '.join(SPEC_TYPES)}")
    return SPEC_TYPES[kind].from_dict(d)  # type: ignore[return-value]
