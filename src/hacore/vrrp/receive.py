"""From a raw-socket datagram to an election event, or a drop reason to count.

Rules: pure; the codec (compiled twin or pure reference) is passed in. The
advert's time is the kernel's arrival time, not when Python read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from hacore.vrrp import codec as codec_py
from hacore.vrrp.auth import Verifier
from hacore.vrrp.codec import Expect
from hacore.vrrp.drops import Drop
from hacore.vrrp.machine import Advert

CS_US = 10_000  # one centisecond


@dataclass(frozen=True)
class Received:
    data: bytes  # IPv4: the whole packet, header included; IPv6: the VRRP message
    src: bytes
    dst: bytes
    ttl: int  # IPv6: the hop limit; IPv4: -1 (it is in the header)
    arrival_mono_ns: int  # kernel receive time moved onto CLOCK_MONOTONIC


def accept(link: str, rx: Received, expect: Expect, codec: ModuleType, verifier: Verifier | None) -> Advert | Drop:
    if rx.ttl < 0:  # IPv4: the header came with it
        parts = codec_py.split_ipv4(rx.data)
        if isinstance(parts, Drop):
            return parts
        src, dst, ttl, payload = parts
    else:
        src, dst, ttl, payload = rx.src, rx.dst, rx.ttl, rx.data
    adv = codec.decode(payload, src, dst, ttl, expect)
    if isinstance(adv, Drop):
        return adv
    if verifier is not None:
        verdict = verifier.check(link, payload, src, dst, rx.arrival_mono_ns // 1000)
        if verdict != Drop.OK:
            return verdict
    return Advert(link, src, adv.priority, adv.interval_cs * CS_US, rx.arrival_mono_ns // 1000)
