"""What a role wants, in one place: the VIPs a node answers for, the order
a takeover announces them in, and the order in which a node lets go of what
a master holds - used alike by the takeover, its release and `hacore
cleanup`.

Rules: no I/O of its own; release() only sequences the steps it is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from ipaddress import IPv4Address, IPv6Address, ip_interface
from typing import Any

from hacore.config.model import Config
from hacore.effects.vips import Vip

Step = Callable[[], Coroutine[Any, Any, bool]]  # one reconciler brought to "backup": True if it failed


def owned_vips(cfg: Config) -> set[Vip]:
    """Every configured VIP: present on the master, absent elsewhere, the only addresses hacore removes."""
    return {Vip.of(h.interface, v) for h in cfg.cluster.ha_interfaces for v in h.vips}


def announce_order(owned: set[Vip]) -> list[tuple[Vip, IPv4Address | IPv6Address]]:
    """IPv4 first (most neighbours), parsed once: a round runs inside the takeover's critical path."""
    return [(vip, ip_interface(vip.cidr).ip) for vip in
            sorted(owned, key=lambda v: (ip_interface(v.cidr).version, v.ifname))]


async def release(services: Step, interfaces: Step, nat: Step, vips: Step,
                  lap: Callable[[str], None] = lambda step: None) -> bool:
    """The takeover in reverse: services, interfaces, NAT, VIPs - except that the services are only asked
    to stop first, not waited for, so a stop command that hangs never leaves the VIPs on two nodes."""
    stopping = asyncio.create_task(services())
    failed = await interfaces()
    lap("interfaces")
    failed |= await nat()
    lap("nat")
    failed |= await vips()
    lap("vips")
    failed |= await stopping
    lap("services")
    return failed
