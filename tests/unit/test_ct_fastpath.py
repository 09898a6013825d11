"""The conntrack fast path without a kernel: ctnetlink requests built and
parsed back (and read by pyroute2, the independent parser), the delta
encoding and its decoder, and the flow table against a dict."""

from __future__ import annotations

import random

import numpy as np
import pytest
from pyroute2.netlink.nfnetlink.nfctsocket import nfct_msg

from hacore.ctsync import flows
from hacore.native import fastpath as fp

# Without the extension hacore.native already fails the import where HACORE_NO_SKIP=1.
pytestmark = pytest.mark.skipif(fp is None, reason="hacore._fastpath is not built")

VIP = "198.51.100.101"


def sample(n: int, seed: int = 0) -> np.ndarray:
    """n flows of every kind: NATed TCP, plain UDP over IPv6 with mark and zone, ICMP, DNAT."""
    rng = random.Random(seed)
    a = flows.make(n)
    for i in range(n):
        k = i % 4
        if k == 0:
            flows.fill(a[i], id=i + 1, src=f"203.0.113.{rng.randrange(2, 250)}", dst="198.19.0.10",
                       sport=rng.randrange(1024, 65535), dport=443, nat_src=(VIP, rng.randrange(1024, 65535)))
        elif k == 1:
            flows.fill(a[i], id=i + 1, src="2001:db8:200::10", dst="2001:db8:100::1", sport=rng.randrange(65535),
                       dport=53, proto=17, mark=rng.randrange(2**32), zone=rng.randrange(1, 100), tcp_state=0)
        elif k == 2:
            flows.fill(a[i], id=i + 1, src="203.0.113.10", dst="198.19.0.10", sport=rng.randrange(65535),
                       dport=0x0800, proto=1, nat_src=(VIP, 0))
            a[i]["r_sport"], a[i]["r_dport"] = a[i]["o_sport"], 0  # echo reply, same id
        else:
            flows.fill(a[i], id=i + 1, src="198.19.0.10", dst=VIP, sport=rng.randrange(1024, 65535), dport=80,
                       nat_dst=("203.0.113.20", 8080))
    return a


def comparable(a: np.ndarray) -> np.ndarray:
    out = np.sort(a.copy(), order="id")
    out["kind"] = out["epoch"] = 0
    return out


def encode_all(a: np.ndarray, known: object, max_len: int = 1400) -> list[bytes]:
    payloads, i, buf = [], 0, bytearray(65536)
    while i < len(a):
        i, w, _recs = fp.ct_encode(a.view(np.uint8), i, len(a), known, buf, max_len)
        if w:
            payloads.append(bytes(buf[:w]))
    return payloads


def decode_all(payloads: list[bytes], table: object) -> np.ndarray:
    out = flows.make(100_000)
    n = 0
    for p in payloads:
        n, unknown = fp.ct_decode(p, table, out.view(np.uint8), n)
        assert n >= 0 and unknown == 0
    return out[:n]


def test_a_table_crosses_the_wire_exactly() -> None:
    a = sample(2000)
    payloads = encode_all(a, fp.FlowTable())
    assert all(len(p) <= 1400 for p in payloads) and len(payloads) < 2000 * 60 / 1400 + 2
    backup = fp.FlowTable()
    got = decode_all(payloads, backup)
    assert len(got) == len(backup) == 2000
    assert (got["kind"] == fp.KIND_NEW).all()
    assert (comparable(got) == comparable(a)).all()


def test_a_known_flow_travels_as_its_id_and_what_changed() -> None:
    a = sample(1)
    master, backup = fp.FlowTable(), fp.FlowTable()
    first = encode_all(a, master)
    decode_all(first, backup)
    assert len(first[0]) == 40  # a NATed IPv4 TCP flow, whole: 9 + 8 + 4 + 6 (the NAT half) + 8 + 5
    a[0]["tcp_state"], a[0]["timeout"], a[0]["kind"] = 4, 120, fp.KIND_UPDATE  # FIN_WAIT
    second = encode_all(a, master)
    assert len(second[0]) == 1 + 4 + 1 + 4 + 5  # op, id, mask, timeout, TCP
    got = decode_all(second, backup)
    assert got[0]["kind"] == fp.KIND_UPDATE and got[0]["tcp_state"] == 4 and got[0]["timeout"] == 120
    assert encode_all(a, master) == []  # nothing changed: nothing travels
    a[0]["kind"] = fp.KIND_DESTROY
    third = encode_all(a, master)
    assert third == [bytes([fp.OP_DESTROY]) + (1).to_bytes(4, "big")]
    got = decode_all(third, backup)
    assert got[0]["kind"] == fp.KIND_DESTROY and len(backup) == 0 and len(master) == 0


def test_a_flow_the_backup_holds_is_updated_not_created_again() -> None:
    a = sample(8)
    backup = fp.FlowTable()
    decode_all(encode_all(a, fp.FlowTable()), backup)
    again = decode_all(encode_all(a, fp.FlowTable()), backup)  # a resync restates them whole
    assert (again["kind"] == fp.KIND_UPDATE).all()


def test_a_bad_payload_is_refused_whole_and_changes_nothing() -> None:
    payload = encode_all(sample(12), fp.FlowTable(), max_len=60_000)[0]
    out = flows.make(100)
    for cut in range(1, len(payload)):
        table = fp.FlowTable()
        n, _ = fp.ct_decode(payload[:cut], table, out.view(np.uint8), 0)
        if n < 0:
            assert fp.DECODE_ERRORS[n] in ("truncated", "bad_record", "bad_family") and len(table) == 0
    assert fp.ct_decode(b"\x07" + payload, fp.FlowTable(), out.view(np.uint8), 0)[0] < 0
    rng = random.Random(4)
    for _ in range(3000):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 120)))
        table = fp.FlowTable()
        n, _ = fp.ct_decode(junk, table, out.view(np.uint8), 0)
        assert n < 0 or len(table) <= n <= len(out)  # a reason, or what it applied: never past out


def test_a_delta_for_a_flow_the_backup_lacks_is_counted() -> None:
    a = sample(1)
    master = fp.FlowTable()
    encode_all(a, master)  # the backup never got it
    a[0]["timeout"] = 5
    delta = encode_all(a, master)
    n, unknown = fp.ct_decode(delta[0], fp.FlowTable(), flows.make(4).view(np.uint8), 0)
    assert (n, unknown) == (0, 1)


def test_requests_parse_back_and_read_the_same_in_pyroute2() -> None:
    a = sample(40)
    buf = bytearray(65536)
    n, w = fp.ct_build(a.view(np.uint8), 0, len(a), 0, buf, 7)
    assert n == 40
    got = flows.make(40)
    count, used, flags, err = fp.ct_parse(bytes(buf), w, got.view(np.uint8), 0)
    assert (count, used, flags, err) == (40, w, 0, 0)
    for field in ("family", "proto", "o_src", "o_dst", "o_sport", "o_dport", "timeout", "mark", "tcp_state"):
        assert (got[field] == a[field]).all(), field
    # A create states the reply before NAT (the kernel applies the binding): the original, inverted.
    tcp = a["proto"] == 6
    assert (got["r_src"] == a["o_dst"]).all() and (got["r_dst"] == a["o_src"]).all()
    assert (got["r_sport"][tcp] == a["o_dport"][tcp]).all() and (got["r_dport"][tcp] == a["o_sport"][tcp]).all()
    assert (got["status"] == (a["status"] & 0x6) | 0x8).all()  # the bits a request may set, CONFIRMED kept
    # pyroute2 reads our first request (NATed TCP) the same way.
    msg = nfct_msg(bytes(buf[: int.from_bytes(buf[:4], "little")]))
    msg.decode()
    orig = msg.get_attr("CTA_TUPLE_ORIG")
    assert orig.get_attr("CTA_TUPLE_PROTO").get_attr("CTA_PROTO_DST_PORT") == 443
    nat = msg.get_attr("CTA_NAT_SRC")
    assert nat.get_attr("CTA_NAT_V4_MINIP") == VIP == nat.get_attr("CTA_NAT_V4_MAXIP")
    assert msg["header"]["sequence_number"] == 7


def test_the_flow_table_agrees_with_a_dict() -> None:
    rng = random.Random(9)
    table, model = fp.FlowTable(4), {}
    a = flows.make(1)
    for _ in range(20_000):
        key = rng.randrange(3000)
        a[0]["id"] = key
        a[0]["kind"] = fp.KIND_DESTROY if rng.random() < 0.4 else fp.KIND_NEW
        a[0]["timeout"] = rng.randrange(1, 10**6)
        buf = bytearray(256)
        fp.ct_encode(a.view(np.uint8), 0, 1, table, buf, 256)  # the table follows the stream
        if a[0]["kind"] == fp.KIND_DESTROY:
            model.pop(key, None)
        else:
            model[key] = int(a[0]["timeout"])
    assert len(table) == len(model)
    exported = np.frombuffer(table.export(), flows.FLOW)
    assert {int(r["id"]): int(r["timeout"]) for r in exported} == model


def test_sweep_finds_what_a_dump_did_not_mark() -> None:
    a = sample(10)
    table = fp.FlowTable()
    encode_all(a, table)
    table.epoch = 1
    a["kind"] = fp.KIND_UPDATE
    encode_all(a[:6], table)  # a dump that saw only the first six (unchanged: they are marked)
    out = flows.make(20)
    n = table.sweep(out.view(np.uint8), True)
    assert n == 4 and sorted(out[:n]["id"]) == [7, 8, 9, 10] and (out[:n]["kind"] == fp.KIND_DESTROY).all()
    assert len(table) == 6
