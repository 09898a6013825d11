"""Conntrack fast path speed, side by side in one run with pyroute2's own
conntrack message code as the pure-Python baseline ("py"): parsing ctnetlink
messages, encoding flows for the hotwire, decoding them on the spare, and
building the spare's ctnetlink requests. Every case handles the same 1,000
NATed UDP flows (hacore_lab.ctfill's pattern); bytes on the wire per new
flow and per update are recorded beside the timings.

Run: tools/run bench (writes the table in bench/README.md).
"""

from __future__ import annotations

import socket
from typing import Any

import numpy as np
import pytest

from hacore.native import fastpath as fp

N = 1000
MAX_PAYLOAD = 1426  # a 1500-byte hotwire MTU over IPv4


def _flows() -> np.ndarray:
    if fp is None:
        pytest.skip("the compiled fast path is not built")
    from hacore_lab import ctfill

    return ctfill.flows(N)


def _requests(a: np.ndarray) -> bytes:
    buf = bytearray(N * 400)
    n, w = fp.ct_build(a.view(np.uint8), 0, len(a), 0, buf, 1)
    assert n == len(a)
    return bytes(buf[:w])


def _messages(data: bytes) -> list[bytes]:
    out, off = [], 0
    while off < len(data):
        length = int.from_bytes(data[off:off + 4], "little")
        out.append(data[off:off + length])
        off += (length + 3) & ~3
    return out


def _encode(a: np.ndarray) -> list[bytes]:
    table, buf, out, i = fp.FlowTable(N), bytearray(65536), [], 0
    while i < len(a):
        i, w, _ = fp.ct_encode(a.view(np.uint8), i, len(a), table, buf, MAX_PAYLOAD)
        out.append(bytes(buf[:w]))
    return out


def _decode(payloads: list[bytes]) -> int:
    table, out, n = fp.FlowTable(N), np.zeros(N, dtype=np.uint8).repeat(fp.FLOW_SIZE), 0
    for p in payloads:
        n, _ = fp.ct_decode(p, table, out, n)
    return n


@pytest.mark.benchmark(group="parse 1,000 ctnetlink messages")
@pytest.mark.parametrize("impl", ["py", "fast"])
def test_parse(benchmark: Any, impl: str) -> None:
    from pyroute2.netlink.nfnetlink.nfctsocket import nfct_msg

    data = _requests(_flows())
    benchmark.extra_info["flows"] = N
    if impl == "py":
        msgs = _messages(data)

        def parse_py() -> int:
            for m in msgs:
                nfct_msg(m).decode()
            return len(msgs)

        assert benchmark(parse_py) == N
    else:
        out = np.zeros(N * fp.FLOW_SIZE, np.uint8)
        assert benchmark(fp.ct_parse, data, len(data), out, 0)[0] == N


@pytest.mark.benchmark(group="build 1,000 ctnetlink requests (the spare's writes)")
@pytest.mark.parametrize("impl", ["py", "fast"])
def test_build(benchmark: Any, impl: str) -> None:
    a = _flows()
    benchmark.extra_info["flows"] = N
    if impl == "py":
        from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple, nfct_msg

        rows = [(socket.inet_ntoa(bytes(r["o_src"])[:4]), socket.inet_ntoa(bytes(r["o_dst"])[:4]), int(r["o_sport"]),
                 int(r["o_dport"]), int(r["r_dport"]), int(r["timeout"])) for r in a]

        def build_py() -> int:
            # As a pyroute2 user writes it (without the NAT binding, which create_from has no words for).
            for src, dst, sport, dport, nat_port, timeout in rows:
                msg = nfct_msg.create_from(
                    tuple_orig=NFCTAttrTuple(saddr=src, daddr=dst, proto=17, sport=sport, dport=dport),
                    tuple_reply=NFCTAttrTuple(saddr=dst, daddr="198.51.100.101", proto=17, sport=dport,
                                              dport=nat_port),
                    timeout=timeout, status=0xE)
                msg.encode()
            return len(rows)

        assert benchmark(build_py) == N
    else:
        buf = bytearray(N * 400)
        assert benchmark(fp.ct_build, a.view(np.uint8), 0, N, 0, buf, 1)[0] == N


@pytest.mark.benchmark(group="encode 1,000 new flows for the hotwire")
@pytest.mark.parametrize("impl", ["fast"])
def test_encode(benchmark: Any, impl: str) -> None:
    a = _flows()
    payloads = benchmark(_encode, a)
    benchmark.extra_info["flows"] = N
    benchmark.extra_info["wire_bytes_per_new_flow"] = round(sum(len(p) for p in payloads) / N, 1)
    benchmark.extra_info["datagrams"] = len(payloads)


@pytest.mark.benchmark(group="decode 1,000 new flows on the spare")
@pytest.mark.parametrize("impl", ["fast"])
def test_decode(benchmark: Any, impl: str) -> None:
    payloads = _encode(_flows())
    benchmark.extra_info["flows"] = N
    assert benchmark(_decode, payloads) == N


def test_bytes_per_update() -> None:
    """A state change of a known flow: its id and what changed (recorded for the README, not timed)."""
    a = _flows()
    table, buf = fp.FlowTable(N), bytearray(65536)
    fp.ct_encode(a.view(np.uint8), 0, N, table, buf, 60_000)
    a["timeout"] += 30
    a["kind"] = fp.KIND_UPDATE
    _, w, recs = fp.ct_encode(a.view(np.uint8), 0, N, table, buf, 60_000)
    assert recs == N and w / N == 10  # op, id, mask, timeout
