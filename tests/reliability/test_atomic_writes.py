"""A crash while writing never leaves a half-written file in place of a good one.

Two kinds of crash: an exception raised in the middle of serialisation (every exporter), and
a writer process killed with SIGKILL at random moments while it rewrites a large file.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest

GOOD = {"E_ex_eV": [0.1, 0.2], "note": "the good version"}


class Boom(RuntimeError):
    pass


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_path_exception_keeps_old_file(tmp_path: Path) -> None:
    from tipsurf.atomic import atomic_path, write_text_atomic

    target = write_text_atomic(tmp_path / "table.csv", "d_A,E_ex_eV\n4.0,0.1\n")
    with pytest.raises(Boom):
        with atomic_path(target) as tmp:
            with open(tmp, "w") as handle:
                handle.write("d_A,E_ex_eV\n4.0,")  # half a row, then the crash
                raise Boom("disk full")
    assert target.read_text() == "d_A,E_ex_eV\n4.0,0.1\n"
    assert _leftovers(tmp_path) == []


def test_write_json_unserialisable_keeps_old_file(tmp_path: Path) -> None:
    from tipsurf.atomic import write_json_atomic

    target = write_json_atomic(tmp_path / "r.json", GOOD)
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})
    assert json.loads(target.read_text()) == GOOD
    assert _leftovers(tmp_path) == []


def _rows_then_crash():
    yield {"d_A": 4.0, "E_ex_eV": 0.1}
    yield {"d_A": 4.5, "E_ex_eV": 0.05}
    raise Boom("crash while producing rows")


def test_export_csv_crash_mid_rows_keeps_old_file(tmp_path: Path) -> None:
    from tipsurf.analysis.export import write_csv

    target = write_csv(tmp_path / "exchange.csv", [{"d_A": 5.0, "E_ex_eV": 0.01}], ["d_A", "E_ex_eV"])
    good = target.read_text()
    with pytest.raises(Boom):
        write_csv(target, _rows_then_crash(), ["d_A", "E_ex_eV"])
    assert target.read_text() == good
    assert _leftovers(tmp_path) == []


def test_export_json_crash_keeps_old_file(tmp_path: Path) -> None:
    from tipsurf.analysis.export import write_json

    target = write_json(tmp_path / "exchange.json", GOOD)
    with pytest.raises(TypeError):
        write_json(target, {"rows": [object()]})
    assert json.loads(target.read_text()) == GOOD
    assert _leftovers(tmp_path) == []


def test_export_npz_crash_mid_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tipsurf.analysis import export

    target = export.write_npz(tmp_path / "map.npz", f0_GHz=np.arange(4.0))
    good = target.read_bytes()

    def half_then_crash(handle, **arrays):
        handle.write(b"PK\x03\x04 half a zip")
        raise Boom("killed during savez")

    monkeypatch.setattr(export.np, "savez_compressed", half_then_crash)
    with pytest.raises(Boom):
        export.write_npz(target, f0_GHz=np.arange(10.0))
    assert target.read_bytes() == good
    assert np.load(target)["f0_GHz"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert _leftovers(tmp_path) == []


def test_structure_writer_crash_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tipsurf.structures import build_molecule, io, read_structure, write_structure

    target = write_structure(build_molecule("H2", box_A=6.0), tmp_path / "s.xyz")
    good = target.read_text()

    def crash(*args, **kwargs):
        raise Boom("crash in the extxyz writer")

    monkeypatch.setattr(io, "write", crash)
    with pytest.raises(Boom):
        write_structure(build_molecule("H2", box_A=8.0), target)
    assert target.read_text() == good
    assert len(read_structure(target)) == 2
    assert _leftovers(tmp_path) == []


def test_launchpad_store_save_crash_keeps_old_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tipsurf.workflows.launchpad")
    import bson.json_util

    from tipsurf.workflows import launchpad as lpmod
    from tipsurf.workflows import store

    with lpmod.open_launchpad(project_dir=tmp_path) as handle:
        store.register_campaign(handle.db, "kept", "distance_scan", {}, [])
    path = tmp_path / ".tipsurf" / "launchpad.json"
    good = path.read_bytes()
    original = bson.json_util.dumps

    def crash(*args, **kwargs):
        raise Boom("crash while serialising the store")

    with lpmod.open_launchpad(project_dir=tmp_path) as handle:
        store.register_campaign(handle.db, "lost", "distance_scan", {}, [])
        monkeypatch.setattr(bson.json_util, "dumps", crash)
        with pytest.raises(Boom):
            handle.flush()
        monkeypatch.setattr(bson.json_util, "dumps", original)
        handle.read_only = True  # do not save at exit: simulate the process dying here
    assert path.read_bytes() == good
    with lpmod.open_launchpad(project_dir=tmp_path) as handle:
        assert store.campaign_names(handle.db) == ["kept"]


# ----------------------------------------------------------------------------- SIGKILL


def _payload(generation: int) -> str:
    body = "".join(f"{generation},{i},{i * 0.001:.6f}\n" for i in range(60000))  # ~1 MB
    return f"# generation {generation} sha256 {hashlib.sha256(body.encode()).hexdigest()}\n" + body


def _rewrite_forever(path: str) -> None:
    from tipsurf.atomic import write_text_atomic

    generation = 0
    while True:
        generation += 1
        write_text_atomic(path, _payload(generation))


def _check_whole(path: Path) -> int:
    text = path.read_text()
    header, body = text.split("\n", 1)
    _, _, generation, _, digest = header.split()
    assert hashlib.sha256(body.encode()).hexdigest() == digest, "half-written file in place of a good one"
    return int(generation)


def test_writer_killed_at_random_moments_never_leaves_half_file(tmp_path: Path) -> None:
    from tipsurf.atomic import write_text_atomic

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs fork")
    rng = random.Random(7)
    target = tmp_path / "results.csv"
    write_text_atomic(target, _payload(0))
    ctx = mp.get_context("fork")
    generations = []
    for _ in range(10):
        proc = ctx.Process(target=_rewrite_forever, args=(str(target),))
        proc.start()
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        generations.append(_check_whole(target))
    # stray temporaries of killed writers may remain (they are hidden dot-files), the target never breaks
    assert all(p.name.startswith(".") for p in tmp_path.iterdir() if p != target)
    assert max(generations) >= 1, "the writer never completed a file; the test did not exercise anything"
