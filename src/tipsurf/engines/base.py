"""What every engine (one per code) provides to the workflows, and where each engine is.

An engine turns an Atoms object (built by :mod:`tipsurf.structures`, carrying initial magnetic
moments, constraints and ``atoms.info`` metadata) plus a preset into input files, runs the
code under custodian, and parses the outputs into a :class:`~tipsurf.engines.record.CalcResult`.

The engines are found through :data:`ENGINES` (code name → ``"module:Class"``), imported only
when :func:`get_engine` asks for one: this module imports no engine and no engine imports this
module (they derive from :class:`~tipsurf.engines.interface.EngineBase` and take
:class:`~tipsurf.engines.record.PreparedCalc` from the records), so the registry adds no
import cycle.
"""

from __future__ import annotations

import importlib

from tipsurf.engines.interface import EngineBase
from tipsurf.errors import InputError

#: Engine of each code, as ``"module:Class"`` (imported on demand by :func:`get_engine`).
ENGINES: dict[str, str] = {
    "qe": "tipsurf.engines.qe.engine:QEEngine",
    "vasp": "tipsurf.engines.vasp:VaspEngine",
}


#: The interface every engine implements (inputs, run, parse), with the parameter handling they share.
Engine = EngineBase


def get_engine(code: str) -> Engine:
    """Return the engine for ``code``, importing its module on first use.

    Parameters
    ----------
    code
        A key of :data:`ENGINES` (``"qe"`` or ``"vasp"``).

    Returns
    -------
    Engine
        A new instance of the code's engine class.

    Raises
    ------
    InputError
        Unknown code.
    """
    target = ENGINES.get(code) if isinstance(code, str) else None
    if target is None:
        choices = " or ".join(f"'{name}'" for name in ENGINES)
        raise InputError(f"unknown code '{code}'; choose {choices}")
    module_name, _, class_name = target.partition(":")
    engine_class = getattr(importlib.import_module(module_name), class_name)
    return engine_class()
