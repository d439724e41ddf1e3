"""One lock for the shared campaign state while several workers of one process compute.

``tipsurf run --workers 2`` runs two FireWorks rockets in two threads of one process that
share one launchpad (the embedded store lives in this process's memory).  Everything a rocket
does with the launchpad, the results store and the working folder happens under
:data:`STATE_LOCK`; only the external code's run (pw.x under custodian, which touches nothing
but its own calculation folder) happens outside it, inside :func:`released`.  So exactly one
thread at a time reads or writes the store, checks a Firework out or saves the store to disk,
and the two pw.x runs overlap.

With one worker nobody holds the lock and :func:`released` does nothing.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["STATE_LOCK", "holding_state", "released"]


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
