"""The receive pipeline: datagram -> election event with kernel time, or a drop reason."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from types import ModuleType

from hacore.security.replay import ReplayWindow
from hacore.vrrp.auth import TRAILER_LEN, Verifier, seal
from hacore.vrrp.codec import Advert, Expect
from hacore.vrrp.drops import AuthType, Checksum, Drop
from hacore.vrrp.machine import Advert as Event
from hacore.vrrp.receive import Received, accept

CAPTURE = bytes.fromhex(json.loads((Path(__file__).parent / "data/keepalived_adverts.json").read_text())
                        ["captures"][0]["packet"])


def test_ipv4_packet_becomes_an_event_with_the_kernel_arrival_time(codec: ModuleType) -> None:
    rx = Received(CAPTURE, b"", b"", -1, arrival_mono_ns=7_000_123_456)
    ev = accept("lan1", rx, Expect(version=3, vrid=50), codec, None)
    assert ev == Event("lan1", bytes([198, 51, 100, 102]), 200, 1_000_000, 7_000_123)


def test_wrong_vrid_and_bad_header_are_drops(codec: ModuleType) -> None:
    rx = Received(CAPTURE, b"", b"", -1, 0)
    assert accept("lan1", rx, Expect(version=3, vrid=51), codec, None) == Drop.WRONG_VRID
    short = Received(CAPTURE[:10], b"", b"", -1, 0)
    assert accept("lan1", short, Expect(), codec, None) == Drop.SHORT


def test_ipv6_hmac_advert_is_verified(codec: ModuleType) -> None:
    key = bytes(range(32))
    src, dst = socket.inet_pton(socket.AF_INET6, "fe80::1"), socket.inet_pton(socket.AF_INET6, "ff02::12")
    adv = Advert(3, 51, 52, 66, (__import__("ipaddress").ip_address("2001:db8:200::1"),))
    wire = seal(key, adv, src, dst, Checksum.PSEUDO, 1, codec.encode)
    expect = Expect(version=3, vrid=51, trailer_len=TRAILER_LEN, auth_type=AuthType.NONE)
    verifier = Verifier(key, ReplayWindow())
    ev = accept("lan2", Received(wire, src, dst, 255, 5_000_000), expect, codec, verifier)
    assert isinstance(ev, Event) and ev.priority == 52 and ev.interval_us == 660_000
    again = accept("lan2", Received(wire, src, dst, 255, 6_000_000), expect, codec, verifier)
    assert again == Drop.REPLAY
    hop = accept("lan2", Received(wire, src, dst, 64, 0), expect, codec,
                 Verifier(key, ReplayWindow()))
    assert hop == Drop.BAD_TTL
