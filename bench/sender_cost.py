"""What HMAC costs the advert sender thread, measured where it runs.

The sender thread (hacore._fastpath.AdvertSender) seals each advert with
OpenSSL's HMAC() at send time. This measures the thread's own CPU time
(/proc/self/task/TID/schedstat) per advert sent, plain and sealed, in rounds
that alternate, and beside it what the Python seal (hacore.vrrp.auth.seal,
the loop sender's path) costs per advert. It runs in a network namespace of
its own (unshare --net), which ends with the process: a veth pair, one
target, an advert every 50 us.

    python bench/sender_cost.py [--json]          (as root)
    python bench/report.py sender RESULTS.json bench/README.md
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import timeit
from ipaddress import ip_address

ROUNDS = 6
ADVERTS_PER_ROUND = 20_000
PERIOD_NS = 50_000
KEY = b"k" * 32
INNER = "HACORE_SENDER_COST_NS"


def _thread_cpu_ns(tid: int) -> int:
    with open(f"/proc/self/task/{tid}/schedstat") as f:
        return int(f.read().split()[0])


def _round(hmac: bool) -> float:
    """CPU ns of the sender thread per advert, one round."""
    from hacore import _fastpath
    from hacore.security.replay import CounterSource
    from hacore.vrrp import codec
    from hacore.vrrp.codec import Advert
    from hacore.vrrp.drops import Checksum
    from hacore.vrrp.sockets import LinkSockets

    tx = LinkSockets("snd0", socket.if_nametoindex("snd0"), socket.AF_INET, "192.0.2.1")
    s = _fastpath.AdvertSender()
    try:
        if hmac:
            counter = CounterSource(0, time.monotonic_ns() // 1000, time.time_ns() // 1000)
            s.set_hmac(KEY, counter.base, counter.mono0, counter.last)
            s.set_counter_limit(counter.base + 120 * 10**6)  # counters run in us: two minutes' worth
        msg = codec.encode(Advert(3, 50, 0, 2, (ip_address("192.0.2.100"),)), tx.src, tx.dst)
        s.set_targets([(tx.tx.fileno(), tx.sockaddr(), tx.src, tx.dst, int(Checksum.PSEUDO), msg)])
        s.start()
        s.go(100, PERIOD_NS, 60 * 10**9)
        deadline = time.monotonic() + 30
        while s.stats()["sent"] < 10 and time.monotonic() < deadline:
            time.sleep(0.001)
        cpu0, sent0 = _thread_cpu_ns(s.tid), s.stats()["sent"]
        while s.stats()["sent"] - sent0 < ADVERTS_PER_ROUND and time.monotonic() < deadline:
            time.sleep(0.01)
        cpu1, sent1, errors = _thread_cpu_ns(s.tid), s.stats()["sent"], s.stats()["send_errors"]
    finally:
        s.stop()
        tx.close()
    if errors or sent1 - sent0 < ADVERTS_PER_ROUND:
        raise SystemExit(f"round incomplete: {sent1 - sent0} sent, {errors} send errors")
    return (cpu1 - cpu0) / (sent1 - sent0)


def _python_seal_ns() -> float:
    from hacore.vrrp import codec
    from hacore.vrrp.auth import seal
    from hacore.vrrp.codec import Advert
    from hacore.vrrp.drops import Checksum

    adv = Advert(3, 50, 100, 2, (ip_address("192.0.2.100"),))
    src, dst = ip_address("192.0.2.1").packed, ip_address("224.0.0.18").packed
    n = 20_000
    best = min(timeit.repeat(lambda: seal(KEY, adv, src, dst, Checksum.PSEUDO, 1, codec.encode), number=n, repeat=5))
    return best / n * 1e9


def measure() -> dict[str, float | int]:
    subprocess.run(["ip", "-batch", "-"], check=True, text=True, input="\n".join([
        "link set lo up", "link add name snd0 type veth peer name snd1", "addr add 192.0.2.1/24 dev snd0",
        "addr add 192.0.2.2/24 dev snd1", "link set snd0 up", "link set snd1 up"]) + "\n")
    plain: list[float] = []
    sealed: list[float] = []
    for _ in range(ROUNDS):
        plain.append(_round(False))
        sealed.append(_round(True))
    p, h = statistics.median(plain), statistics.median(sealed)
    return {"rounds": ROUNDS, "adverts_per_round": ADVERTS_PER_ROUND, "plain_ns": round(p),
            "hmac_ns": round(h), "hmac_extra_ns": round(h - p), "python_seal_ns": round(_python_seal_ns())}


def markdown(r: dict[str, float | int]) -> str:
    return "\n".join([
        "| per advert (median of rounds) | CPU time |", "|---|---:|",
        f"| sender thread, plain (sendto included) | {r['plain_ns']:,} ns |",
        f"| sender thread, with HMAC | {r['hmac_ns']:,} ns |",
        f"| HMAC and counter in the thread | {r['hmac_extra_ns']:,} ns |",
        f"| Python seal alone (encode, counter, HMAC; the loop sender) | {r['python_seal_ns']:,} ns |",
        "", f"{r['rounds']} rounds of {r['adverts_per_round']:,} adverts each, plain and sealed alternating."])


def main() -> None:
    if os.environ.get(INNER) != "1":  # a namespace of our own: nothing to clean up, nothing of the host touched
        os.execvpe("unshare", ["unshare", "--net", sys.executable, *sys.argv], {**os.environ, INNER: "1"})
    r = measure()
    print(json.dumps(r) if "--json" in sys.argv else markdown(r))


if __name__ == "__main__":
    main()
