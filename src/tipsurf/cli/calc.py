"""`tipsurf` commands of the 'calc' group (being written)."""

from __future__ import annotations

from tipsurf.cli import app  # noqa: F401
