"""HMAC adverts: a forged, altered or replayed advert is refused; a sealed one passes both codecs."""

from __future__ import annotations

from ipaddress import ip_address
from types import ModuleType

from hacore.vrrp.auth import TRAILER_LEN, Signer, Verifier, derive_key
from hacore.vrrp.codec import Advert, Expect
from hacore.vrrp.drops import Checksum, Drop

SRC, DST = ip_address("198.51.100.102").packed, ip_address("224.0.0.18").packed
ADV = Advert(3, 50, 52, 66, (ip_address("198.51.100.101"),))
KEY = derive_key("insecure")


def _sealed(codec: ModuleType, now_us: int = 1_000_000, key: bytes = KEY) -> bytes:
    return Signer(key).seal(ADV, SRC, DST, Checksum.PSEUDO, now_us, codec.encode)


def test_sealed_advert_decodes_and_verifies(codec: ModuleType) -> None:
    wire = _sealed(codec)
    adv = codec.decode(wire, SRC, DST, 255, Expect(trailer_len=TRAILER_LEN))
    assert isinstance(adv, Advert) and adv.priority == 52 and len(adv.trailer) == TRAILER_LEN
    assert Verifier(KEY).check("lan1", wire, SRC, DST) == Drop.OK


def test_without_the_trailer_the_length_is_wrong(codec: ModuleType) -> None:
    plain = codec.encode(ADV, SRC, DST)
    assert codec.decode(plain, SRC, DST, 255, Expect(trailer_len=TRAILER_LEN)) == Drop.BAD_ADDR_COUNT


def test_forged_with_another_passphrase_is_bad_auth(codec: ModuleType) -> None:
    wire = _sealed(codec, key=derive_key("guess"))
    assert Verifier(KEY).check("lan1", wire, SRC, DST) == Drop.BAD_AUTH


def test_altered_priority_is_bad_auth(codec: ModuleType) -> None:
    from hacore.vrrp.codec import _checksum_base, fold, inet_sum

    wire = bytearray(_sealed(codec))
    wire[2] = 255  # a forger raises the priority and fixes the checksum
    wire[6:8] = b"\0\0"
    wire[6:8] = fold(inet_sum(bytes(wire), _checksum_base(3, SRC, DST, len(wire), Checksum.PSEUDO))).to_bytes(2, "big")
    assert codec.decode(bytes(wire), SRC, DST, 255, Expect(trailer_len=TRAILER_LEN)).priority == 255
    assert Verifier(KEY).check("lan1", bytes(wire), SRC, DST) == Drop.BAD_AUTH


def test_replayed_or_older_advert_is_refused(codec: ModuleType) -> None:
    signer = Signer(KEY)
    first = signer.seal(ADV, SRC, DST, Checksum.PSEUDO, 5_000_000, codec.encode)
    second = signer.seal(ADV, SRC, DST, Checksum.PSEUDO, 5_000_000, codec.encode)  # same clock: counter + 1
    v = Verifier(KEY)
    assert v.check("lan1", second, SRC, DST) == Drop.OK
    assert v.check("lan1", second, SRC, DST) == Drop.REPLAY
    assert v.check("lan1", first, SRC, DST) == Drop.REPLAY
    assert Verifier(KEY).check("lan2", first, SRC, DST) == Drop.OK  # counters are per link and sender


def test_moved_to_another_source_is_bad_auth(codec: ModuleType) -> None:
    wire = _sealed(codec)
    other = ip_address("198.51.100.66").packed
    assert Verifier(KEY).check("lan1", wire, other, DST) == Drop.BAD_AUTH


def test_truncated_input_is_bad_auth_not_an_exception() -> None:
    assert Verifier(KEY).check("lan1", b"\x31" * 10, SRC, DST) == Drop.BAD_AUTH
