"""The README's Python script, read from README.md so that its tests run exactly what it shows."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "## Python"
MAX_LINES = 25


def readme_python_script(readme: Path = README) -> str:
    """The first ```python block after the ``## Python`` heading of the README.

    Raises
    ------
    AssertionError
        No such heading or block (the README changed shape: fix it or this helper).
    """
    text = readme.read_text()
    start = text.find(f"\n{HEADING}\n")
    assert start >= 0, f"{readme} has no '{HEADING}' section"
    match = re.search(r"^```python\n(.*?)^```$", text[start:], flags=re.S | re.M)
    assert match, f"the '{HEADING}' section of {readme} has no ```python block"
    return match.group(1)
