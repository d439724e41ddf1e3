"""A pw.x input as data: the namelists a calculation runs with, rendered again after each change.

:meth:`tipsurf.engines.qe.QEEngine.write_inputs` saves the namelists it built (and the cards
it rendered) in ``tipsurf_pw_input.json`` beside ``pw.in``.  Whatever changes the input later —
an error handler's recovery step, a resumed run's new ``max_seconds`` — changes that data and
renders ``pw.in`` again (:func:`apply_actions`); nothing edits the text in place.

The actions are custodian-style data, as the handlers return them from ``correct()``:
``{"file": "pw.in", "namelist": "electrons", "set": {"mixing_beta": 0.1}}`` (a value of None
removes the key), or a card replaced whole: ``{"file": "pw.in", "card": "ATOMIC_POSITIONS",
"text": "ATOMIC_POSITIONS angstrom\\n..."}`` (a relaxation restarted where it was).  Before ``pw.in`` is rewritten, the input of the attempt that failed is kept as
``pw.in.attempt-N`` beside its output ``pw.out.attempt-N`` (:func:`attempt_path`).

A ``pw.in`` that differs from the rendering of its data (edited by hand, or written by an older
tipsurf without the data file) is the truth: its namelists are read from the text
(:func:`parse_pw_input`) and its cards kept as written.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tipsurf.atomic import write_json_atomic, write_text_atomic
from tipsurf.engines.qe.inputs import PW_INPUT, PW_OUTPUT, render_namelists
from tipsurf.errors import InputError, existing_file
from tipsurf.jsonable import to_jsonable

__all__ = [
    "CARDS", "INPUT_DATA_FILE", "KEY_NAMELIST", "PwInput", "apply_actions", "attempt_path", "card_action",
    "parse_pw_input", "pw_input_data", "read_pw_input", "set_action", "set_pw_parameter", "write_pw_input",
]

INPUT_DATA_FILE = "tipsurf_pw_input.json"

#: The card names of a pw.x input: a card runs from its name to the next one.
CARDS = ("ATOMIC_SPECIES", "ATOMIC_POSITIONS", "K_POINTS", "ADDITIONAL_K_POINTS", "CELL_PARAMETERS",
         "CONSTRAINTS", "OCCUPATIONS", "ATOMIC_VELOCITIES", "ATOMIC_FORCES", "SOLVENTS", "HUBBARD")

#: Which namelist a pw.x key lives in, for keys a change may add (keys already present stay put).
KEY_NAMELIST = {
    "mixing_beta": "electrons", "mixing_mode": "electrons", "mixing_ndim": "electrons",
    "electron_maxstep": "electrons", "conv_thr": "electrons", "diagonalization": "electrons",
    "startingpot": "electrons", "startingwfc": "electrons", "diago_david_ndim": "electrons",
    "degauss": "system", "smearing": "system", "nbnd": "system", "tot_magnetization": "system",
    "max_seconds": "control", "restart_mode": "control", "ion_dynamics": "ions",
}


@dataclass
class PwInput:
    """pw.x namelists (``{"electrons": {"mixing_beta": 0.3, ...}, ...}``) and the cards' text."""

    namelists: dict[str, dict[str, Any]]
    cards: str = ""

    def namelist_of(self, key: str) -> str:
        """The namelist that holds ``key`` (case-insensitive), else the one :data:`KEY_NAMELIST` names."""
        for name, values in self.namelists.items():
            if any(k.lower() == key.lower() for k in values):
                return name
        return KEY_NAMELIST.get(key.lower(), "electrons")

    def get(self, key: str, default: Any = None) -> Any:
        """Value of ``key`` in whichever namelist holds it, else ``default``."""
        values = self.namelists.get(self.namelist_of(key), {})
        return next((v for k, v in values.items() if k.lower() == key.lower()), default)

    def set(self, namelist: str, key: str, value: Any) -> None:
        """Set ``key`` in ``namelist`` (added if absent); None removes it."""
        values = self.namelists.setdefault(namelist.lower(), {})
        existing = next((k for k in values if k.lower() == key.lower()), key)
        if value is None:
            values.pop(existing, None)
        else:
            values[existing] = value

    def set_card(self, name: str, text: str) -> None:
        """Replace card ``name`` (its header line to the next card) with ``text``.

        Raises
        ------
        InputError
            The input has no such card.
        """
        lines = self.cards.splitlines(keepends=True)
        starts = [i for i, line in enumerate(lines) if line.split()[:1] and line.split()[0].upper() in CARDS]
        mine = [i for i in starts if lines[i].split()[0].upper() == name.upper()]
        if not mine:
            raise InputError(f"pw.in has no {name} card to replace")
        end = next((i for i in starts if i > mine[0]), len(lines))
        self.cards = "".join(lines[: mine[0]]) + text.rstrip("\n") + "\n" + "".join(lines[end:])

    def render(self) -> str:
        """The text of ``pw.in``."""
        return render_namelists(self.namelists) + self.cards


_TRUE = {".true.", ".t.", "t", "true"}
_FALSE = {".false.", ".f.", "f", "false"}
_ASSIGNMENT = re.compile(r"([A-Za-z_][\w()%,]*?)\s*=\s*('[^']*'|\"[^\"]*\"|[^,]*)\s*(?:,|$)")


def parse_value(text: str) -> Any:
    """Python value of a Fortran namelist literal (``.true.``, ``80``, ``1.0d-8``, ``'file'``)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    try:
        return float(text.replace("d", "e").replace("D", "e"))
    except ValueError:
        return text


def parse_pw_input(text: str) -> PwInput:
    """Namelists of a pw.x input read from its text; everything after the last one is the cards."""
    namelists: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    lines = text.splitlines(keepends=True)
    end = 0
    for number, line in enumerate(lines):
        stripped = re.sub(r"!.*$", "", line).strip()  # no '!' inside tipsurf's quoted values
        if current is None:
            match = re.match(r"&(\w+)", stripped)
            if match:
                current = namelists.setdefault(match.group(1).lower(), {})
            elif stripped and namelists:
                break  # the first card
            continue
        if stripped == "/":
            current, end = None, number + 1
            continue
        for key, value in _ASSIGNMENT.findall(stripped):
            current[key] = parse_value(value)
    if current is not None:
        raise InputError("pw.x input has a namelist without its closing '/'")
    return PwInput(namelists, "".join(lines[end:]))


def pw_input_data(namelists: dict[str, dict[str, Any]], text: str) -> PwInput:
    """The data of an input ``text`` rendered from ``namelists`` (its cards: what follows them)."""
    head = render_namelists(namelists)
    if not text.startswith(head):
        raise InputError("the pw.x input does not start with its namelists as rendered; cannot keep it as data")
    return PwInput(namelists, text[len(head):])


def write_pw_input(directory: str | Path, data: PwInput) -> None:
    """Save the data (``tipsurf_pw_input.json``) and render ``pw.in`` from it."""
    folder = Path(directory)
    write_json_atomic(folder / INPUT_DATA_FILE, to_jsonable({"namelists": data.namelists, "cards": data.cards}))
    write_text_atomic(folder / PW_INPUT, data.render())


def read_pw_input(directory: str | Path) -> PwInput:
    """The input of ``directory`` as data: the saved data if ``pw.in`` is its rendering, else ``pw.in`` read."""
    folder = Path(directory)
    text = existing_file(folder / PW_INPUT, "pw.x input", "write the inputs first ('tipsurf inputs')").read_text()
    saved = folder / INPUT_DATA_FILE
    if saved.is_file():
        try:
            raw = json.loads(saved.read_text())
            data = PwInput({k: dict(v) for k, v in raw["namelists"].items()}, str(raw.get("cards", "")))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            data = None
        if data is not None and data.render() == text:
            return data
    return parse_pw_input(text)


def set_action(data: PwInput, key: str, value: Any) -> dict[str, Any]:
    """Set ``key`` in ``data`` (in the namelist that holds it) and return the action as data."""
    namelist = data.namelist_of(key)
    data.set(namelist, key, value)
    return {"file": PW_INPUT, "namelist": namelist, "set": {key: value}}


def card_action(data: PwInput, name: str, text: str) -> dict[str, Any]:
    """Replace card ``name`` of ``data`` with ``text`` and return the action as data."""
    data.set_card(name, text)
    return {"file": PW_INPUT, "card": name, "text": text}


def set_pw_parameter(path: str | Path, namelist: str, key: str, value: Any) -> None:
    """Set (or add) ``key = value`` in ``&namelist`` of any pw.x input file; None removes it.

    The file's namelists are read as data (:func:`parse_pw_input`), changed and rendered again;
    its cards stay as written and a missing namelist (``&IONS``) is added in pw.x's order.
    """
    data = parse_pw_input(Path(path).read_text())
    data.set(namelist, key, value)
    write_text_atomic(path, data.render())


def attempt_path(output: Path) -> Path:
    """Where the next earlier attempt of ``output`` is kept: ``<name>.attempt-N``, N the first free."""
    n = 1
    while (output.parent / f"{output.name}.attempt-{n}").exists():
        n += 1
    return output.parent / f"{output.name}.attempt-{n}"


def apply_actions(directory: str | Path, actions: list[dict[str, Any]]) -> None:
    """Apply ``set`` actions to the input's data and render ``pw.in`` again.

    The input of the attempt whose output is ``pw.out`` is kept first as ``pw.in.attempt-N``
    (the N its output gets when the run is repeated), unless it is kept already.
    """
    if not actions:
        return
    folder = Path(directory)
    data = read_pw_input(folder)
    for action in actions:
        for key, value in (action.get("set") or {}).items():
            data.set(action.get("namelist") or data.namelist_of(key), key, value)
        if action.get("card"):
            data.set_card(action["card"], action["text"])
    output = folder / PW_OUTPUT
    if output.is_file() and output.stat().st_size > 0:
        kept = folder / attempt_path(output).name.replace(PW_OUTPUT, PW_INPUT, 1)
        if not kept.exists():
            shutil.copy2(folder / PW_INPUT, kept)
    write_pw_input(folder, data)
