"""The hotwire's pure parts: one envelope for every channel, one replay check, the peer-status codec."""

from __future__ import annotations

import random

from hacore.ctsync import wire
from hacore.hotwire import envelope, status
from hacore.security.replay import ReplayWindow

KEY = bytes(range(32))
STATUS = status.Status("node1", "master", 52, False, "abc")


def test_one_replay_check_for_every_channel() -> None:
    opener = envelope.Opener(KEY, ReplayWindow())
    body = status.encode(STATUS)
    assert opener.open("198.18.0.3", envelope.seal(KEY, body, 1000), 1000) == body
    assert opener.open("198.18.0.3", envelope.seal(KEY, body, 1000), 1000) == "replay"
    sync = wire.encode(wire.Keepalive(1, 2, 3))
    assert opener.open("198.18.0.3", envelope.seal(KEY, sync, 999), 1000) == "replay"  # a sync datagram too
    assert opener.open("198.18.0.3", envelope.seal(KEY, sync, 1001), 1000) == sync
    assert opener.open("198.18.0.3", envelope.seal(bytes(32), body, 1002), 1000) == "bad_auth"


def test_status_round_trip_and_bad_bodies() -> None:
    assert status.decode(status.encode(STATUS)) == STATUS
    assert status.decode(b"XXXX" + status.encode(STATUS)[4:]) == "bad_magic"
    assert status.decode(status.MAGIC + b"x" * 2000) == "too_long"
    assert status.decode(status.MAGIC + b'{"node":"x"}') == "malformed"
    wrong_type = b'{"digest":"","maintenance":false,"node":"n","priority":"1","role":"master"}'
    assert status.decode(status.MAGIC + wrong_type) == "malformed"
    bad_role = b'{"digest":"","maintenance":false,"node":"n","priority":1,"role":"boss"}'
    assert status.decode(status.MAGIC + bad_role) == "malformed"


def test_bad_envelopes_are_a_reason_not_an_exception() -> None:
    good = envelope.seal(KEY, status.encode(STATUS), 1)
    assert envelope.unseal(KEY, good[:envelope.OVERHEAD]) == "short"
    assert envelope.unseal(KEY, good + b"x" * envelope.MAX_LEN) == "too_long"
    assert envelope.unseal(KEY, good[:-1] + bytes([good[-1] ^ 1])) == "bad_auth"
    rng = random.Random(0)
    for _ in range(2000):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
        assert isinstance(envelope.unseal(KEY, junk), str)
        assert isinstance(status.decode(junk), (str, status.Status))
