"""Named configurations: save, list, load, diff, history; crash safety."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hacore.config.parse import ConfigError
from hacore.config.store import Store, UnloadedEdit, set_value
from hacore.config.validate import check
from tests.unit.lab_config import NODE1


@pytest.fixture
def store(tmp_path: Path) -> Store:
    start = tmp_path / "hacore.toml"
    start.write_text(NODE1)
    return Store(tmp_path / "state", start)


def load(store: Store, name: str, who: str) -> str:
    """What the daemon does for `config load`: the start file first, then the record."""
    text = store.text(name)
    store.replace_start(text, store.start_path.read_text(), who, f"config load {name}")
    store.record_load(name, who, check(text)[0])
    return text


def test_save_list_load_round_trip(store: Store) -> None:
    store.save("base", NODE1, "alice")
    slow = set_value(NODE1, ("cluster", "update_trigger_delay_s"), 5.0)
    store.save("slow", slow, "bob")
    rows = {r["name"]: r for r in store.list()}
    assert set(rows) == {"base", "slow"}
    assert rows["base"]["start"] and not rows["slow"]["start"]
    assert rows["slow"]["who"] == "bob"

    assert load(store, "slow", "carol") == slow
    assert check(store.start_path.read_text())[0].cluster.update_trigger_delay_s == 5.0
    # The configuration it replaced is kept as revision @1, with who replaced it and how.
    assert {r["name"]: r["start"] for r in store.list()} == {"base": False, "slow": True, "@1": False}
    assert store.text("@1") == NODE1
    assert [(r.rev, r.who, r.why) for r in store.revisions()] == [(1, "carol", "config load slow")]
    assert [(e.name, e.action, e.who) for e in store.history()] == [
        ("base", "save", "alice"), ("slow", "save", "bob"), ("slow", "load", "carol")]


def test_diff_shows_settings_not_layout(store: Store) -> None:
    store.save("base", NODE1, "alice")
    store.save("slow", set_value(NODE1, ("cluster", "update_trigger_delay_s"), 5.0), "alice")
    diff = store.diff("base", "slow")
    assert "-cluster.update_trigger_delay_s = 2.0\n" in diff
    assert "+cluster.update_trigger_delay_s = 5.0\n" in diff
    assert len([line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]) == 2
    # No names: the last saved against the start configuration (which is still base).
    assert "+cluster.update_trigger_delay_s = 2.0" in store.diff(None, None)
    assert store.diff("base", None) == ""  # re-rendering by tomli_w changes layout, not meaning


def test_invalid_config_is_refused_and_nothing_is_written(store: Store) -> None:
    bad = set_value(NODE1, ("cluster", "vrid_offset"), 300)
    with pytest.raises(ConfigError, match="VRID 300"):
        store.save("bad", bad, "alice")
    with pytest.raises(ConfigError):
        store.replace_start(bad, NODE1, "alice", "config load bad")
    assert store.list() == [] and store.revisions() == []
    assert store.start_path.read_text() == NODE1


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a/b", "start", ".hidden", "x" * 65])
def test_bad_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(ConfigError, match="invalid configuration name"):
        store.save(name, NODE1, "alice")


def test_unknown_name_is_a_clear_error(store: Store) -> None:
    with pytest.raises(ConfigError, match="no configuration named 'nope'"):
        load(store, "nope", "alice")


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from hacore.config.store import Store, set_value
    start = Path(sys.argv[1]); store = Store(Path(sys.argv[2]), start)
    base = start.read_text()
    print("ready", flush=True)
    for i in range(100000):
        text = set_value(base, ("cluster", "update_trigger_delay_s"), 2.0 + i % 7)
        store.save(f"c{i % 3}", text, "writer")
        store.replace_start(text, start.read_text(), "writer", "test")
        store.replace_start(store.text(f"c{(i + 1) % 3}"), start.read_text(), "writer", "test") if i else None
""")


def test_kill_at_any_instant_leaves_only_whole_valid_files(tmp_path: Path) -> None:
    start = tmp_path / "hacore.toml"
    start.write_text(NODE1)
    state = tmp_path / "state"
    rng = random.Random(1234)
    for _round in range(25):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(start), str(state)], stdout=subprocess.PIPE,
                                 text=True)
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, 0.03))  # fault injection at a random instant, not synchronisation
        child.send_signal(signal.SIGKILL)
        child.wait()
        check(start.read_text())
        for path in (state / "configs").glob("*.toml"):
            check(path.read_text())
        for path in (state / "revisions").glob("*.toml"):
            check(path.read_text())
        for index in ("history.json", "revisions.json"):
            if (state / index).exists():
                json.loads((state / index).read_text())
        Store(state, start)  # reopening removes temp files a kill left behind
        assert not [p for p in state.rglob(".*") if ".tmp." in p.name]


def test_diff_masks_secrets_but_shows_that_they_changed(store: Store) -> None:
    store.save("base", NODE1, "alice")
    store.save("rekeyed", set_value(NODE1, ("cluster", "passphrase"), "a new passphrase"), "alice")
    diff = store.diff("base", "rekeyed")
    assert "insecure" not in diff and "a new passphrase" not in diff
    assert '-cluster.passphrase = "<secret ' in diff and '+cluster.passphrase = "<secret ' in diff


def test_an_unloaded_edit_is_never_overwritten(store: Store) -> None:
    edited = NODE1.replace("min_hold_s = 5.0", "min_hold_s = 7.0  # longer: the switch is slow")
    store.start_path.write_text(edited)  # the operator's edit, not loaded yet
    slow = set_value(NODE1, ("cluster", "update_trigger_delay_s"), 5.0)
    with pytest.raises(UnloadedEdit, match="not loaded: `hacore system config load start`"):
        store.replace_start(slow, NODE1, "root", "extc set UPDATE_TRIGGER_DELAY")
    assert store.start_path.read_text() == edited and store.revisions() == []
    store.check_unloaded(edited)  # once loaded it runs: no complaint
    with pytest.raises(UnloadedEdit):
        store.check_unloaded(NODE1)
    # Loading the edit itself is no loss: the configuration it replaces is kept.
    store.replace_start(edited, NODE1, "root", "config load start")
    assert store.text("@1") == NODE1


def test_a_rewrite_keeps_comments_and_layout() -> None:
    text = NODE1.replace("min_hold_s = 5.0", "min_hold_s = 5.0  # the switch needs it")
    out = set_value(text, ("cluster", "update_trigger_delay_s"), 3.0)
    assert check(out)[0].cluster.update_trigger_delay_s == 3.0
    assert "min_hold_s = 5.0  # the switch needs it" in out
    changed = [(a, b) for a, b in zip(text.splitlines(), out.splitlines(), strict=True) if a != b]
    assert changed == [("update_trigger_delay_s = 2.0", "update_trigger_delay_s = 3.0")]


def test_revisions_are_loadable_by_name_and_every_one_is_kept(store: Store) -> None:
    texts = [set_value(NODE1, ("cluster", "update_trigger_delay_s"), 3.0 + i) for i in range(4)]
    running = NODE1
    for i, text in enumerate(texts):
        store.replace_start(text, running, "root", f"step {i}")
        running = text
    assert [r.rev for r in store.revisions()] == [1, 2, 3, 4]
    assert store.text("@1") == NODE1 and store.text("@4") == texts[2]
    assert store.known_digests() == [r.digest for r in reversed(store.revisions())]  # newest first
    with pytest.raises(ConfigError, match="no revision '@9'"):
        store.text("@9")
