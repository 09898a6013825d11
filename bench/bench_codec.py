"""VRRP codec speed, side by side in one run: pure Python, the compiled twin
(through the Advert wrapper, and raw into a preallocated array as the
receive loop calls it), and a plain struct.pack encoder with no validation.

Run: tools/run bench (writes the table in bench/README.md).
"""

from __future__ import annotations

import json
import struct
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hacore.native import fastpath
from hacore.vrrp import codec as py
from hacore.vrrp.codec import Advert, Expect, fold, inet_sum
from hacore.vrrp.drops import Checksum

SRC, DST = ip_address("192.0.2.141").packed, ip_address("224.0.0.18").packed
ADV = Advert(3, 50, 255, 67, (ip_address("203.0.113.1"),))
WIRE = py.encode(ADV, SRC, DST)
CAPTURE = bytes.fromhex(json.loads(
    (Path(__file__).parents[1] / "tests/unit/data/keepalived_adverts.json").read_text())["captures"][0]["packet"])
EXPECT3 = Expect(version=3)
KEY8 = bytes(8)


def struct_encode(adv: Advert, src: bytes, dst: bytes) -> bytes:
    """What a hand-written sender would do: pack, sum, patch. No checks at all."""
    addrs = b"".join(a.packed for a in adv.addresses)
    msg = struct.pack("!BBBBH2x", 0x31, adv.vrid, adv.priority, len(adv.addresses), adv.interval_cs) + addrs
    pseudo = inet_sum(src + dst + struct.pack("!BBH", 0, 112, len(msg)))
    return msg[:6] + struct.pack("!H", fold(inet_sum(msg, pseudo))) + msg[8:]


def _fast() -> Any:
    if fastpath is None:
        pytest.skip("the compiled fast path is not built")
    from hacore.vrrp import fastcodec

    return fastcodec


@pytest.mark.benchmark(group="encode v3 IPv4")
@pytest.mark.parametrize("impl", ["py", "fast", "fast-raw", "struct"])
def test_encode(benchmark: Any, impl: str) -> None:
    if impl == "py":
        out = benchmark(py.encode, ADV, SRC, DST)
    elif impl == "fast":
        out = benchmark(_fast().encode, ADV, SRC, DST)
    elif impl == "fast-raw":
        _fast()
        buf, addrs = bytearray(64), ADV.addresses[0].packed
        n = benchmark(fastpath.encode_advert, buf, 3, 50, 255, 67, addrs, SRC, DST, int(Checksum.PSEUDO), 0, KEY8,
                      b"")
        out = bytes(buf[:n])
    else:
        out = benchmark(struct_encode, ADV, SRC, DST)
    assert out == WIRE


@pytest.mark.benchmark(group="decode v3 IPv4 packet (keepalived capture)")
@pytest.mark.parametrize("impl", ["py", "fast", "fast-raw"])
def test_decode_packet(benchmark: Any, impl: str) -> None:
    if impl == "py":
        result = benchmark(py.decode_ipv4, CAPTURE, EXPECT3)
        assert isinstance(result, Advert)
    elif impl == "fast":
        result = benchmark(_fast().decode_ipv4, CAPTURE, EXPECT3)
        assert isinstance(result, Advert)
    else:
        _fast()
        fields = np.zeros(fastpath.FIELDS_LEN, dtype=np.uint32)
        assert benchmark(fastpath.decode_ipv4, CAPTURE, 3, -1, 0, 0, KEY8, 0, fields) == 0
        assert fields[fastpath.F_PRIORITY] == 200


@pytest.mark.benchmark(group="drop: bad checksum")
@pytest.mark.parametrize("impl", ["py", "fast-raw"])
def test_decode_bad_checksum(benchmark: Any, impl: str) -> None:
    bad = WIRE[:-1] + bytes([WIRE[-1] ^ 1])
    if impl == "py":
        assert benchmark(py.decode, bad, SRC, DST, 255, EXPECT3) == 8
    else:
        _fast()
        fields = np.zeros(fastpath.FIELDS_LEN, dtype=np.uint32)
        assert benchmark(fastpath.decode_advert, bad, SRC, DST, 255, 3, -1, 0, 0, KEY8, 0,
                                 fields) == 8
