"""The ``tipsurf`` command line.

One module per command group, each registering its commands on :data:`app` or one of the
sub-apps below: ``build`` (structures), ``calc`` (inputs / run-calc / parse), ``pseudo``
(pseudo check / generate), ``campaign`` (scan / campaign / run / status / rerun / submit /
results), ``analyze`` (analyze exchange / gibbs, fit, esr-map, sader-jarvis), ``volumetric``
(analyze bader / ldos), ``export`` (ASE database), ``demo`` (the tip scan) and
``demo_adsorbates`` (``demo adsorbates``).  :func:`main` turns every
:class:`TipsurfError` into a one-line ``error: ...`` on stderr and a non-zero exit code, never
a traceback.
"""

from __future__ import annotations

import sys

import typer

from tipsurf.errors import TipsurfError

app = typer.Typer(
    name="tipsurf",
    help="DFT campaigns for magnetic STM/AFM tips over surfaces and adsorbates on thin films.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

build_app = typer.Typer(help="Build structures (extended XYZ with moments, tags, constraints, metadata).", no_args_is_help=True)
analyze_app = typer.Typer(help="Analyse stored results and output files.", no_args_is_help=True)
fit_app = typer.Typer(help="Fit models to analysed data for downstream tools.", no_args_is_help=True)
pseudo_app = typer.Typer(help="Pseudopotential libraries: check folders, generate with ld1.x.", no_args_is_help=True)
campaign_app = typer.Typer(help="Multi-calculation campaigns (adsorbates).", no_args_is_help=True)
app.add_typer(build_app, name="build")
app.add_typer(analyze_app, name="analyze")
app.add_typer(fit_app, name="fit")
app.add_typer(pseudo_app, name="pseudo")
app.add_typer(campaign_app, name="campaign")


@app.callback()
def _root() -> None:
    """DFT campaigns for magnetic STM/AFM tips over surfaces and adsorbates on thin films."""


def _register() -> None:
    import importlib

    for module in ("build", "calc", "pseudo", "campaign", "analyze", "volumetric", "export", "demo", "demo_adsorbates"):
        importlib.import_module(f"tipsurf.cli.{module}")  # each registers its commands


def _terminate_like_ctrl_c() -> None:
    """SIGTERM and SIGHUP (a scheduler's wall-time signal, ``kill``, a closed terminal) act as
    Ctrl-C: running programs are stopped and the interrupted work is kept (never an orphan pw.x)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tipsurf`` script; returns the process exit code."""
    _register()
    _terminate_like_ctrl_c()
    try:
        app(args=argv, standalone_mode=False)
    except TipsurfError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        from tipsurf.concurrency import stop_children

        stop_children()  # never leave a pw.x behind
        print("error: interrupted; finished work is kept, run the same command again to resume", file=sys.stderr)
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except Exception as exc:
        # Usage errors of the click layer (typer vendors its own click): show them plainly.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return int(exc.exit_code)
        if type(exc).__name__ == "Abort":
            print("error: aborted", file=sys.stderr)
            return 1
        raise
    return 0

