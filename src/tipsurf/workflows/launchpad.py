"""LaunchPads: an embedded, file-backed one (one process at a time) or a real MongoDB one.

Embedded (the default, no server needed)
    Everything lives in the project's state folder ``<project>/.tipsurf/``::

        launchpad.json      the whole database (FireWorks collections + tipsurf's results)
        launchpad.lock      file lock held by the one process that uses the store
        launchpad.owner     pid and command of that process (for the "busy" message)
        my_launchpad.yaml   FireWorks launchpad file for FireWorks' own ``lpad`` command
        FW_config.yaml      FireWorks config pointing ``MONGOMOCK_SERVERSTORE_FILE`` at the store
        calcs/<fingerprint>/  one deterministic folder per calculation
        launches/           FireWorks launcher folders

    The store is FireWorks' mongomock-persistence support, but driven explicitly: the JSON
    file is loaded when the launchpad is opened and written back (write-then-rename) by
    :meth:`LaunchpadHandle.flush` after every operation, never by a finaliser at process exit,
    so a process killed between operations loses nothing and a killed write never leaves a
    half-written file.  A file lock makes a second process fail at once with
    :class:`~tipsurf.errors.LaunchpadBusyError`.  Because only the lock holder runs rockets,
    any Firework found RUNNING or RESERVED when the lock is acquired belongs to a dead process
    and is put back to READY.

    FireWorks' own commands work on it while no tipsurf process holds it::

        FW_CONFIG_FILE=.tipsurf/FW_config.yaml lpad get_wflows
        lpad -l .tipsurf/my_launchpad.yaml get_wflows    # with the FW_config above

MongoDB (for many workers on a cluster)
    A standard FireWorks ``my_launchpad.yaml`` given with ``--launchpad FILE`` or as
    ``launchpad:`` in the tipsurf configuration.  Everything above the LaunchPad object is the
    same code path; :meth:`LaunchpadHandle.flush` does nothing there.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tipsurf.atomic import write_text_atomic
from tipsurf.errors import ConfigurationError, InputError, LaunchpadBusyError

STATE_DIRNAME = ".tipsurf"
STORE_FILENAME = "launchpad.json"
DB_NAME = "tipsurf"
LOCK_TIMEOUT_S = 0.5
SERVER_TIMEOUT_MS = 5000


@dataclass
class LaunchpadHandle:
    """An open LaunchPad plus what tipsurf needs around it.

    Attributes
    ----------
    lp
        The ``fireworks.LaunchPad``.
    kind
        ``"embedded"`` or ``"mongodb"``.
    project_dir
        Folder whose ``.tipsurf/`` holds calcs, launches (and the embedded store).
    store_path
        The embedded store file (None for MongoDB).
    read_only
        An embedded snapshot opened while another process holds the lock (never flushed).
    recovered
        fw_ids of RUNNING/RESERVED Fireworks of a dead process put back to READY on opening.
    """

    lp: Any
    kind: str
    project_dir: Path
    store_path: Path | None = None
    read_only: bool = False
    busy_message: str | None = None
    recovered: list[int] = field(default_factory=list)
    _server_store: Any = None

    @property
    def state_dir(self) -> Path:
        """``<project>/.tipsurf``."""
        return self.project_dir / STATE_DIRNAME

    @property
    def calcs_dir(self) -> Path:
        """Root of the per-fingerprint calculation folders."""
        return self.state_dir / "calcs"

    @property
    def launches_dir(self) -> Path:
        """Where FireWorks launcher folders are created."""
        return self.state_dir / "launches"

    @property
    def db(self) -> Any:
        """The database (FireWorks collections and tipsurf's own)."""
        return self.lp.db

    def describe(self) -> str:
        """One line naming the launchpad."""
        if self.kind == "embedded":
            return f"embedded launchpad {self.store_path}"
        return f"MongoDB launchpad {redact(self.lp.host, [str(self.lp.password or '')])}/{self.lp.name}"

    def flush(self) -> None:
        """Persist the embedded store atomically (no-op for MongoDB or a read-only snapshot)."""
        if self.kind != "embedded" or self.read_only or self._server_store is None:
            return
        save_server_store(self._server_store, self.store_path)


_OPEN_HANDLES: dict[int, LaunchpadHandle] = {}


def flush_launchpad(lp: Any) -> None:
    """Save the embedded store behind ``lp`` if this process has it open (else do nothing).

    Firetasks call it when they start, so a run killed mid-calculation is on disk as RUNNING
    and is recovered (put back to READY) the next time the store is opened.
    """
    handle = _OPEN_HANDLES.get(id(lp))
    if handle is not None and handle.lp is lp:
        handle.flush()


def state_dir(project_dir: str | Path | None = None) -> Path:
    """``<project>/.tipsurf`` (project defaults to the current folder)."""
    return Path(project_dir or os.getcwd()).resolve() / STATE_DIRNAME


def calc_dir_for(project_dir: str | Path, fingerprint: str) -> Path:
    """Deterministic calculation folder of a fingerprint."""
    return Path(project_dir).resolve() / STATE_DIRNAME / "calcs" / fingerprint


# --------------------------------------------------------------------------------------------
# embedded store: load / save the mongomock server store ourselves


def _mongomock_store_classes() -> tuple[Any, Any]:
    import mongomock_persistence  # noqa: F401  (patches the store classes with to/from_dict)
    from mongomock.store import DatabaseStore, ServerStore

    return ServerStore, DatabaseStore


def load_server_store(path: Path) -> Any:
    """Read the JSON store into a mongomock ServerStore without a write-at-exit finaliser."""
    import bson.json_util

    server_cls, database_cls = _mongomock_store_classes()
    text = path.read_text(encoding="utf-8") if path.exists() else "{}"
    try:
        data = bson.json_util.loads(text or "{}")
    except ValueError:
        raise ConfigurationError(
            f"the embedded launchpad {path} is not valid JSON; restore it from a backup or move it away to start afresh"
        ) from None
    store = server_cls.__new__(server_cls)
    store._filename = None  # never written by mongomock_persistence itself
    store._databases = {name: database_cls.from_dict(db) for name, db in data.items()}
    return store


def save_server_store(store: Any, path: Path) -> None:
    """Write the store to ``path`` atomically (write-then-rename)."""
    import bson.json_util

    payload = {name: db.to_dict() for name, db in store._databases.items()}
    write_text_atomic(path, bson.json_util.dumps(payload))


def _make_launchpad_on_client(client: Any, name: str = DB_NAME) -> Any:
    """Build a FireWorks LaunchPad whose connection is ``client`` (a mongomock client)."""
    import fireworks.core.launchpad as fw_launchpad
    import mongomock.gridfs

    mongomock.gridfs.enable_gridfs_integration()
    original = fw_launchpad.MongoClient
    fw_launchpad.MongoClient = lambda *args, **kwargs: client
    try:
        lp = fw_launchpad.LaunchPad(host="localhost", port=27017, name=name, strm_lvl="ERROR")
    finally:
        fw_launchpad.MongoClient = original
    return lp


def write_fireworks_files(state: Path) -> tuple[Path, Path]:
    """Write ``my_launchpad.yaml`` and ``FW_config.yaml`` so FireWorks' CLI opens the store."""
    store = (state / STORE_FILENAME).resolve()
    lp_yaml = state / "my_launchpad.yaml"
    fw_config = state / "FW_config.yaml"
    lp_text = (
        "# FireWorks launchpad of tipsurf's embedded (mongomock, file-backed) store.\n"
        "# Use with FW_CONFIG_FILE pointing at FW_config.yaml beside this file, e.g.\n"
        f"#   FW_CONFIG_FILE={fw_config.resolve()} lpad get_wflows\n"
        "# and only while no tipsurf process holds the store (see launchpad.owner).\n"
        "host: localhost\nport: 27017\n"
        f"name: {DB_NAME}\nlogdir: null\nstrm_lvl: INFO\n"
    )
    cfg_text = (
        "# FireWorks configuration for tipsurf's embedded store (mongomock-persistence).\n"
        f"MONGOMOCK_SERVERSTORE_FILE: {store}\n"
        f"LAUNCHPAD_LOC: {lp_yaml.resolve()}\n"
    )
    for path, text in ((lp_yaml, lp_text), (fw_config, cfg_text)):
        if not path.exists() or path.read_text() != text:
            write_text_atomic(path, text)
    return lp_yaml, fw_config


def _owner_text() -> str:
    command = " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:3]) if sys.argv else "python"
    return json.dumps({"pid": os.getpid(), "command": command, "since": time.strftime("%Y-%m-%d %H:%M:%S")})


def _busy_message(state: Path) -> str:
    try:
        owner = json.loads((state / "launchpad.owner").read_text())
        who = f"process {owner.get('pid')} ({owner.get('command')}, since {owner.get('since')})"
    except (OSError, ValueError):
        who = "another process"
    return (
        f"the launchpad {state / STORE_FILENAME} is in use by {who}; wait for it to finish "
        "or use a MongoDB launchpad (--launchpad my_launchpad.yaml) for several workers"
    )


def ensure_initialized(lp: Any) -> None:
    """Create FireWorks' id counters in a new, empty database (what ``lpad reset`` does)."""
    if lp.fw_id_assigner.count_documents({}) == 0 and lp.fireworks.count_documents({}) == 0:
        lp.fw_id_assigner.insert_one({"next_fw_id": 1, "next_launch_id": 1})


def recover_dead_runs(lp: Any) -> list[int]:
    """Put RUNNING/RESERVED Fireworks back to READY (embedded store: their process is dead)."""
    recovered: list[int] = []
    for fw_id in lp.get_fw_ids({"state": {"$in": ["RUNNING", "RESERVED"]}}):
        lp.rerun_fw(fw_id, rerun_duplicates=False)
        recovered.append(int(fw_id))
    return recovered


def _lock_is_held(state: Path) -> bool:
    """True if some process holds the embedded store's lock right now."""
    from filelock import FileLock, Timeout

    probe = FileLock(str(state / "launchpad.lock"), timeout=0, thread_local=False)
    try:
        probe.acquire()
    except Timeout:
        return True
    probe.release()
    return False


@contextmanager
def _embedded(project_dir: Path, read_only_ok: bool, snapshot: bool = False) -> Iterator[LaunchpadHandle]:
    from filelock import FileLock, Timeout
    import mongomock

    state = project_dir / STATE_DIRNAME
    store_path = state / STORE_FILENAME
    if (read_only_ok and not store_path.exists()) or snapshot:  # a pure read: no lock, no recovery, no write
        busy = _busy_message(state) if store_path.exists() and _lock_is_held(state) else None
        lp = _make_launchpad_on_client(mongomock.MongoClient(_store=load_server_store(store_path)))
        yield LaunchpadHandle(lp, "embedded", project_dir, store_path, True, busy, [], None)
        return
    state.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(state / "launchpad.lock"), timeout=LOCK_TIMEOUT_S, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        message = _busy_message(state)
        if not read_only_ok:
            raise LaunchpadBusyError(message) from None
        store = load_server_store(store_path)
        lp = _make_launchpad_on_client(mongomock.MongoClient(_store=store))
        yield LaunchpadHandle(lp, "embedded", project_dir, store_path, True, message, [], store)
        return
    lp = None
    try:
        write_text_atomic(state / "launchpad.owner", _owner_text())
        write_fireworks_files(state)
        store = load_server_store(store_path)
        lp = _make_launchpad_on_client(mongomock.MongoClient(_store=store))
        ensure_initialized(lp)
        handle = LaunchpadHandle(lp, "embedded", project_dir, store_path, False, None, [], store)
        handle.recovered = recover_dead_runs(lp)
        handle.flush()
        _OPEN_HANDLES[id(lp)] = handle
        yield handle
        handle.flush()
    finally:
        if lp is not None:
            _OPEN_HANDLES.pop(id(lp), None)
        (state / "launchpad.owner").unlink(missing_ok=True)
        lock.release()


def _load_mongodb(path: Path) -> Any:
    from fireworks import LaunchPad

    from tipsurf.templates import load_yaml_file

    if not path.is_file():
        raise ConfigurationError(f"launchpad file {path} does not exist; give a FireWorks my_launchpad.yaml")
    try:
        settings = load_yaml_file(path, what="launchpad file")  # safe loader: no YAML tags executed
    except InputError as err:
        raise ConfigurationError(str(err)) from None
    kwargs = dict(settings.get("mongoclient_kwargs") or {})
    kwargs.setdefault("serverSelectionTimeoutMS", SERVER_TIMEOUT_MS)  # pymongo would wait 30 s
    kwargs.setdefault("connectTimeoutMS", SERVER_TIMEOUT_MS)
    settings["mongoclient_kwargs"] = kwargs
    secrets = _secrets(settings)
    try:
        lp = LaunchPad.from_dict(settings)
        lp.connection.admin.command("ping")
    except Exception as exc:  # noqa: BLE001  (malformed file, unreachable server, bad login)
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigurationError(
            f"cannot use the MongoDB launchpad of {path} ({redact(first, secrets)}); check host, port and credentials"
        ) from None
    return lp


def _secrets(settings: dict[str, Any]) -> list[str]:
    found = [str(settings[k]) for k in ("password",) if settings.get(k)]
    host = str(settings.get("host") or "")
    if "@" in host and "://" in host:
        userinfo = host.split("://", 1)[1].split("@", 1)[0]
        if ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
    return [s for s in found if s]


def redact(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with credentials of MongoDB URIs (``user:password@``) and given secrets removed."""
    import re

    text = re.sub(r"(mongodb(?:\+srv)?://)[^@/\s]*@", r"\1***@", str(text))
    for secret in secrets or []:
        if secret:
            text = text.replace(secret, "***")
    return text


def resolve_launchpad_file(launchpad: str | Path | None) -> Path | None:
    """The MongoDB launchpad file to use (argument, else configuration), or None for embedded."""
    if launchpad:
        return Path(launchpad).expanduser()
    from tipsurf.config import load_config

    return load_config().launchpad


@contextmanager
def open_launchpad(
    launchpad: str | Path | None = None,
    project_dir: str | Path | None = None,
    *,
    read_only_ok: bool = False,
    snapshot: bool = False,
) -> Iterator[LaunchpadHandle]:
    """Open the campaign database for the duration of a ``with`` block.

    Parameters
    ----------
    launchpad
        A FireWorks ``my_launchpad.yaml`` (MongoDB), or a project folder / ``.tipsurf``
        folder / ``launchpad.json`` of an embedded store.  Default: the ``launchpad`` of the
        tipsurf configuration, else the embedded store of ``project_dir``.
    project_dir
        Folder whose ``.tipsurf/`` holds the calculations (default: current folder).
    read_only_ok
        If the embedded store is held by another process, open its last saved state read-only
        instead of raising.
    snapshot
        Read the embedded store's last saved state without taking its lock, recovering dead
        runs or writing anything (``status``, ``results``): a query never touches a run.

    Raises
    ------
    LaunchpadBusyError
        The embedded store is held by another process (and ``read_only_ok`` is False).
    """
    project = Path(project_dir or os.getcwd()).resolve()
    target = resolve_launchpad_file(launchpad)
    if target is not None:
        if target.is_dir() or target.suffix == ".json":
            folder = target if target.is_dir() else target.parent
            project = folder.parent.resolve() if folder.name == STATE_DIRNAME else folder.resolve()
            target = None
        elif target.suffix not in {".yaml", ".yml"}:
            raise InputError(f"launchpad {target} must be a FireWorks my_launchpad.yaml or an embedded store folder")
    if target is None:
        with _embedded(project, read_only_ok, snapshot) as handle:
            yield handle
        return
    lp = _load_mongodb(target)
    ensure_initialized(lp)
    yield LaunchpadHandle(lp, "mongodb", project)
