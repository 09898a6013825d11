"""The configuration model: every setting of the seed, typed, with defaults.

Rules: plain dataclasses, no I/O. Every field declares its scope: SHARED
(travels with config sync, counts in the digest) or LOCAL (unique to a node:
its addresses, priority, directory account). A unit test fails on a field
that declares neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCOPE = "scope"
SHARED = "shared"
LOCAL = "local"

# The configuration's schema: config sync refuses between nodes that differ here. Raise it when a
# change would make an older node misread a newer node's configuration.
SCHEMA_VERSION = 1
DEFAULT_UPDATE_TRIGGER_DELAY_S = 2.0
MAX_HA_INTERFACES = 10  # what the rank in the VRRP priority byte can count (hacore.vrrp.rank)
# The seed's Wizard step 4 default list of applications disabled on the spare.
DEFAULT_DISABLED_APPS = (
    "clientless-vpn", "dhcp-server", "greylisting", "http-proxy", "ipsec", "l2tp", "mailrelay",
    "pop3-proxy", "routing", "spf-filter", "ssl-vpn", "spamfilter", "wlan-server",
)


INTERFACE_FLAGS = ("DISABLED_IF_SPARE",)  # the seed's: down while this node is the spare


def shared(default: Any = None, **kw: Any) -> Any:
    return _field(SHARED, default, kw)


def local(default: Any = None, **kw: Any) -> Any:
    return _field(LOCAL, default, kw)


def _field(scope: str, default: Any, kw: dict[str, Any]) -> Any:
    if "default_factory" in kw:
        return field(metadata={SCOPE: scope}, **kw)
    return field(default=default, metadata={SCOPE: scope}, **kw)


class Priority(StrEnum):
    HIGH = "high"
    LOW = "low"

    def opposite(self) -> Priority:
        return Priority.LOW if self is Priority.HIGH else Priority.HIGH


class AuthMode(StrEnum):
    HMAC = "hmac"  # VRRPv3 + HMAC-SHA256 trailer with anti-replay counter
    PASS = "pass"  # VRRPv2 PASS, keepalived compatible
    NONE = "none"  # plain VRRPv3


class Checksum(StrEnum):
    PSEUDO = "pseudo"  # RFC 5798 as keepalived and FRR send it
    NO_PSEUDO = "no_pseudo"  # the RFC 9568 reading


class NatKind(StrEnum):
    HIDE = "hide"  # source NAT to an address (the seed's HideNAT)
    DNAT = "dnat"  # port forwarding / destination NAT


class SenderKind(StrEnum):
    THREAD = "thread"  # the compiled sender on a thread of its own (hacore._fastpath.AdvertSender)
    LOOP = "loop"  # adverts sent by the asyncio loop: the fallback, and the baseline of bench adverts


class Realtime(StrEnum):
    OFF = "off"
    FIFO = "fifo"  # SCHED_FIFO, as keepalived's vrrp_rt_priority
    RR = "rr"


class RxFilter(StrEnum):
    AUTO = "auto"  # BPF on tc ingress, else a classic socket filter, else none
    BPF = "bpf"
    SOCKET = "socket"  # classic BPF (SO_ATTACH_FILTER) on the receive sockets: no compiler needed
    NONE = "none"


@dataclass(frozen=True)
class Timing:
    """How this node keeps its advert timing on a loaded machine (keepalived's vrrp_rt_priority,
    vrrp_cpu_affinity and memory locking are the model). Opt-in except the sender and the filter."""

    sender: SenderKind = local(SenderKind.THREAD)
    realtime: Realtime = local(Realtime.OFF)  # for the sender thread (and the spare's loop: realtime_spare)
    realtime_priority: int = local(10)
    realtime_spare: bool = local(False)  # the spare's election loop too, one below the sender (node.spareloop)
    lock_memory: bool = local(False)  # mlockall: no page fault on the advert path after start
    cpu_affinity: tuple[int, ...] = local(default_factory=tuple)  # CPUs for the sender thread; empty: any
    receive_filter: RxFilter = local(RxFilter.AUTO)


@dataclass(frozen=True)
class Metrics:
    """The Prometheus endpoint: off until an address is set, and never on an address the protected
    networks or the peer reach (an HA link, the hotwire) unless on_ha_address says so."""

    address: str = local("")  # one of this node's own addresses (a management one), or loopback
    port: int = local(9780)
    on_ha_address: bool = local(False)


@dataclass(frozen=True)
class Web:
    """The web console (`hacore web serve`, a process of its own): off until an address is set; the same
    placement rules as the metrics."""

    address: str = local("")
    port: int = local(9443)
    on_ha_address: bool = local(False)


@dataclass(frozen=True)
class Node:
    name: str = local("")
    priority: Priority = local(Priority.LOW)
    directory_account: str = local("")  # AD machine account: unique per node (seed)
    timing: Timing = local(default_factory=Timing)
    metrics: Metrics = local(default_factory=Metrics)
    web: Web = local(default_factory=Web)


@dataclass(frozen=True)
class Interface:
    name: str = shared("")
    dhcp_client: bool = shared(False)
    flags: tuple[str, ...] = shared(default_factory=tuple)  # e.g. DISABLED_IF_SPARE
    # Unique addresses of this node, CIDR. Never synchronized (seed: "not adjusted").
    addresses: tuple[str, ...] = local(default_factory=tuple)


@dataclass(frozen=True)
class Hotwire:
    interface: str = shared("")
    local_address: str = local("")  # CIDR, e.g. 192.168.180.2/24
    remote_address: str = local("")  # peer's address on the hotwire


@dataclass(frozen=True)
class HaInterface:
    interface: str = shared("")
    vips: tuple[str, ...] = shared(default_factory=tuple)  # CIDR, IPv4 or IPv6
    vrid: int = shared(0)  # 0: vrid_offset + its position; set it to keep a link's VRID when the list changes


@dataclass(frozen=True)
class PingCheck:
    targets: tuple[str, ...] = shared(default_factory=tuple)
    interval_s: float = shared(1.0)
    failures: int = shared(3)  # consecutive misses before the node demotes itself


@dataclass(frozen=True)
class Sync:
    """What crosses the hotwire: conntrack replication (UDP/3780) and configuration sync (SSH)."""

    conntrack: bool = shared(True)
    # A returning node preempts a healthy master only once it holds the master's whole table: taking the
    # traffic without it ends every connection. With preempt_incomplete it gives up waiting after
    # preempt_hold_s (the operator's choice to force it).
    preempt_hold_s: float = shared(30.0)
    preempt_incomplete: bool = shared(False)
    ssh_port: int = shared(22)  # config sync: the SSH endpoint on the hotwire address


@dataclass(frozen=True)
class Cluster:
    # Switched on each node by its administrator (seed: "executed at both UTMs").
    enabled: bool = local(False)
    hotwire: Hotwire = shared(default_factory=Hotwire)
    ha_interfaces: tuple[HaInterface, ...] = shared(default_factory=tuple)
    passphrase: str = shared("")
    auth: AuthMode = shared(AuthMode.HMAC)
    # Keys the hotwire (peer status); required with auth "pass", whose passphrase travels in clear text.
    hotwire_secret: str = shared("")
    # Per-cluster salt of the key derivation; empty: the hotwire address pair and the VRID offset.
    key_salt: str = shared("")
    vrid_offset: int = shared(50)
    update_trigger_delay_s: float = shared(DEFAULT_UPDATE_TRIGGER_DELAY_S)
    delay_warn_below_s: float = shared(2.0)  # the safe floor's warning; lowered: a tested delay acknowledged
    # Anti-flap: a voluntary role change (preemption) waits this long after the last one,
    # which also gives a returning node time to resynchronise before it takes over.
    min_hold_s: float = shared(5.0)
    garp_repeat: int = shared(3)  # gratuitous ARP / unsolicited NA rounds on takeover
    garp_interval_s: float = shared(0.1)
    vrrp_checksum: Checksum = shared(Checksum.PSEUDO)  # VRRPv3 over IPv4 (see hacore.vrrp.drops)
    disabled_interfaces_in_backup: tuple[str, ...] = shared(default_factory=tuple)
    disabled_applications_in_backup: tuple[str, ...] = shared(default_factory=lambda: DEFAULT_DISABLED_APPS)
    maintenance_services: tuple[str, ...] = shared(default_factory=tuple)
    # Executables run after each role change (keepalived's notify): argv + [new state, reason].
    notify: tuple[str, ...] = shared(default_factory=tuple)
    notify_timeout_s: float = shared(10.0)  # a hook still running then is killed; it never holds a takeover
    ping_check: PingCheck = shared(default_factory=PingCheck)
    sync: Sync = shared(default_factory=Sync)

    def vrids(self) -> dict[str, int]:
        """HA interface -> its VRID."""
        return {h.interface: h.vrid or self.vrid_offset + n for n, h in enumerate(self.ha_interfaces)}


@dataclass(frozen=True)
class NetworkObject:
    name: str = shared("")
    address: str = shared("")  # host or network, CIDR
    interface: str = shared("")  # optional: the interface the object belongs to


@dataclass(frozen=True)
class NatRule:
    kind: NatKind = shared(NatKind.HIDE)
    interface: str = shared("")  # outgoing (hide) or incoming (dnat) interface
    source: str = shared("")  # network object name; dnat: optional, who may connect
    # hide: the object whose address replaces the source; dnat: the object connections are addressed to.
    # Either way a VIP object on HA interfaces (seed: unique addresses in NAT objects).
    to: str = shared("")
    port: int = shared(0)  # dnat: destination port, 0 for all
    protocol: str = shared("tcp")  # dnat with a port: tcp or udp
    target: str = shared("")  # dnat: the object of the internal host
    target_port: int = shared(0)  # dnat: its port, 0 for the same


@dataclass(frozen=True)
class Forward:
    """The forward filter hacore renders into its own table (off: no filter chain at all)."""

    policy: str = shared("accept")  # accept: hacore does not filter; drop: stateful filter
    new_from: tuple[str, ...] = shared(default_factory=tuple)  # interfaces new connections may come in on
    # Drop what conntrack calls invalid on input too (the incumbent's ruleset does): a node without a flow's
    # state then stays silent instead of answering its packets with a reset.
    drop_invalid_input: bool = shared(False)


@dataclass(frozen=True)
class Application:
    name: str = shared("")
    enabled: bool = shared(True)
    backend: str = shared("")  # systemd unit that implements it
    # Without systemd: commands (argv, split like a shell would, run without one); status exits 0 if running.
    start: str = shared("")
    stop: str = shared("")
    status: str = shared("")
    outgoing_address: str = shared("")  # e.g. the external VIP for the mail relay
    user: str = shared("")  # the account it runs as: its traffic is sent from outgoing_address


@dataclass(frozen=True)
class DhcpRange:
    interface: str = shared("")
    start: str = shared("")
    end: str = shared("")


@dataclass(frozen=True)
class Config:
    node: Node = local(default_factory=Node)
    interfaces: tuple[Interface, ...] = shared(default_factory=tuple)
    cluster: Cluster = shared(default_factory=Cluster)
    objects: tuple[NetworkObject, ...] = shared(default_factory=tuple)
    nat: tuple[NatRule, ...] = shared(default_factory=tuple)
    forward: Forward = shared(default_factory=Forward)
    applications: tuple[Application, ...] = shared(default_factory=tuple)
    dhcp_server: tuple[DhcpRange, ...] = shared(default_factory=tuple)

    def interface(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def object(self, name: str) -> NetworkObject | None:
        return next((o for o in self.objects if o.name == name), None)
