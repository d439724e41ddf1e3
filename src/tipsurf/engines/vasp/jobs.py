"""Running VASP under custodian: a VaspJob with the standard VASP error handlers.

Handlers (custodian.vasp.handlers): VaspErrorHandler (errors in vasp.out: ZBRENT, EDDDAV,
subspace matrix, ...), UnconvergedErrorHandler (unconverged vasprun.xml: change ALGO/mixing),
NonConvergingErrorHandler (SCF stagnating for ``nionic_steps``), PotimErrorHandler (relaxation
energy blowing up), PositiveEnergyErrorHandler, FrozenJobErrorHandler (no output for an hour),
MeshSymmetryErrorHandler, StdErrHandler (MPI/memory errors) and, when a wall time is given,
WalltimeHandler (writes STOPCAR before the wall time runs out so VASP stops cleanly).
"""

from __future__ import annotations

from pathlib import Path

from custodian import Custodian
from custodian.vasp.handlers import (
    FrozenJobErrorHandler,
    MeshSymmetryErrorHandler,
    NonConvergingErrorHandler,
    PositiveEnergyErrorHandler,
    PotimErrorHandler,
    StdErrHandler,
    UnconvergedErrorHandler,
    VaspErrorHandler,
    WalltimeHandler,
)
from custodian.vasp.jobs import VaspJob
from custodian.vasp.validators import VasprunXMLValidator

from tipsurf.config import Config, load_config

VASP_STDOUT = "vasp.out"
VASP_STDERR = "std_err.txt"
#: Seconds before the wall time at which STOPCAR is written (one ionic step of a large slab).
WALLTIME_BUFFER_S = 600


def vasp_handlers(walltime_s: float | None = None) -> list:
    """The error handlers tipsurf runs VASP with (see module doc)."""
    handlers = [
        VaspErrorHandler(output_filename=VASP_STDOUT),
        UnconvergedErrorHandler(),
        NonConvergingErrorHandler(),
        PotimErrorHandler(),
        PositiveEnergyErrorHandler(),
        FrozenJobErrorHandler(output_filename=VASP_STDOUT),
        MeshSymmetryErrorHandler(output_filename=VASP_STDOUT),
        StdErrHandler(output_filename=VASP_STDERR),
    ]
    if walltime_s is not None:
        buffer_s = min(WALLTIME_BUFFER_S, max(int(walltime_s) // 10, 1))
        handlers.append(WalltimeHandler(wall_time=int(walltime_s), buffer_time=buffer_s))
    return handlers


def make_custodian(
    directory: str | Path,
    config: Config | None = None,
    walltime_s: float | None = None,
    max_errors: int = 5,
) -> Custodian:
    """Build (not run) the custodian that runs VASP in ``directory``.

    Parameters
    ----------
    directory
        Calculation folder with INCAR, POSCAR, KPOINTS and POTCAR.
    config
        tipsurf configuration; its ``command('vasp')`` argument list is the VASP command.
    walltime_s
        Wall time of the job in seconds; adds a WalltimeHandler (STOPCAR) when given.
    max_errors
        Corrections allowed before custodian gives up.

    Returns
    -------
    Custodian
        Call ``.run()`` to execute; the log goes to ``directory/custodian.json``.
    """
    config = config or load_config()
    job = VaspJob(
        vasp_cmd=config.command("vasp"),
        output_file=VASP_STDOUT,
        stderr_file=VASP_STDERR,
        auto_npar=False,
        auto_gamma=False,
        backup=True,
    )
    return Custodian(
        vasp_handlers(walltime_s),
        [job],
        validators=[VasprunXMLValidator()],
        max_errors=max_errors,
        polling_time_step=10,
        monitor_freq=30,
        directory=str(Path(directory).resolve()),
    )
