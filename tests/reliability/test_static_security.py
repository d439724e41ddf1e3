"""Static guards over the package source: no shell strings, no unsafe deserialisation.

These read the source with ``ast`` so they fail the moment somebody adds ``shell=True``,
``os.system``, ``yaml.load`` without a safe loader, ``pickle.load`` or ``eval`` on data.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tipsurf"
SOURCES = sorted(SRC.rglob("*.py"))


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _dotted(func: ast.expr) -> str:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def test_sources_found() -> None:
    assert len(SOURCES) > 10, "the package source was not found"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_shell_and_no_unsafe_loading(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = []
    for call in _calls(tree):
        name = _dotted(call.func)
        for kw in call.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                problems.append(f"line {call.lineno}: {name}(shell=...)")
        if name in {"os.system", "os.popen", "eval", "exec", "pickle.load", "pickle.loads", "yaml.unsafe_load"}:
            problems.append(f"line {call.lineno}: {name}()")
        if name == "yaml.load":
            loader = [kw for kw in call.keywords if kw.arg == "Loader"]
            if not loader or "Safe" not in ast.unparse(loader[0].value):
                problems.append(f"line {call.lineno}: yaml.load without a safe Loader")
    assert not problems, f"{path.name}: " + "; ".join(problems)
