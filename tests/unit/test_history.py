"""Role history: kept across restarts, bounded, and a corrupt file does not stop the daemon."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hacore.node import history
from hacore.node.history import History


def test_history_survives_a_restart(tmp_path: Path) -> None:
    h = History(tmp_path / "roles.json")
    h.append(1.0, "backup", "master", "peer timeout")
    h.save()
    assert History(tmp_path / "roles.json").entries() == [
        {"when": 1.0, "old": "backup", "new": "master", "reason": "peer timeout"}]


def test_history_keeps_the_newest(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(history, "KEEP", 3)
    h = History(tmp_path / "roles.json")
    for n in range(5):
        h.append(float(n), "backup", "master", f"n{n}")
    assert [e["reason"] for e in h.entries()] == ["n2", "n3", "n4"]


def test_a_corrupt_file_is_set_aside_and_said_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "roles.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert History(tmp_path / "roles.json").entries() == []
    assert (tmp_path / "roles.json.corrupt").read_text() == "{not json"
    [record] = [r for r in caplog.records if r.getMessage() == "state_file_damaged"]
    assert record.fields["moved_to"] == tmp_path / "roles.json.corrupt"  # type: ignore[attr-defined]


@pytest.mark.parametrize("content", ["{}", "[1, 2]", '[{"when": "x", "old": 1}]', '"a string"', "null"])
def test_json_of_the_wrong_shape_is_set_aside_too(tmp_path: Path, content: str) -> None:
    (tmp_path / "roles.json").write_text(content)
    assert History(tmp_path / "roles.json").entries() == []
    assert (tmp_path / "roles.json.corrupt").read_text() == content
