"""The advert port: VRRP on every HA link - sockets, codec, authentication,
counters and drops - turning datagrams into election events and priorities
into adverts.

Rules: I/O and bookkeeping only, no decisions (those are the machine's).
Links are tracked by name: a link re-created with a new index gets new
sockets. Peer input never raises here; every drop is counted per link and
reason. A failing send is counted and logged at warning, at most once per
WARN_EVERY_S per link, since a silent send failure is a silent split brain.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from ipaddress import ip_interface
from types import ModuleType

from hacore.config.model import AuthMode, Config, SenderKind
from hacore.security.replay import CounterSource, ReplayWindow
from hacore.support.counters import Schema, Spec
from hacore.support.links import LinkInfo
from hacore.support.logfmt import log
from hacore.vrrp import codec as codec_py
from hacore.vrrp import sender as sender_mod
from hacore.vrrp import timing
from hacore.vrrp.auth import TRAILER_LEN, Verifier, seal
from hacore.vrrp.codec import Advert as WireAdvert
from hacore.vrrp.codec import Expect, pad_key
from hacore.vrrp.drops import AuthType, Checksum, Drop
from hacore.vrrp.machine import Advert
from hacore.vrrp.receive import accept
from hacore.vrrp.sockets import Instance, LinkSockets
from hacore.vrrp.targets import ThreadTargets

logger = logging.getLogger("hacore.adverts")
WARN_EVERY_S = 10.0


def active_codec() -> ModuleType:
    try:
        from hacore.vrrp import fastcodec
    except ImportError:
        return codec_py
    return fastcodec


COUNTERS = Schema("adverts", Spec("drops", "adverts dropped or not sent, by HA link and reason", ("link", "reason")))


class AdvertPort:
    def __init__(self, cfg: Config, key: bytes, counter: CounterSource | None, window: ReplayWindow,
                 on_advert: Callable[[Advert], None], now_us: Callable[[], int]):
        c = cfg.cluster
        self.cfg = cfg
        self.codec = active_codec()
        self.version = 2 if c.auth == AuthMode.PASS else 3
        self.hmac = c.auth == AuthMode.HMAC
        self.key = key
        self.counter = counter
        self.verifier = Verifier(key, window) if self.hmac else None
        self.on_advert = on_advert
        self.on_refused: Callable[[str, int], None] | None = None  # (link, arrival us) of a wrong-key advert
        self.now_us = now_us
        self.instances: dict[str, list[Instance]] = {}
        self.local_ips: dict[tuple[str, int], bytes] = {}  # shared with the machine's Params
        self.counters = COUNTERS.new()
        self.adverts_tx = 0
        self._warned_at: dict[str, float] = {}
        self._vrid = c.vrids()
        self._vips = {h.interface: h.vips for h in c.ha_interfaces}
        timing = cfg.node.timing
        # The compiled sender thread, or adverts from the loop (configured, or no compiled fast path).
        self.fast = (sender_mod.FastSender(key, counter if self.hmac else None, timing)
                     if timing.sender == SenderKind.THREAD and sender_mod.available() else None)
        self.targets = (ThreadTargets(self.fast, self.version, self.codec, self._send_failed)
                        if self.fast is not None else None)

    def set_keys(self, send: bytes, accept: tuple[bytes, ...]) -> None:
        """A change of the advert key: seal with send, accept each of accept (the newest last)."""
        if self.key != send:
            self.key = send
            if self.fast is not None:
                self.fast.rekey(send)
        if self.verifier is not None and self.verifier.keys.keys != tuple(dict.fromkeys(accept)):
            self.verifier.keys.set(accept)

    def sender_info(self) -> dict[str, object]:
        """Which sender runs, and the thread's counters and scheduling."""
        if self.fast is None:
            why = ("configured (node.timing.sender = \"loop\")" if self.cfg.node.timing.sender == SenderKind.LOOP
                   else "hacore._fastpath is not built")
            return {"kind": "loop", "reason": why, "sent": self.adverts_tx}
        return {"kind": "thread", **self.fast.stats(), "scheduling": self.fast.scheduling}

    def set_vips(self, cfg: Config) -> None:
        """New VIPs on the same HA links (a live configuration change); the links' adverts follow once
        they are opened again."""
        self.cfg = cfg
        self._vips = {h.interface: h.vips for h in cfg.cluster.ha_interfaces}

    # -- links ----------------------------------------------------------------------

    def missing(self, name: str, info: LinkInfo | None) -> list[str]:
        """What the link lacks before adverts can run on it (empty: ready)."""
        if info is None:
            return [f"interface {name}"]
        out = []
        if any(ip_interface(v).version == 4 for v in self._vips[name]) and self._source(info, 4) is None:
            want = self._configured4(name)
            out.append(f"IPv4 address {want[0]} on {name}" if want else f"an IPv4 address on {name}")
        if any(ip_interface(v).version == 6 for v in self._vips[name]) and info.ipv6_link_local is None:
            out.append(f"IPv6 link-local address on {name}")
        return out

    def _configured4(self, name: str) -> list[str]:
        iface = self.cfg.interface(name)
        return [str(ip_interface(a).ip) for a in (iface.addresses if iface else ()) if ip_interface(a).version == 4]

    def _source(self, info: LinkInfo, version: int) -> str | None:
        """Our own address on the link: the configured unique one (once the kernel has it), else the kernel's."""
        if version == 6:
            return info.ipv6_link_local  # RFC 5798: IPv6 adverts come from the link-local address
        vips = {str(ip_interface(v).ip) for v in self._vips[info.ifname]}
        configured = self._configured4(info.ifname)
        if configured:
            return configured[0] if configured[0] in info.ipv4 else None
        return next((a for a in info.ipv4 if a not in vips), None)

    def open(self, info: LinkInfo, on_readable: Callable[[Instance], None]) -> None:
        """(Re)build the link's sockets for its current index; OSError names the address that failed."""
        self.close(info.ifname)
        c = self.cfg.cluster
        opened: list[Instance] = []
        try:
            for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
                vips = tuple(ip_interface(v).ip for v in self._vips[info.ifname] if ip_interface(v).version == version)
                src = self._source(info, version) if vips else None
                if src is None:
                    continue
                sockets = LinkSockets(info.ifname, info.index, family, src)
                expect = Expect(version=self.version, vrid=self._vrid[info.ifname],
                                checksum=Checksum[c.vrrp_checksum.name],
                                auth_type=AuthType.PASS if self.version == 2 else AuthType.NONE,
                                auth_key=c.passphrase.encode(), trailer_len=TRAILER_LEN if self.hmac else 0)
                inst = Instance(info.ifname, family, self._vrid[info.ifname], vips, sockets, expect)
                opened.append(inst)
                self.local_ips[(info.ifname, len(sockets.src))] = sockets.src
        except OSError:
            for inst in opened:
                inst.sockets.close()
            raise
        self.instances[info.ifname] = opened
        if self.targets is not None:
            self.targets.generation += 1
        for inst in opened:
            on_readable(inst)  # registers the reader

    def close(self, name: str) -> list[Instance]:
        gone = self.instances.pop(name, [])
        if self.targets is not None:
            self.targets.generation += 1
            if gone:  # the thread lets go of these sockets before they close
                self.targets.retarget(self.instances, *self.targets.last_go)
        for inst in gone:
            inst.sockets.close()
        return gone

    def close_all(self) -> list[Instance]:
        return [i for name in list(self.instances) for i in self.close(name)]

    # -- sending and receiving -------------------------------------------------------

    def send(self, priority: int, update_trigger_delay_us: int, interval_us: int, carrier: dict[str, bool]) -> None:
        """The machine's advert at this priority: with the sender thread, it sends at once if the priority
        or interval changed, and from then on every interval_us by itself, while this call renews its
        lease; from the loop, one advert now on every open link that has carrier."""
        if self.fast is not None and self.targets is not None:
            self.targets.retarget(self.instances, update_trigger_delay_us, carrier)
            if self.fast.go(priority, interval_us, update_trigger_delay_us):
                self.adverts_tx += 1
            return
        cs = timing.announced_interval_cs(update_trigger_delay_us, self.version)
        for link, instances in self.instances.items():
            if not carrier.get(link):
                continue
            for inst in instances:
                auth_data = pad_key(inst.expect.auth_key) if self.version == 2 else b""
                adv = WireAdvert(self.version, inst.vrid, priority, cs, inst.addresses, inst.expect.auth_type,
                                 auth_data)
                s = inst.sockets
                try:
                    if self.counter is not None:
                        msg = seal(self.key, adv, s.src, s.dst, inst.expect.checksum, self.counter.next(self.now_us()),
                                   self.codec.encode)
                    else:
                        msg = self.codec.encode(adv, s.src, s.dst, inst.expect.checksum)
                    s.send(msg)
                    self.adverts_tx += 1
                except OSError as exc:
                    self._send_failed(link, exc)

    def start(self) -> None:
        if self.fast is not None:
            self.fast.start()

    def carrier_changed(self, carrier: dict[str, bool]) -> None:
        """The thread stops sending on a link that lost carrier (and starts on one that has it again)."""
        if self.targets is not None and self.targets.last_go[1]:
            self.targets.retarget(self.instances, self.targets.last_go[0], carrier)

    def quiet(self) -> None:
        """No adverts from now on (the thread's; the loop sends only when the machine says so)."""
        if self.fast is not None:
            self.fast.quiet()

    def stop(self) -> None:
        """The thread's last advert (priority 0 if it was sending) and its end."""
        if self.fast is not None:
            self.fast.stop()

    def report(self) -> None:
        """The sender thread's trouble, logged when it grew (called about once a second)."""
        if self.targets is not None:
            self.targets.report()

    def _send_failed(self, link: str, exc: OSError, count: int = 1) -> None:
        self.counters.inc("drops", count, link=link, reason="send_error")
        now = time.monotonic()
        if now - self._warned_at.get(link, -WARN_EVERY_S) >= WARN_EVERY_S:
            self._warned_at[link] = now
            log(logger, "advert_send_failed", logging.WARNING, link=link, error=exc.strerror or exc,
                failures_so_far=self.counters.get("drops", link=link, reason="send_error"),
                hint="the peer will not hear us on this link; an output rule for protocol 112?")

    def drain(self, inst: Instance) -> None:
        """Every advert queued on the instance's socket, to on_advert or counted as a drop."""
        for rx in inst.sockets.drain():
            result = accept(inst.link, rx, inst.expect, self.codec, self.verifier)
            if isinstance(result, Drop):
                self.counters.inc("drops", link=inst.link, reason=result.name.lower())
                if result == Drop.BAD_AUTH and self.on_refused is not None:
                    self.on_refused(inst.link, rx.arrival_mono_ns // 1000)
            else:
                self.on_advert(result)

    def drain_all(self) -> None:
        for instances in list(self.instances.values()):
            for inst in instances:
                self.drain(inst)
