"""Options several commands take are declared once (tipsurf.cli.options): same flag, default and help."""

from __future__ import annotations

import typer.main

from tipsurf.cli import _register, app


def _options(path: list[str]) -> dict[str, object]:
    command = typer.main.get_command(app)
    for part in path:
        command = command.commands[part]  # type: ignore[attr-defined]
    return {param.name: param for param in command.params}


def test_shared_options_are_the_same_in_every_command() -> None:
    _register()
    commands = [["scan"], ["campaign", "adsorbates"], ["inputs"]]
    for name in ("settings", "overrides_file", "code"):
        found = [_options(path)[name] for path in commands]
        assert len({(tuple(p.opts), p.default, p.help) for p in found}) == 1, name
    for path in (["run"], ["status"], ["rerun"], ["submit"], ["results"], ["export"], ["scan"]):
        params = _options(path)
        assert params["launchpad"].opts == ["--launchpad"] and params["project"].opts == ["--project"]
        assert "shared" not in params  # the catch-all of the command function is no option
