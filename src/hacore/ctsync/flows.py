"""Flow records as numpy sees them: the dtype of _fastpath's flow_t, and the
helpers that make records outside the hot path (tests, the lab's flow
generator).

Rules: the dtype is checked against the compiled struct's size at import;
addresses are kept in network order, 16 bytes (IPv4 in the first 4).
"""

from __future__ import annotations

import socket
from ipaddress import ip_address

import numpy as np

from hacore.native import fastpath as _fp

FLOW = np.dtype([
    ("id", "<u4"), ("kind", "u1"), ("family", "u1"), ("proto", "u1"), ("tcp_state", "u1"),
    ("o_src", "V16"), ("o_dst", "V16"), ("o_sport", "<u2"), ("o_dport", "<u2"),
    ("r_src", "V16"), ("r_dst", "V16"), ("r_sport", "<u2"), ("r_dport", "<u2"),
    ("status", "<u4"), ("mark", "<u4"), ("timeout", "<u4"),
    ("zone", "<u2"), ("o_zone", "<u2"), ("r_zone", "<u2"),
    ("wscale_o", "u1"), ("wscale_r", "u1"), ("flags_o", "u1"), ("flags_r", "u1"),
    ("present", "u1"), ("epoch", "u1"),
])
if _fp is not None and FLOW.itemsize != _fp.FLOW_SIZE:
    raise ImportError(f"flow dtype is {FLOW.itemsize} bytes, _fastpath's flow_t {_fp.FLOW_SIZE}")

IPS_SEEN_REPLY, IPS_ASSURED, IPS_CONFIRMED, IPS_SRC_NAT, IPS_DST_NAT = 0x2, 0x4, 0x8, 0x10, 0x20


def _addr(text: str) -> tuple[int, bytes]:
    a = ip_address(text)
    return (socket.AF_INET if a.version == 4 else socket.AF_INET6), a.packed.ljust(16, b"\0")


def make(n: int) -> np.ndarray:
    return np.zeros(n, FLOW)


def fill(rec: np.void, *, id: int, src: str, dst: str, sport: int, dport: int, proto: int = 6,
         nat_src: tuple[str, int] | None = None, nat_dst: tuple[str, int] | None = None, status: int = 0xE,
         timeout: int = 300, tcp_state: int = 3, kind: int = 1, mark: int | None = None,
         zone: int | None = None) -> None:
    """One flow: the original tuple, and the reply tuple NAT made of it."""
    family, o_src = _addr(src)
    _, o_dst = _addr(dst)
    r_dst, r_dport = (_addr(nat_src[0])[1], nat_src[1]) if nat_src else (o_src, sport)
    r_src, r_sport = (_addr(nat_dst[0])[1], nat_dst[1]) if nat_dst else (o_dst, dport)
    rec["id"], rec["kind"], rec["family"], rec["proto"] = id, kind, family, proto
    rec["o_src"], rec["o_dst"], rec["o_sport"], rec["o_dport"] = o_src, o_dst, sport, dport
    rec["r_src"], rec["r_dst"], rec["r_sport"], rec["r_dport"] = r_src, r_dst, r_sport, r_dport
    rec["status"], rec["timeout"] = status | (IPS_SRC_NAT if nat_src else 0) | (IPS_DST_NAT if nat_dst else 0), timeout
    present = 0
    if proto == 6:
        rec["tcp_state"], rec["wscale_o"], rec["wscale_r"], rec["flags_o"], rec["flags_r"] = tcp_state, 7, 7, 0x22, 0x22
        present |= 16
    else:
        rec["tcp_state"] = 255
    if mark is not None:
        rec["mark"] = mark
        present |= 1
    if zone is not None:
        rec["zone"] = zone
        present |= 2
    rec["present"] = present
