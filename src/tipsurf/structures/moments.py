"""Default starting magnetic moments (muB) and the coupling rules used by the builders.

These are *starting* values for a spin-polarized calculation, close to the converged
moments so that the SCF lands in the intended magnetic state:

* bcc Fe ~2.2 muB in bulk, 2.8-3.0 muB at a tip apex or surface -> 2.8;
* Co ~1.7-1.9 muB -> 1.8; Ni ~0.6 -> 0.7; Cr ~2.5 at surfaces/tips -> 2.5;
* Mn ~3.5-4 muB as an apex atom, ~3.6 muB in the Mn monolayer on W(110) -> 3.5;
* W, Ag, Mg, O: nonmagnetic -> 0; Ti adatom on MgO 1-2.3 muB -> 2.0; H -> 0.
"""

from __future__ import annotations

from tipsurf.errors import InputError

#: Starting moment magnitude per element (muB).
DEFAULT_MOMENTS_MUB: dict[str, float] = {
    "Fe": 2.8,
    "Co": 1.8,
    "Ni": 0.7,
    "Cr": 2.5,
    "Mn": 3.5,
    "W": 0.0,
    "Ag": 0.0,
    "Mg": 0.0,
    "O": 0.0,
    "Ti": 2.0,
    "H": 0.0,
}

#: Apex elements that couple antiferromagnetically to a (different) ferromagnetic base.
ANTIPARALLEL_APEX: frozenset[str] = frozenset({"Mn", "Cr"})


def default_moment(symbol: str) -> float:
    """Return the default starting moment magnitude of ``symbol`` in muB.

    Parameters
    ----------
    symbol
        Chemical symbol.

    Returns
    -------
    float
        Moment magnitude (muB), >= 0.

    Raises
    ------
    InputError
        If the element has no tabulated starting moment.
    """
    try:
        return DEFAULT_MOMENTS_MUB[symbol]
    except KeyError:
        known = ", ".join(sorted(DEFAULT_MOMENTS_MUB))
        raise InputError(f"no default starting moment for element {symbol!r}; known: {known}") from None


def apex_sign(apex: str, base: str) -> int:
    """Sign of the apex moment relative to a ferromagnetic base with positive moments.

    A Mn (or Cr) apex on a different base couples antiparallel (-1); otherwise +1.
    """
    return -1 if (apex in ANTIPARALLEL_APEX and apex != base) else 1
