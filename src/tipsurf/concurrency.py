"""One lock for the shared campaign state while several workers of one process compute.

``tipsurf run --workers 2`` runs two FireWorks rockets in two threads of one process that
share one launchpad (the embedded store lives in this process's memory).  Everything a rocket
does with the launchpad, the results store and the working folder happens under
:data:`STATE_LOCK`; only the external code's run (pw.x under custodian, which touches nothing
but its own calculation folder) happens outside it, inside :func:`released`.  So exactly one
thread at a time reads or writes the store, checks a Firework out or saves the store to disk,
and the two pw.x runs overlap.

With one worker nobody holds the lock and :func:`released` does nothing.

Stopping (Ctrl-C, SIGTERM): :data:`STOP_REQUESTED` is set by whoever receives the signal (the
main thread), and :func:`stop_children` stops every external program registered with
:func:`register_child` (TERM, then KILL after a grace period), so no pw.x outlives tipsurf.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["STATE_LOCK", "STOP_REQUESTED", "claim", "holding_state", "register_child", "released", "stop_children"]

#: Set when the run must stop (a signal arrived); workers start nothing new once it is set.
STOP_REQUESTED = threading.Event()
_CHILDREN: set[subprocess.Popen] = set()
_CHILDREN_LOCK = threading.Lock()
_CLAIMS: dict[str, threading.Event] = {}
_CLAIMS_LOCK = threading.Lock()


def register_child(process: subprocess.Popen) -> None:
    """Register a running external program until it is reaped (see :func:`stop_children`)."""
    with _CHILDREN_LOCK:
        _CHILDREN.add(process)


def stop_children(grace_s: float = 10.0) -> list[int]:
    """Stop every registered program still running: SIGTERM, SIGKILL after ``grace_s``; their PIDs."""
    with _CHILDREN_LOCK:
        running = [p for p in _CHILDREN if p.poll() is None]
        _CHILDREN.difference_update([p for p in _CHILDREN if p.poll() is not None])
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return [p.pid for p in running]


class _StateLock:
    """A lock that remembers its owner thread, so :func:`released` knows whether to release."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def acquire(self) -> None:
        self._lock.acquire()
        self._owner = threading.get_ident()

    def release(self) -> None:
        self._owner = None
        self._lock.release()

    def held_here(self) -> bool:
        return self._owner == threading.get_ident()


#: The process-wide lock of the shared campaign state (see the module docstring).
STATE_LOCK = _StateLock()


@contextmanager
def holding_state() -> Iterator[None]:
    """Hold :data:`STATE_LOCK` for the block (a worker's store, launchpad and folder work)."""
    STATE_LOCK.acquire()
    try:
        yield
    finally:
        STATE_LOCK.release()


@contextmanager
def released() -> Iterator[None]:
    """Let other workers use the shared state during the block (an external code's run).

    A no-op when this thread does not hold :data:`STATE_LOCK` (one worker, or no runner).
    """
    if not STATE_LOCK.held_here():
        yield
        return
    STATE_LOCK.release()
    try:
        yield
    finally:
        STATE_LOCK.acquire()


@contextmanager
def claim(key: str) -> Iterator[threading.Event | None]:
    """Claim ``key`` (a calculation's fingerprint) for this thread for the block.

    Yields None when the claim succeeded (the block owns the key until it ends), else the
    owner's event, set when the owner's block ends: two campaigns that share a point have a
    Firework each, and the second worker to reach it waits for the first instead of starting a
    second pw.x in the same folder (see :class:`~tipsurf.workflows.tasks.CalcTask`).
    """
    with _CLAIMS_LOCK:
        owner = _CLAIMS.get(key)
        mine = threading.Event() if owner is None else None
        if mine is not None:
            _CLAIMS[key] = mine
    if mine is None:
        yield owner
        return
    try:
        yield None
    finally:
        with _CLAIMS_LOCK:
            _CLAIMS.pop(key, None)
        mine.set()
