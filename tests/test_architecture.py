"""The package's shape (issue 13 acceptance): data flows one way, and no module is too long to read.

Stage order (README "Data flow"): stage-0 utilities (the modules at the package top level:
``errors``, ``atomic``, ``concurrency``, ``config``, ``jsonable``, ``templates``, ...) <
``structures`` < ``engines`` < ``workflows`` < ``analysis`` < ``cli`` and ``api``.  A module
may import its own stage or an earlier one, never a later one; stage-0 utilities import no
stage at all.  Every ``import`` statement counts, also those inside functions (the lazy ones)
and under ``TYPE_CHECKING``.  Dotted strings handed to importlib or FireWorks (``"module:function"``)
are not imports; they are listed by :func:`backward_dotted_references` and must not name a later
stage either (issue 13 item 6: :mod:`tipsurf.api.campaigns` names the campaigns' analysis
functions).  No Quantum ESPRESSO program runs.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

import tipsurf

PACKAGE_DIR = Path(tipsurf.__file__).resolve().parent
#: Sub-packages and top-level modules that form a stage, with their rank (later = higher).
STAGES: dict[str, int] = {"structures": 1, "engines": 2, "workflows": 3, "analysis": 4, "cli": 5, "api": 5}
STAGE_NAMES = {0: "utilities", 1: "structures", 2: "engines", 3: "workflows", 4: "analysis", 5: "cli/api"}
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = ["tipsurf", *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def stage_of(module: str) -> int:
    """Rank of a ``tipsurf.…`` module: its first component's stage, 0 for utilities."""
    parts = module.split(".")
    return STAGES.get(parts[1], 0) if len(parts) > 1 else 0


def _resolve(node: ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> list[str]:
    """Modules of the package named by one ``from … import …`` (relative ones too)."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target != "tipsurf" and not target.startswith("tipsurf."):
        return []
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.append(sub if sub in known else target)
    return out


def import_graph() -> dict[str, set[str]]:
    """``{module: {imported tipsurf modules}}`` over every module of the package."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imported.update(a.name for a in node.names if a.name == "tipsurf" or a.name.startswith("tipsurf."))
            elif isinstance(node, ast.ImportFrom):
                imported.update(_resolve(node, name, path.name == "__init__.py", known))
        graph[name] = imported - {name}
    return graph


def backward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a later stage (or, from a utility, of any stage), as readable lines."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if target == "tipsurf":
                continue  # the package root holds only the version and the base error
            here, there = stage_of(module), stage_of(target)
            if there > here or (here == 0 and there > 0):
                found.append(f"{module} ({STAGE_NAMES[here]}) imports {target} ({STAGE_NAMES[there]})")
    return found


_DOTTED = re.compile(r"^(tipsurf(?:\.\w+)+)(?::\w+)?$")


def backward_dotted_references() -> list[str]:
    """String constants (not docstrings) naming a module of a later stage, e.g. a FireWorks task's function."""
    modules = _modules()
    found = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and ast.get_docstring(node, clean=False) is not None}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in docstrings:
                continue
            match = _DOTTED.match(node.value.strip())
            if not match:
                continue
            target = match.group(1)
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if stage_of(target) > stage_of(name):
                found.append(f"{name} ({STAGE_NAMES[stage_of(name)]}) names {node.value} ({STAGE_NAMES[stage_of(target)]})")
    return sorted(found)


def stage_cycles(graph: dict[str, set[str]]) -> list[list[int]]:
    """Cycles of the graph between stages (each as the stages it passes through)."""
    edges: dict[int, set[int]] = defaultdict(set)
    for module, targets in graph.items():
        for target in targets:
            if target != "tipsurf" and stage_of(module) != stage_of(target):
                edges[stage_of(module)].add(stage_of(target))
    cycles, state = [], {}

    def visit(node: int, path: list[int]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(STAGE_NAMES):
        if start not in state:
            visit(start, [start])
    return cycles


def test_every_module_is_read_and_the_stages_are_found() -> None:
    graph = import_graph()
    assert {"tipsurf.errors", "tipsurf.structures.specs", "tipsurf.engines.base", "tipsurf.workflows.scan",
            "tipsurf.analysis.exchange", "tipsurf.cli", "tipsurf.api"} <= set(graph)
    assert stage_of("tipsurf.jsonable") == 0 and stage_of("tipsurf.templates") == 0
    assert stage_of("tipsurf.engines.qe.engine") == 2 and stage_of("tipsurf.api") == 5
    # the parser sees lazy imports inside functions and relative imports
    assert "tipsurf.engines.base" in graph["tipsurf.workflows.common"]
    assert "tipsurf.engines.qe.pseudo" in graph["tipsurf.engines.qe.pseudo_gen"]


def test_no_import_from_a_later_stage() -> None:
    found = backward_imports(import_graph())
    assert not found, "imports against the data flow:\n" + "\n".join(found)


def test_no_cycle_between_stages() -> None:
    cycles = stage_cycles(import_graph())
    assert not cycles, "cycles between stages: " + "; ".join(" -> ".join(STAGE_NAMES[s] for s in c) for c in cycles)


def test_no_dotted_reference_to_a_later_stage() -> None:
    found = backward_dotted_references()
    assert not found, "dotted references against the data flow:\n" + "\n".join(found)


def test_the_checks_catch_a_backward_import_and_a_cycle() -> None:
    graph = {"tipsurf.structures.tip": {"tipsurf.engines.base"}, "tipsurf.engines.base": {"tipsurf.structures.tip"},
             "tipsurf.config": {"tipsurf.structures.specs"}}
    assert backward_imports(graph) == [
        "tipsurf.config (utilities) imports tipsurf.structures.specs (structures)",
        "tipsurf.structures.tip (structures) imports tipsurf.engines.base (engines)",
    ]
    assert stage_cycles(graph) == [[1, 2, 1]]


@pytest.mark.parametrize("path", sorted(PACKAGE_DIR.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_no_module_over_450_lines(path: Path) -> None:
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_LINES, f"{path.relative_to(PACKAGE_DIR)} has {n_lines} lines (at most {MAX_LINES}); split it by idea"
