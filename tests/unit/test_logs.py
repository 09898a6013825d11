"""Logs an operator can read: timestamped off journald, repeats counted instead of written, no library noise."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hacore.support import logfmt


def _record(event: str, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("hacore.ctsync", logging.INFO, __file__, 1, event, None, None)
    record.fields = fields  # type: ignore[attr-defined]
    return record


def test_lines_carry_their_utc_time_unless_journald_stamps_them(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    line = logfmt.LogfmtFormatter(timestamps=True).format(_record("sync_complete", flows=3))
    assert line.startswith("ts=20") and line.split()[0].endswith("Z") and "event=sync_complete flows=3" in line
    with open(tmp_path / "stderr", "w") as err:
        monkeypatch.setattr(sys, "stderr", err)
        st = os.fstat(err.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert logfmt.under_journald()
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino + 1}")  # journald, but not our stderr
        assert not logfmt.under_journald()
        monkeypatch.delenv("JOURNAL_STREAM")
        assert not logfmt.under_journald()


def test_a_repeating_event_is_counted_not_written() -> None:
    now = [0.0]
    repeats = logfmt.Repeats(clock=lambda: now[0])
    flips = [_record(e) for _ in range(50) for e in ("sync_complete", "sync_incomplete")]
    written = [r for r in flips if repeats.filter(r)]
    assert [r.getMessage() for r in written] == ["sync_complete", "sync_incomplete"] * logfmt.BURST
    now[0] = logfmt.WINDOW_S
    again = _record("sync_complete")
    assert repeats.filter(again) and again.fields == {"suppressed": 50 - logfmt.BURST}  # type: ignore[attr-defined]
    other = logging.LogRecord("hacore.election", logging.INFO, __file__, 1, "sync_complete", None, None)
    assert repeats.filter(other)  # another logger's event of the same name is its own


def test_the_daemon_starts_without_library_warnings_on_stderr(tmp_path: Path) -> None:
    """cryptography's DSA deprecation used to print six lines at every start (asyncssh imports DSA)."""
    proc = subprocess.run([sys.executable, "-m", "hacore", "--socket", str(tmp_path / "s"), "daemon", "-c",
                           str(tmp_path / "missing.toml"), "--state-dir", str(tmp_path / "state")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "Warning" not in proc.stderr and proc.stderr.strip().splitlines()[-1].startswith("hacore: error:"), \
        proc.stderr


def test_under_journald_each_field_is_a_journal_field() -> None:
    sent: list[tuple[str, dict[str, str]]] = []
    handler = logfmt.JournalFields(lambda message, **fields: sent.append((message, fields)))
    handler.setFormatter(logfmt.LogfmtFormatter())
    record = _record("role_change", old="backup", new="master", reason="no peer heard")
    record.levelno, record.levelname = logging.WARNING, "WARNING"
    handler.emit(record)
    message, fields = sent[0]
    assert message == 'level=warning event=role_change old=backup new=master reason="no peer heard"'
    assert fields["PRIORITY"] == "4" and fields["HACORE_EVENT"] == "role_change"
    assert fields["HACORE_NEW"] == "master" and fields["HACORE_REASON"] == "no peer heard"
