"""`tipsurf` commands of the 'demo' group (being written)."""

from __future__ import annotations

from tipsurf.cli import app  # noqa: F401


@app.command("version")
def version() -> None:
    """Print the tipsurf version."""
    from tipsurf import __version__

    print(__version__)
