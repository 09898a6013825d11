"""Both VRRP codecs against golden vectors (RFC-built by an independent tool,
and captured from keepalived), round trips, drops, and random input."""

from __future__ import annotations

import json
from ipaddress import ip_address
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hacore.vrrp.codec import Advert, Expect
from hacore.vrrp.drops import AuthType, Checksum, Drop
from tests.unit.codecs import CODECS

DATA = Path(__file__).parent / "data"
VECTORS = json.loads((DATA / "vrrp_vectors.json").read_text())["vectors"]
CAPTURES = json.loads((DATA / "keepalived_adverts.json").read_text())["captures"]
MODES = {"pseudo": Checksum.PSEUDO, "no_pseudo": Checksum.NO_PSEUDO}

V4_SRC, V4_DST = ip_address("192.0.2.141").packed, ip_address("224.0.0.18").packed
V6_SRC, V6_DST = ip_address("fe80::1").packed, ip_address("ff02::12").packed


def _advert(v: dict) -> Advert:
    return Advert(v["version"], v["vrid"], v["priority"], v["interval_cs"],
                  tuple(ip_address(a) for a in v["addresses"]), AuthType(v["auth_type"]),
                  bytes.fromhex(v["auth_data"]))


def _expect(v: dict) -> Expect:
    return Expect(version=v["version"], checksum=MODES[v["checksum"]], auth_type=AuthType(v["auth_type"]),
                  auth_key=bytes.fromhex(v["auth_data"]))


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_golden_vector_decodes_to_its_fields(codec: ModuleType, v: dict) -> None:
    src, dst = ip_address(v["src"]).packed, ip_address(v["dst"]).packed
    assert codec.decode(bytes.fromhex(v["hex"]), src, dst, 255, _expect(v)) == _advert(v)


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_golden_vector_is_what_we_encode(codec: ModuleType, v: dict) -> None:
    src, dst = ip_address(v["src"]).packed, ip_address(v["dst"]).packed
    assert codec.encode(_advert(v), src, dst, MODES[v["checksum"]]).hex() == v["hex"]


@pytest.mark.parametrize("c", CAPTURES, ids=[c["name"] for c in CAPTURES])
def test_keepalived_capture_decodes(codec: ModuleType, c: dict) -> None:
    expect = Expect(version=c["version"], auth_type=AuthType(c["auth_type"]), auth_key=c["auth_key"].encode())
    adv = codec.decode_ipv4(bytes.fromhex(c["packet"]), expect)
    assert isinstance(adv, Advert)
    assert (adv.version, adv.vrid, adv.priority, adv.interval_cs) == (c["version"], c["vrid"], c["priority"],
                                                                      c["interval_cs"])
    assert [str(a) for a in adv.addresses] == c["addresses"]


def test_keepalived_pass_capture_with_wrong_passphrase_is_bad_auth(codec: ModuleType) -> None:
    c = next(c for c in CAPTURES if c["version"] == 2)
    expect = Expect(version=2, auth_type=AuthType.PASS, auth_key=b"secure!!")
    assert codec.decode_ipv4(bytes.fromhex(c["packet"]), expect) == Drop.BAD_AUTH


def test_checksum_modes_are_not_interchangeable(codec: ModuleType) -> None:
    v = next(v for v in VECTORS if v["name"] == "v3-ipv4-master")
    src, dst = ip_address(v["src"]).packed, ip_address(v["dst"]).packed
    wrong = Expect(version=3, checksum=Checksum.NO_PSEUDO)
    assert codec.decode(bytes.fromhex(v["hex"]), src, dst, 255, wrong) == Drop.BAD_CHECKSUM


def _v3(**kw: object) -> bytes:
    from hacore.vrrp import codec as py

    fields = {"version": 3, "vrid": 50, "priority": 100, "interval_cs": 100,
              "addresses": (ip_address("203.0.113.1"),)} | kw
    return py.encode(Advert(**fields), V4_SRC, V4_DST)  # type: ignore[arg-type]


def _refold(msg: bytearray) -> bytes:
    from hacore.vrrp.codec import _pseudo_sum, fold, inet_sum

    msg[6:8] = b"\0\0"
    c = fold(inet_sum(bytes(msg), _pseudo_sum(V4_SRC, V4_DST, len(msg))))
    msg[6:8] = c.to_bytes(2, "big")
    return bytes(msg)


@pytest.mark.parametrize(("name", "mutate", "ttl", "expect", "drop"), [
    ("short", lambda m: m[:7], 255, Expect(), Drop.SHORT),
    ("ttl 254", lambda m: m, 254, Expect(), Drop.BAD_TTL),
    ("ttl 1", lambda m: m, 1, Expect(), Drop.BAD_TTL),
    ("v2 expected", lambda m: m, 255, Expect(version=2), Drop.BAD_VERSION),
    ("type 2", lambda m: _refold(bytearray([0x32]) + bytearray(m[1:])), 255, Expect(), Drop.BAD_TYPE),
    ("count 0", lambda m: _refold(bytearray(m[:3]) + b"\0" + bytearray(m[4:8])), 255, Expect(),
     Drop.BAD_ADDR_COUNT),
    ("count 2, one address", lambda m: _refold(bytearray(m[:3]) + b"\2" + bytearray(m[4:])), 255, Expect(),
     Drop.BAD_ADDR_COUNT),
    ("trailing byte", lambda m: _refold(bytearray(m) + b"\0"), 255, Expect(), Drop.BAD_ADDR_COUNT),
    ("flipped bit", lambda m: m[:-1] + bytes([m[-1] ^ 1]), 255, Expect(), Drop.BAD_CHECKSUM),
    ("other vrid", lambda m: m, 255, Expect(vrid=51), Drop.WRONG_VRID),
    ("interval 0", lambda m: _refold(bytearray(m[:4]) + b"\0\0" + bytearray(m[6:])), 255, Expect(),
     Drop.BAD_INTERVAL),
])
def test_malformed_advert_is_dropped_with_its_reason(codec: ModuleType, name: str, mutate, ttl: int,
                                                     expect: Expect, drop: Drop) -> None:
    assert codec.decode(mutate(_v3()), V4_SRC, V4_DST, ttl, expect) == drop


@pytest.mark.parametrize(("name", "packet", "drop"), [
    ("too short for IPv4", bytes(19), Drop.SHORT),
    ("IPv6 version nibble", bytes([0x65]) + bytes(27), Drop.BAD_IP_HEADER),
    ("ihl below 5", bytes([0x44]) + bytes(27), Drop.BAD_IP_HEADER),
    ("total length beyond data", bytes.fromhex("45000040") + bytes(24), Drop.BAD_IP_HEADER),
    ("protocol 6", bytes.fromhex("4500001c00000000ff06") + bytes(18), Drop.BAD_PROTO),
])
def test_malformed_ip_header_is_dropped(codec: ModuleType, name: str, packet: bytes, drop: Drop) -> None:
    assert codec.decode_ipv4(packet, Expect()) == drop


def test_v2_over_ipv6_is_bad_version(codec: ModuleType) -> None:
    assert codec.decode(bytes([0x21]) + bytes(23), V6_SRC, V6_DST, 255, Expect(version=2)) == Drop.BAD_VERSION


@pytest.mark.parametrize("bad", [
    {"vrid": 0}, {"vrid": 256}, {"priority": 256}, {"interval_cs": 0}, {"interval_cs": 4096}, {"addresses": ()},
    {"addresses": (ip_address("2001:db8::1"),)}, {"version": 4}, {"version": 2, "interval_cs": 150},
])
def test_encoder_refuses_local_misuse(codec: ModuleType, bad: dict) -> None:
    fields = {"version": 3, "vrid": 50, "priority": 100, "interval_cs": 100,
              "addresses": (ip_address("203.0.113.1"),)} | bad
    with pytest.raises(ValueError):
        codec.encode(Advert(**fields), V4_SRC, V4_DST)  # type: ignore[arg-type]


v4_addr = st.ip_addresses(v=4)
v6_addr = st.ip_addresses(v=6)


@st.composite
def adverts(draw: st.DrawFn) -> tuple[Advert, bytes, bytes, Checksum]:
    version = draw(st.sampled_from([2, 3]))
    family = 4 if version == 2 else draw(st.sampled_from([4, 6]))
    addrs = tuple(draw(st.lists(v4_addr if family == 4 else v6_addr, min_size=1, max_size=12)))
    src = draw(v4_addr if family == 4 else v6_addr).packed
    dst = draw(v4_addr if family == 4 else v6_addr).packed
    trailer = b""
    if version == 3:
        interval, auth, key = draw(st.integers(1, 4095)), AuthType.NONE, b""
        trailer = draw(st.sampled_from([b"", draw(st.binary(min_size=24, max_size=24))]))
    else:
        interval = draw(st.integers(1, 255)) * 100
        auth = draw(st.sampled_from(list(AuthType)))
        key = draw(st.binary(min_size=0, max_size=8)).ljust(8, b"\0") if auth == AuthType.PASS else bytes(8)
    adv = Advert(version, draw(st.integers(1, 255)), draw(st.integers(0, 255)), interval, addrs, auth, key, trailer)
    return adv, src, dst, draw(st.sampled_from(list(Checksum)))


@settings(max_examples=300, deadline=None)
@given(case=adverts())
def test_round_trip_and_both_codecs_agree(case: tuple[Advert, bytes, bytes, Checksum]) -> None:
    adv, src, dst, mode = case
    expect = Expect(version=adv.version, checksum=mode, auth_type=adv.auth_type, auth_key=adv.auth_data,
                    trailer_len=len(adv.trailer))
    for mod in (m for m in CODECS.values() if m is not None):
        wire = mod.encode(adv, src, dst, mode)
        assert wire == CODECS["py"].encode(adv, src, dst, mode)
        assert mod.decode(wire, src, dst, 255, expect) == adv


@settings(max_examples=1000, deadline=None)
@given(data=st.binary(max_size=300), ttl=st.integers(0, 255), v6=st.booleans(),
       version=st.sampled_from([2, 3]), vrid=st.integers(-1, 255), trailer=st.sampled_from([0, 24]))
def test_random_bytes_never_raise_and_codecs_agree(
    data: bytes, ttl: int, v6: bool, version: int, vrid: int, trailer: int
) -> None:
    src, dst = (V6_SRC, V6_DST) if v6 else (V4_SRC, V4_DST)
    expect = Expect(version=version, vrid=vrid, auth_type=AuthType.PASS, auth_key=b"insecure", trailer_len=trailer)
    results = {name: mod.decode(data, src, dst, ttl, expect) for name, mod in CODECS.items() if mod}
    packets = {name: mod.decode_ipv4(data, expect) for name, mod in CODECS.items() if mod}
    assert len(set(results.values())) == 1
    assert len(set(packets.values())) == 1
