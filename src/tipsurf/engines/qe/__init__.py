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

from tipsurf.engines.qe.engine import QEEngine
from tipsurf.engines.qe.inputs import build_namelists
from tipsurf.engines.qe.starts import prepare_restart

__all__ = ["QEEngine", "build_namelists", "prepare_restart"]
