"""Every pw.x attempt's output is kept (issue 12 item 5): custodian reruns write a fresh pw.out."""

from __future__ import annotations

from pathlib import Path

from tipsurf.engines.qe.job import keep_previous_attempt


def test_earlier_outputs_are_numbered_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "pw.out"
    assert keep_previous_attempt(out) is None  # first attempt: nothing to keep
    for text in ("attempt one", "attempt two"):
        out.write_text(text)
        keep_previous_attempt(out)
    assert not out.exists()
    assert (tmp_path / "pw.out.attempt-1").read_text() == "attempt one"
    assert (tmp_path / "pw.out.attempt-2").read_text() == "attempt two"
    out.write_text("")
    assert keep_previous_attempt(out) is None and out.exists()  # an empty file is not an attempt
