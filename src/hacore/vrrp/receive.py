"""From a raw-socket datagram to an election event, or a drop reason to count.

Rules: pure; the codec (compiled twin or pure reference) is passed in. The
advert's time is the kernel's arrival time, not when Python read it.
"""

from __future__ import annotations

import socket
from types import ModuleType

from hacore.vrrp import codec as codec_py
from hacore.vrrp.auth import Verifier
from hacore.vrrp.codec import Expect
from hacore.vrrp.drops import Drop
from hacore.vrrp.machine import Advert
from hacore.vrrp.sockets import Received

CS_US = 10_000  # one centisecond


def accept(link: str, family: int, rx: Received, expect: Expect, codec: ModuleType,
           verifier: Verifier | None) -> Advert | Drop:
    if family == socket.AF_INET:
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
