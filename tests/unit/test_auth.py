"""HMAC adverts: a forged, altered or replayed advert is refused; a sealed one passes both codecs."""

from __future__ import annotations

from ipaddress import ip_address
from types import ModuleType

from hacore.security.replay import ReplayWindow
from hacore.vrrp.auth import TRAILER_LEN, Verifier, seal
from hacore.vrrp.codec import Advert, Expect
from hacore.vrrp.drops import Checksum, Drop

SRC, DST = ip_address("198.51.100.102").packed, ip_address("224.0.0.18").packed
ADV = Advert(3, 50, 52, 66, (ip_address("198.51.100.101"),))
KEY = bytes(range(32))
NOW = 10_000_000


def _sealed(codec: ModuleType, counter: int = NOW, key: bytes = KEY) -> bytes:
    return seal(key, ADV, SRC, DST, Checksum.PSEUDO, counter, codec.encode)


def _verifier() -> Verifier:
    return Verifier(KEY, ReplayWindow())


def test_sealed_advert_decodes_and_verifies(codec: ModuleType) -> None:
    wire = _sealed(codec)
    adv = codec.decode(wire, SRC, DST, 255, Expect(trailer_len=TRAILER_LEN))
    assert isinstance(adv, Advert) and adv.priority == 52 and len(adv.trailer) == TRAILER_LEN
    assert _verifier().check("lan1", wire, SRC, DST, NOW) == Drop.OK


def test_without_the_trailer_the_length_is_wrong(codec: ModuleType) -> None:
    plain = codec.encode(ADV, SRC, DST)
    assert codec.decode(plain, SRC, DST, 255, Expect(trailer_len=TRAILER_LEN)) == Drop.BAD_ADDR_COUNT


def test_forged_with_another_key_is_bad_auth(codec: ModuleType) -> None:
    wire = _sealed(codec, key=bytes(32))
    assert _verifier().check("lan1", wire, SRC, DST, NOW) == Drop.BAD_AUTH


def test_altered_priority_is_bad_auth(codec: ModuleType) -> None:
    from hacore.vrrp.codec import _checksum_base, fold, inet_sum

    wire = bytearray(_sealed(codec))
    wire[2] = 255  # a forger raises the priority and fixes the checksum
    wire[6:8] = b"\0\0"
    wire[6:8] = fold(inet_sum(bytes(wire), _checksum_base(3, SRC, DST, len(wire), Checksum.PSEUDO))).to_bytes(2, "big")
    assert codec.decode(bytes(wire), SRC, DST, 255, Expect(trailer_len=TRAILER_LEN)).priority == 255
    assert _verifier().check("lan1", bytes(wire), SRC, DST, NOW) == Drop.BAD_AUTH


def test_replayed_or_older_advert_is_refused(codec: ModuleType) -> None:
    first, second = _sealed(codec, NOW), _sealed(codec, NOW + 1)
    v = _verifier()
    assert v.check("lan1", second, SRC, DST, NOW) == Drop.OK
    assert v.check("lan1", second, SRC, DST, NOW) == Drop.REPLAY
    assert v.check("lan1", first, SRC, DST, NOW) == Drop.REPLAY
    assert v.check("lan2", first, SRC, DST, NOW) == Drop.OK  # counters are per link and sender


def test_a_restarted_receiver_refuses_what_it_saw_before(codec: ModuleType) -> None:
    v = _verifier()
    assert v.check("lan1", _sealed(codec, NOW), SRC, DST, NOW) == Drop.OK
    restarted = Verifier(KEY, ReplayWindow(v.window.snapshot()))
    assert restarted.check("lan1", _sealed(codec, NOW), SRC, DST, 5) == Drop.REPLAY
    assert restarted.check("lan1", _sealed(codec, NOW + 1), SRC, DST, 5) == Drop.OK


def test_moved_to_another_source_is_bad_auth(codec: ModuleType) -> None:
    wire = _sealed(codec)
    other = ip_address("198.51.100.66").packed
    assert _verifier().check("lan1", wire, other, DST, NOW) == Drop.BAD_AUTH


def test_truncated_input_is_bad_auth_not_an_exception() -> None:
    assert _verifier().check("lan1", b"\x31" * 10, SRC, DST, NOW) == Drop.BAD_AUTH
