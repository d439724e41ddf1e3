"""`tipsurf` commands of the 'volumetric' group (being written)."""

from __future__ import annotations

from tipsurf.cli import app  # noqa: F401
