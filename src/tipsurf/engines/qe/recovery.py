"""SCF recovery steps as data: what a handler changes in pw.x's input, planned and applied.

The sequence is :data:`DEFAULT_SCF_RECOVERY`, or the
``scf_recovery`` list of the preset (copied into ``tipsurf_calc.json`` by ``write_inputs``).

A recovery step is a mapping with any of
``set`` (pw.x keys -> values), ``scale`` (numeric pw.x keys -> factor), ``at_least``
(numeric pw.x keys -> lower bound, applied after scaling), ``restart`` (true: start from the charge density the failed run saved, ``startingpot='file'``;
``atoms``: afresh from atoms, ``startingpot='atomic'``; a relaxation either way from the last
ionic step's positions),
``scale_magnetization`` (factor on the magnetisation of that saved density, with ``restart``)
and ``only_if: moment_vanishing`` (the step is skipped unless the run's absolute magnetisation
was falling steadily towards zero, :mod:`tipsurf.engines.qe.magnetization`); ``description``
is a note.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tipsurf.engines.qe.inputs import OUTDIR, PREFIX, PW_OUTPUT
from tipsurf.engines.qe.magnetization import moment_vanishing, scale_saved_magnetization
from tipsurf.engines.qe.outputs import cycle_absolute_magnetizations, last_positions_card
from tipsurf.engines.qe.pw_input import PwInput, apply_actions, card_action, read_pw_input, set_action

#: pw.x defaults used when a key to be scaled is not in the input.
PW_DEFAULTS = {"mixing_beta": 0.7, "electron_maxstep": 100, "mixing_ndim": 8, "degauss": 0.0}

DEFAULT_SCF_RECOVERY: list[dict[str, Any]] = [
    {"scale": {"mixing_beta": 0.5, "electron_maxstep": 1.5}, "at_least": {"electron_maxstep": 100}, "restart": True},
    {"set": {"mixing_mode": "local-TF", "mixing_ndim": 12}, "scale": {"mixing_beta": 0.5}, "restart": True},
    {"set": {"mixing_mode": "plain", "mixing_ndim": 12}, "scale": {"electron_maxstep": 2}, "restart": True},
]


def _number(data: PwInput, key: str) -> float:
    """Current numeric value of ``key`` (pw.x's default if the input does not set it)."""
    value = data.get(key)
    return float(value) if value is not None else PW_DEFAULTS.get(key, 0.0)


def saved_density(directory: Path) -> Path | None:
    """The charge-density file pw.x saved in this folder's outdir, if any."""
    save = directory / OUTDIR / f"{PREFIX}.save"
    for name in ("charge-density.dat", "charge-density.hdf5"):
        if (save / name).is_file():
            return save / name
    return None


def restart_actions(directory: Path, data: PwInput, from_atoms: bool = False) -> list[dict[str, Any]]:
    """Start again from the saved density (or afresh from atoms); a relaxation from the geometry it had reached.

    Without the positions a restarted relaxation went back to its first geometry and repeated
    every ionic step (seen on TiH2@O-top: 226 SCF iterations, then 295, thrown away).  From
    atoms, the SCF leaves behind whatever the saved density (or pw.x's extrapolation from the
    earlier ionic steps) had got stuck in.
    """
    if from_atoms:
        actions = [set_action(data, "startingpot", "atomic"), set_action(data, "startingwfc", "atomic+random")]
    elif saved_density(directory) is None:
        return []
    else:
        actions = [set_action(data, "startingpot", "file")]
    output = directory / PW_OUTPUT
    if data.get("calculation") == "relax" and output.is_file():
        card = last_positions_card(output.read_text(errors="replace"), int(data.get("nat", 0)))
        if card is not None:
            actions.append(card_action(data, "ATOMIC_POSITIONS", card))
    return actions


def plan_step(directory: str | Path, step: dict[str, Any], data: PwInput | None = None) -> list[dict[str, Any]]:
    """The actions of one recovery step (scale, then set, then at_least, then restart) on ``data``.

    ``data`` (read from ``directory`` if None) is changed as the step goes, so that ``at_least``
    sees the scaled value; nothing is written.
    """
    path = Path(directory)
    data = data if data is not None else read_pw_input(path)
    actions = []
    for key, factor in (step.get("scale") or {}).items():
        value: Any = _number(data, key) * float(factor)
        value = int(round(value)) if key in {"electron_maxstep", "mixing_ndim", "nbnd"} else round(value, 6)
        actions.append(set_action(data, key, value))
    for key, value in (step.get("set") or {}).items():
        actions.append(set_action(data, key, value))
    for key, floor in (step.get("at_least") or {}).items():
        if _number(data, key) < float(floor):
            actions.append(set_action(data, key, type(floor)(floor)))
    if step.get("restart"):
        restart = restart_actions(path, data, from_atoms=step["restart"] == "atoms")
        actions.extend(restart)
        density = saved_density(path)
        if restart and step.get("scale_magnetization") is not None and density is not None:
            actions.append({"file": str(density.relative_to(path)), "scale_magnetization": float(step["scale_magnetization"])})
    return actions


def apply_step(directory: str | Path, step: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply one recovery step (set / scale / restart / scale_magnetization); the actions.

    ``pw.in`` is rendered from the changed data; a ``scale_magnetization`` action rewrites the
    saved density and records the cell's moment before and after.
    """
    actions = plan_step(directory, step)
    apply_actions(directory, actions)
    for action in actions:
        if "scale_magnetization" in action:
            action.update(scale_saved_magnetization(Path(directory) / action["file"], action["scale_magnetization"]))
    return actions


def step_applies(directory: str | Path, step: dict[str, Any]) -> bool:
    """Whether a recovery step's ``only_if`` condition holds for the run in ``directory`` (no condition: True)."""
    condition = step.get("only_if")
    if condition is None:
        return True
    if condition != "moment_vanishing":
        raise ValueError(f"unknown recovery condition only_if: {condition!r}; the one known is 'moment_vanishing'")
    output = Path(directory) / PW_OUTPUT
    text = output.read_text(errors="replace") if output.is_file() else ""
    return moment_vanishing(cycle_absolute_magnetizations(text))
