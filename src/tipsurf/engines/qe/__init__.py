"""Quantum ESPRESSO engine: pw.x inputs from Atoms + preset, custodian run, code-neutral parse.

The engine class is :class:`tipsurf.engines.qe.engine.QEEngine`; each idea it uses has one module:

* :mod:`.pseudo` — UPF files: headers, checksums, which folder, the electron count;
  :mod:`.pseudo_gen` — pseudopotentials generated with ld1.x;
* :mod:`.inputs` — species split by starting moment, namelists from a preset, ``pw.in``;
* :mod:`.starts` — how a run starts (atoms, a neighbour's density, superposed fragments);
  :mod:`.restart` decides whether a neighbour's density fits, :mod:`.gvectors` holds pw.x's
  G-vector order and the shift across the gap, :mod:`.charge_density` the density file,
  :mod:`.superpose` the sum of fragments;
* :mod:`.job` and :mod:`.handlers` — the custodian run and its error handlers;
* :mod:`.outputs` — the pw.x and projwfc.x text outputs; :mod:`.result` — the result record of
  a calculation folder; :mod:`.projwfc` — the Löwdin post-step; :mod:`.version` — pw.x's version.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tipsurf.engines.qe.engine import QEEngine
    from tipsurf.engines.qe.inputs import build_namelists
    from tipsurf.engines.qe.starts import prepare_restart

__all__ = ["QEEngine", "build_namelists", "prepare_restart"]

#: Where each name of :data:`__all__` lives; imported on first use, so that a light module of
#: the package (``pp``, ``inputs``, ``charge_density``) does not load the engine and custodian.
_HOMES = {"QEEngine": "tipsurf.engines.qe.engine", "build_namelists": "tipsurf.engines.qe.inputs",
          "prepare_restart": "tipsurf.engines.qe.starts"}


def __getattr__(name: str) -> Any:
    """``tipsurf.engines.qe.QEEngine`` and the other names of :data:`__all__`, imported on demand."""
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
