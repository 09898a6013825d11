"""Conntrack entries made to order in a lab node's kernel, as if that many
NATed UDP flows had passed: the load for sync tests and benchmarks.

    ip netns exec <node> python -m hacore_lab.ctfill --count 50000 [--first 0]

Flow i: 203.0.113.(2 + i % 250):(10000 + i // 250) -> 198.19.0.10:(1000 + i // 60000),
source-NATed to the external VIP, port 2000 + i % 60000 - every original and
every reply tuple unique. --probe adds one flow the tests send through after
a takeover: 203.0.113.10:40000 -> 198.19.0.10:5001 NATed to VIP port 61000.

Rules: lab only (documentation and benchmarking ranges); bounded by --count.
"""

from __future__ import annotations

import argparse
import json
import socket
import time

import numpy as np

from hacore.ctsync.ctnetlink import Writer
from hacore.ctsync.flows import IPS_ASSURED, IPS_SEEN_REPLY, IPS_SRC_NAT, fill, make
from hacore_lab.topology import CLIENT, EXT_VIP, SERVER

MAX_COUNT = 1_000_000
PROBE = {"sport": 40000, "dport": 5001, "nat_port": 61000}


def _ip(text: str) -> np.ndarray:
    return np.frombuffer(socket.inet_aton(text).ljust(16, b"\0"), np.uint8)


def flows(count: int, first: int = 0, timeout: int = 600) -> np.ndarray:
    i = np.arange(first, first + count, dtype=np.int64)
    a = make(count)
    a["kind"], a["family"], a["proto"], a["tcp_state"] = 1, socket.AF_INET, 17, 255
    src = np.zeros((count, 16), np.uint8)
    src[:, :3] = _ip("203.0.113.0")[:3]
    src[:, 3] = 2 + i % 250
    vip, server = _ip(EXT_VIP.split("/")[0]), _ip(SERVER)
    a["o_src"] = src.view("V16").ravel()
    a["o_dst"] = np.broadcast_to(server, (count, 16)).copy().view("V16").ravel()
    a["o_sport"] = 10000 + i // 250
    a["o_dport"] = 1000 + i // 60000
    a["r_src"], a["r_sport"] = a["o_dst"], a["o_dport"]
    a["r_dst"] = np.broadcast_to(vip, (count, 16)).copy().view("V16").ravel()
    a["r_dport"] = 2000 + i % 60000
    a["status"] = IPS_SEEN_REPLY | IPS_ASSURED | IPS_SRC_NAT
    a["timeout"] = timeout
    a["id"] = 1 + i
    return a


def probe_flow(timeout: int = 600) -> np.ndarray:
    a = make(1)
    fill(a[0], id=0, src=CLIENT, dst=SERVER, sport=PROBE["sport"], dport=PROBE["dport"], proto=17,
         nat_src=(EXT_VIP.split("/")[0], PROBE["nat_port"]), status=IPS_SEEN_REPLY | IPS_ASSURED, timeout=timeout)
    return a


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--timeout", type=int, default=600)
    a = ap.parse_args()
    if not 0 <= a.count <= MAX_COUNT or a.first < 0 or a.first + a.count > 250 * 50000:
        raise SystemExit(f"--count must be 0..{MAX_COUNT}, within the flows the pattern makes unique")
    batch = flows(a.count, a.first, a.timeout)
    if a.probe:
        batch = np.concatenate([probe_flow(a.timeout), batch])
    w = Writer()
    t0 = time.monotonic()
    w.write(batch)
    print(json.dumps({"created": len(batch), "seconds": round(time.monotonic() - t0, 3), **w.counters()}))


if __name__ == "__main__":
    main()
