"""custodian ErrorHandlers for pw.x.

Each handler reads the run's outcome (:func:`tipsurf.engines.qe.outcome.read_outcome`: the one
classifier of a pw.x run, from ``pw.out``, ``pw.err`` and the run's XML output), works out its change as data on the
input's namelists (:mod:`tipsurf.engines.qe.pw_input`), has it applied (``pw.in`` rendered again
from the changed data, the failed attempt's input kept as ``pw.in.attempt-N``) and returns
``{"errors": [...], "actions": [...]}``, each action ``{"file", "namelist", "set": {key: value}}``;
``actions: None`` means "cannot fix", which makes custodian stop.  The SCF recovery
sequence is data, its steps planned and applied by :mod:`tipsurf.engines.qe.recovery`.

Which handler acts on which outcome: an error block (outcome ``crashed``) goes to
:class:`DiagonalizationHandler` when the iterative diagonalisation failed and to
:class:`UnrecoverableErrorHandler` otherwise; ``out of time`` to :class:`WalltimeHandler`;
``not converged`` because the last SCF was not to :class:`ScfConvergenceHandler`; a relaxation
``not converged`` after converged SCFs whose forces pw.x called SCF noise to
:class:`LooseScfRelaxationHandler`.  The monitors read the run still going:
:class:`ScfStagnationHandler` its SCF accuracy, :class:`StalledBfgsHandler` its BFGS steps (it
also takes a BFGS relaxation pw.x stopped, or that ran out of steps while stalled).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from custodian.custodian import ErrorHandler

from tipsurf.atomic import write_json_atomic
from tipsurf.engines.qe.inputs import PW_INPUT, PW_OUTPUT, PW_STDERR
from tipsurf.engines.qe.outcome import NOT_CONVERGED, OUT_OF_TIME, RunOutcome, read_outcome
from tipsurf.engines.qe.negative_density import negative_density_drift
from tipsurf.engines.qe.outputs import (
    BFGS_STOPPED, bfgs_stall_resets, current_scf_errors_Ry, ionic_verdict, large_scf_correction_count,
)
from tipsurf.engines.qe.pw_input import apply_actions, read_pw_input, set_action
from tipsurf.engines.qe.recovery import DEFAULT_SCF_RECOVERY, apply_step, restart_actions, step_applies

CALC_FILE = "tipsurf_calc.json"
STATE_FILE = "tipsurf_handlers.json"

DIAGONALIZATION_SEQUENCE = ["david", "cg", "ppcg"]

_DIAG_ROUTINES = re.compile(r"^(c|r)diag|egterg|^ppcg|^paro|^cg_|^ccgdiagg|^rcgdiagg|^h_psi", re.I)
_DIAG_MESSAGES = re.compile(r"S matrix not positive definite|cholesky|eigenvectors failed|not orthogonal", re.I)


def is_diagonalization_error(routine: str, message: str) -> bool:
    """True for errors of the iterative diagonalisation (fixable by another algorithm).

    Parameters
    ----------
    routine, message
        One error block of the run (:attr:`tipsurf.engines.qe.outcome.RunOutcome.errors`).
    """
    return bool(_DIAG_ROUTINES.search(routine) or _DIAG_MESSAGES.search(message))


_FATAL_ERRORS = {
    r"read_namelists|reading namelist|card_|read_cards|iosys": "bad pw.x input",
    r"readpp|read_upf|upf|file .* not found|pseudo": "missing or unreadable pseudopotential",
    r"cell_base_init|wrong atomic coordinates|atoms .* too close": "bad structure",
    r"hubbard|lda_plus_u": "bad Hubbard settings",
}


def _state(directory: Path) -> dict[str, Any]:
    path = directory / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _save_state(directory: Path, state: dict[str, Any]) -> None:
    write_json_atomic(directory / STATE_FILE, state)


def _calc_info(directory: Path) -> dict[str, Any]:
    path = directory / CALC_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


class QEErrorHandler(ErrorHandler):
    """Base: reads the run's outcome; subclasses define :meth:`check` and :meth:`correct`."""

    is_monitor = False
    output_file = PW_OUTPUT

    def _outcome(self, directory: str) -> RunOutcome:
        """The outcome of the run whose output is :attr:`output_file` (with its ``pw.err``)."""
        return read_outcome(directory, self.output_file, PW_STDERR)

    def _output(self, directory: str) -> str:
        """The text of :attr:`output_file` as it stands (empty if there is none yet)."""
        path = Path(directory) / self.output_file
        return path.read_text(errors="replace") if path.is_file() else ""


class UnrecoverableErrorHandler(QEErrorHandler):
    """pw.x stopped with an error no parameter change fixes (bad input, missing pseudopotential)."""

    raises_runtime_error = True

    def __init__(self) -> None:
        self.message = ""

    def check(self, directory: str = "./") -> bool:
        """True if the run crashed with an error block other than the diagonalisation's."""
        fatal = [(r, m) for r, m in self._outcome(directory).errors if not is_diagonalization_error(r, m)]
        if not fatal:
            return False
        routine, message = fatal[0]
        blob = f"{routine} {message}"
        for pattern, kind in _FATAL_ERRORS.items():
            if re.search(pattern, blob, re.I):
                self.message = f"{kind}: pw.x error in {routine}: {message}"
                return True
        self.message = f"pw.x error in {routine}: {message}"
        return True

    def correct(self, directory: str = "./") -> dict[str, Any]:
        return {"errors": [self.message or "unrecoverable pw.x error"], "actions": None}


class DiagonalizationHandler(QEErrorHandler):
    """Diagonalisation failures: switch david -> cg -> ppcg and restart from the saved density."""

    def __init__(self, sequence: list[str] | None = None) -> None:
        self.sequence = list(sequence or DIAGONALIZATION_SEQUENCE)
        self.error = ""

    def check(self, directory: str = "./") -> bool:
        """True if the run crashed with an error block of the iterative diagonalisation."""
        for routine, message in self._outcome(directory).errors:
            if is_diagonalization_error(routine, message):
                self.error = f"{routine}: {message}"
                return True
        return False

    def correct(self, directory: str = "./") -> dict[str, Any]:
        path = Path(directory)
        data = read_pw_input(path)
        current = str(data.get("diagonalization") or "david").lower()
        later = self.sequence[self.sequence.index(current) + 1 :] if current in self.sequence else self.sequence[1:]
        if not later:
            return {"errors": [f"diagonalization failed ({self.error}) with every method in {self.sequence}"], "actions": None}
        actions = [set_action(data, "diagonalization", later[0]), *restart_actions(path, data)]
        apply_actions(path, actions)
        return {"errors": [f"diagonalization failed: {self.error}"], "actions": actions}


class ScfConvergenceHandler(QEErrorHandler):
    """SCF not converged: walk the recovery steps (lower beta, other mixing, more steps, restart)."""

    def __init__(self, steps: list[dict[str, Any]] | None = None) -> None:
        self.steps = steps
        self.drift: str | None = None  # the ecutrho diagnosis of the last run corrected, if it applied

    def check(self, directory: str = "./") -> bool:
        """True if the run is ``not converged`` because its last SCF was not."""
        return self._outcome(directory).scf_not_converged

    def correct(self, directory: str = "./") -> dict[str, Any]:
        path = Path(directory)
        steps = self.steps
        if steps is None:
            steps = _calc_info(path).get("scf_recovery")
            steps = DEFAULT_SCF_RECOVERY if steps is None else steps
        self.drift = negative_density_drift(self._output(directory))
        out = self._next_step(path, steps)
        if self.drift:
            out["errors"].append(self.drift)
        return out

    def _next_step(self, path: Path, steps: list[dict[str, Any]]) -> dict[str, Any]:
        state = _state(path)
        done = int(state.get("scf_steps_applied", 0))
        while done < len(steps) and not step_applies(path, steps[done]):
            done += 1  # a conditional step whose condition does not hold is passed over for good
        if done >= len(steps):
            state["scf_steps_applied"] = done
            _save_state(path, state)
            return {
                "errors": [f"SCF not converged after all {len(steps)} recovery steps"],
                "actions": None,
            }
        actions = apply_step(path, steps[done])
        state["scf_steps_applied"] = done + 1
        _save_state(path, state)
        note = f": {steps[done]['description']}" if steps[done].get("description") else ""
        return {"errors": [f"SCF not converged (recovery step {done + 1} of {len(steps)}{note})"], "actions": actions}


class ScfStagnationHandler(ScfConvergenceHandler):
    """Monitor: an SCF that stopped improving is stopped and the next recovery step taken.

    While pw.x runs, the SCF accuracy is read from ``pw.out``; when the best of the last
    ``window`` iterations is not below ``improvement`` x the best before them, the run is
    stuck (charge sloshing, a wandering moment) and burning ``electron_maxstep`` would only
    cost time.  custodian then stops pw.x (:meth:`PwJob.terminate`) and this handler applies
    the next step of the same SCF recovery sequence as :class:`ScfConvergenceHandler` (they
    share the count of steps applied), restarting from the density in the save folder.
    """

    is_monitor = True
    is_terminating = True

    def __init__(self, steps: list[dict[str, Any]] | None = None, window: int = 15, improvement: float = 0.5) -> None:
        super().__init__(steps)
        self.window = int(window)
        self.improvement = float(improvement)
        self.stuck_at: tuple[int, float] | None = None

    def check(self, directory: str = "./") -> bool:
        """True if the best SCF accuracy of the current cycle's last ``window`` iterations did not improve enough."""
        errors = current_scf_errors_Ry(self._output(directory))
        if len(errors) <= self.window:
            return False
        before, recent = min(errors[: -self.window]), min(errors[-self.window :])
        if recent > self.improvement * before:
            self.stuck_at = (len(errors), recent)
            return True
        return False

    def correct(self, directory: str = "./") -> dict[str, Any]:
        out = super().correct(directory)
        n, best = self.stuck_at or (0, float("nan"))
        out["errors"] = [f"SCF stagnated: best accuracy {best:.2e} Ry not improved over the last {self.window} "
                         f"of {n} iterations; stopped"] + out["errors"]
        return out


class LooseScfRelaxationHandler(QEErrorHandler):
    """A relaxation that ran out of ionic steps on SCF noise: tighten conv_thr, go on from where it was.

    The case: every SCF converged, but the relaxation did not (``nstep`` reached, or BFGS gave
    up after resetting its history), and pw.x warned that the SCF correction to the forces was
    large -- the forces were below ten times their SCF error, so the forces and the energies
    BFGS compares are partly SCF noise (measured on H2 with conv_thr 1e-3 Ry: out of steps, then
    converged once tightened, ``tests/engines/test_qe_loose_scf_relax_pwx.py``).  It does not
    help when the energy itself is discontinuous (pw.x 6.7's DFT-D3 steps, benchmarks/README.md):
    after its second tightening it gives up.  The correction multiplies ``conv_thr`` by ``factor`` (not
    below ``floor_Ry``) and restarts from the saved density at the last geometry; at most
    ``max_tightenings`` times per calculation.  It changes the numerical accuracy, not the
    physics.
    """

    def __init__(self, factor: float = 0.01, floor_Ry: float = 1e-12, max_tightenings: int = 2) -> None:
        self.factor = float(factor)
        self.floor_Ry = float(floor_Ry)
        self.max_tightenings = int(max_tightenings)
        self.warnings = 0

    def check(self, directory: str = "./") -> bool:
        """True for a relaxation ``not converged`` after converged SCFs with pw.x's large-SCF-correction warning."""
        outcome = self._outcome(directory)
        if outcome.outcome != NOT_CONVERGED or outcome.scf_not_converged:  # not converged implies a text output
            return False
        if not (Path(directory) / PW_INPUT).is_file():
            return False
        # relax only: restart_actions carries a relaxation's last positions over, not a vc-relax's cell
        data = read_pw_input(Path(directory))
        if str(data.get("calculation", "scf")) != "relax":
            return False
        text = self._output(directory)
        if bfgs_stalled(text, data):  # StalledBfgsHandler's case: another optimiser, not a tighter SCF
            return False
        self.warnings = large_scf_correction_count(text)
        return self.warnings > 0

    def correct(self, directory: str = "./") -> dict[str, Any]:
        path = Path(directory)
        state = _state(path)
        done = int(state.get("conv_thr_tightenings", 0))
        data = read_pw_input(path)
        old = float(data.get("conv_thr") or 1e-6)
        new = max(old * self.factor, self.floor_Ry)
        error = (f"relaxation not converged while pw.x warned {self.warnings} time(s) that the SCF correction to "
                 f"the forces was large (conv_thr {old:.1e} Ry)")
        if done >= self.max_tightenings or new >= old:
            return {"errors": [f"{error}; conv_thr already tightened {done} time(s): the relaxation does not settle "
                               "(check the forces and the geometry, or raise forc_conv_thr)"], "actions": None}
        actions = [set_action(data, "conv_thr", float(f"{new:.3e}")), *restart_actions(path, data)]
        apply_actions(path, actions)
        state["conv_thr_tightenings"] = done + 1
        _save_state(path, state)
        return {"errors": [f"{error}; conv_thr -> {new:.1e} Ry, continuing from the last geometry"], "actions": actions}


def bfgs_stalled(text: str, data: Any, min_resets: int = 3) -> bool:
    """A BFGS relaxation (``data``: its pw.x input) that pw.x stopped, or that reset its history
    ``min_resets`` times without accepting a step (:func:`~tipsurf.engines.qe.outputs.bfgs_stall_resets`)."""
    if str(data.get("calculation", "scf")) != "relax" or str(data.get("ion_dynamics") or "bfgs").lower() != "bfgs":
        return False
    return any(stop in text for stop in BFGS_STOPPED) or bfgs_stall_resets(text) >= min_resets


class StalledBfgsHandler(QEErrorHandler):
    """Monitor: a BFGS relaxation going back and forth is continued with damped dynamics.

    BFGS accepts a step only if the energy went down as its forces predicted.  When the energy
    has a step the forces do not see -- pw.x 6.7's DFT-D3 term jumps by ~0.5 mRy for 0.0025 A
    of Ti over MgO (benchmarks/README.md) -- it rejects the step, resets its history, steps
    back and comes again, until ``nstep`` runs out (Ti@bridge: 27 SCF cycles, the last 11 at
    the same BFGS step).  Damped dynamics (pw.x ``ion_dynamics='damp'``) follows the forces
    and stops on them (a rise of the energy does not stop it), so it gets past such a step.
    The check: ``min_resets`` resets of the BFGS history without an accepted step in between,
    or a BFGS pw.x stopped ("history already reset at previous step: stopping"; pw.x 6.x then
    prints "bfgs converged" all the same).  The correction, once per calculation: stop pw.x,
    set ``ion_dynamics='damp'`` and go on from the last geometry and the saved density.  It
    changes the optimiser, not the physics: the same forces and thresholds decide.
    """

    is_monitor = True
    is_terminating = True

    def __init__(self, min_resets: int = 3) -> None:
        self.min_resets = int(min_resets)

    def check(self, directory: str = "./") -> bool:
        """True for a BFGS relaxation that stalled (see the class docstring); False once it runs damped."""
        path = Path(directory)
        if not (path / PW_INPUT).is_file() or not (path / PW_OUTPUT).is_file():
            return False
        text = self._output(directory)
        if ionic_verdict(text):  # converged in the end: nothing to continue
            return False
        return bfgs_stalled(text, read_pw_input(path), self.min_resets)

    def correct(self, directory: str = "./") -> dict[str, Any]:
        path = Path(directory)
        resets = bfgs_stall_resets(self._output(directory))  # read again here, not at every poll of check
        data = read_pw_input(path)
        actions = [set_action(data, "ion_dynamics", "damp"), *restart_actions(path, data)]
        apply_actions(path, actions)
        return {"errors": [f"BFGS stalled ({resets} history resets without an accepted step, or stopped by pw.x); "
                           "continuing with damped dynamics (ion_dynamics='damp') from the last geometry"],
                "actions": actions}


class WalltimeHandler(QEErrorHandler):
    """pw.x stopped at ``max_seconds``: restart from the charge density it saved.

    If the calculation's wall-time budget (``walltime_s`` of ``write_inputs``) still leaves at
    least ``min_remaining_fraction`` of it, pw.x is restarted at once with ``max_seconds`` cut
    to the time left.  Otherwise ``pw.in`` is left prepared for the restart
    (``startingpot='file'``) and the run stops, so that the workflow can run the same folder
    again in a new allocation.
    """

    raises_runtime_error = False

    def __init__(self, min_remaining_fraction: float = 0.25) -> None:
        self.min_remaining_fraction = min_remaining_fraction

    def check(self, directory: str = "./") -> bool:
        """True if the run is ``out of time``: pw.x stopped cleanly at ``max_seconds``."""
        return self._outcome(directory).outcome == OUT_OF_TIME

    def correct(self, directory: str = "./") -> dict[str, Any]:
        path = Path(directory)
        data = read_pw_input(path)
        actions = restart_actions(path, data)
        if not actions:
            return {"errors": ["max_seconds reached before any charge density was saved"], "actions": None}
        budget = _calc_info(path).get("walltime_s")
        started = _state(path).get("run_started_at")
        if budget and started:
            remaining = float(budget) - (time.time() - float(started))
            if remaining < self.min_remaining_fraction * float(budget):
                apply_actions(path, actions)
                return {
                    "errors": [
                        f"pw.x stopped at max_seconds with {max(remaining, 0):.0f} s of the {budget} s budget left; "
                        "pw.in now restarts from the saved density: run this folder again"
                    ],
                    "actions": None,
                    "prepared": actions,
                }
            actions.append(set_action(data, "max_seconds", float(max(1.0, round(0.9 * remaining, 1)))))
        apply_actions(path, actions)
        return {"errors": ["pw.x stopped at max_seconds"], "actions": actions}


def mark_run_start(directory: str | Path) -> None:
    """Record when this run started (the wall-time budget counts from here)."""
    path = Path(directory)
    state = _state(path)
    state["run_started_at"] = time.time()
    _save_state(path, state)


def default_handlers(scf_recovery: list[dict[str, Any]] | None = None) -> list[ErrorHandler]:
    """The handlers :func:`tipsurf.engines.qe.job.run_pw` uses, most specific first."""
    return [
        UnrecoverableErrorHandler(),
        DiagonalizationHandler(),
        WalltimeHandler(),
        ScfConvergenceHandler(scf_recovery),
        LooseScfRelaxationHandler(),
        ScfStagnationHandler(scf_recovery),
        StalledBfgsHandler(),
    ]
