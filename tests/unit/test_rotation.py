"""A change of the cluster's keys: both nodes keep accepting each other throughout."""

from __future__ import annotations

from hacore.security.keys import BAD_AUTH, KeyChoice, Keys, Rotation

OLD, NEW, NEWER = Keys(b"v-old", b"h-old"), Keys(b"v-new", b"h-new"), Keys(b"v-newer", b"h-newer")


def test_the_node_that_changed_seals_with_the_old_keys_until_the_peer_has_the_new() -> None:
    r = Rotation(OLD)
    r.start(NEW, peer_has_it=False)
    assert r.sealing() == OLD and r.accepting() == (OLD, NEW) and "until the peer has" in r.describe()
    r.peer_has_new()  # the synchronize it sent was applied
    assert r.sealing() == NEW and r.accepting() == (OLD, NEW)
    assert r.heard_new() and r.accepting() == (NEW,) and r.describe() == ""
    assert not r.heard_new()  # nothing more to change


def test_the_receiver_seals_with_the_new_keys_at_once_and_keeps_accepting_the_old() -> None:
    r = Rotation(OLD)
    r.start(NEW, peer_has_it=True)
    assert r.sealing() == NEW and r.accepting() == (OLD, NEW)
    r.heard_new()
    assert r.accepting() == (NEW,)


def test_hearing_the_peer_with_the_new_keys_ends_a_change_without_a_synchronize() -> None:
    r = Rotation(OLD)
    r.start(NEW, peer_has_it=False)
    assert r.heard_new() and r.sealing() == NEW and r.accepting() == (NEW,)


def test_a_second_change_before_the_first_ended_keeps_what_the_peer_accepts() -> None:
    r = Rotation(OLD)
    r.start(NEW, peer_has_it=False)
    r.start(NEWER, peer_has_it=False)
    assert r.sealing() == OLD and r.accepting() == (OLD, NEWER)
    r.start(NEWER, peer_has_it=True)  # the same keys again: nothing changes
    assert r.sealing() == OLD


def test_a_key_choice_tries_each_key_and_notes_when_the_newest_was_heard() -> None:
    c = KeyChoice(b"old")
    c.set((b"old", b"new"))
    assert not c.heard_newest
    assert c.first(lambda k: "status" if k == b"old" else BAD_AUTH) == "status"  # a str is a refusal reason
    assert c.first(lambda k: 1 if k == b"old" else BAD_AUTH) == 1 and not c.heard_newest
    assert c.first(lambda k: BAD_AUTH) == BAD_AUTH
    assert c.first(lambda k: 2 if k == b"new" else BAD_AUTH) == 2 and c.heard_newest
    c.set((b"new", b"new"))
    assert c.keys == (b"new",) and c.heard_newest
