"""The hotwire for real: one UDP/3780 socket to the peer's hotwire address,
one envelope and one replay check for every datagram, and the channels that
register on it by their magic (peer status here, conntrack sync in
hacore.ctsync). Every advert interval this node says who it is; the peer's
word comes back to the composition root as a Status.

Rules: I/O only; the formats are hacore.hotwire.envelope's and .status's.
The socket is opened when the hotwire address exists and again whenever it
comes back, so a missing address is waited for, not fatal. Datagrams from
anyone but the peer's hotwire address, and every bad one, are counted and
dropped before any channel sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import Callable
from ipaddress import ip_address, ip_interface

from hacore.config.model import Hotwire as HotwireConfig
from hacore.hotwire import envelope, status
from hacore.security.replay import CounterSource, ReplayWindow
from hacore.support import kerneltime
from hacore.support.counters import Schema, Spec
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.peerlink")
SO_RCVBUFFORCE = 33
RCVBUF = 32 << 20
COUNTERS = Schema("hotwire", Spec("drops", "datagrams dropped on the hotwire, by reason", ("reason",)))


class Hotwire:
    def __init__(self, hw: HotwireConfig, key: bytes, counter: CounterSource, window: ReplayWindow,
                 now_us: Callable[[], int]):
        self.hw = hw
        self.key = key  # seals with it; self.opener.keys are the ones accepted
        self.counter = counter
        self.opener = envelope.Opener(key, window)
        self.now_us = now_us
        self.sock: socket.socket | None = None
        self.error = ""  # why the socket is not open
        self.counters = COUNTERS.new()
        self.remote = str(ip_address(hw.remote_address)) if hw.remote_address else ""  # canonical
        self.channels: dict[bytes, Callable[[bytes], None]] = {status.MAGIC: self._on_status}
        self.peer: tuple[status.Status, float] | None = None  # status, monotonic seconds when received
        self.on_status: Callable[[status.Status], None] = lambda s: None
        self._repace = asyncio.Event()

    def register(self, magic: bytes, handler: Callable[[bytes], None]) -> None:
        """Opened bodies that start with magic go to handler (conntrack sync)."""
        self.channels[magic] = handler

    def open(self) -> bool:
        """Bind to our hotwire address; False (and why, in .error) while it does not exist."""
        if self.sock is not None:
            return True
        local = str(ip_interface(self.hw.local_address).ip)
        s = socket.socket(socket.AF_INET if ip_address(local).version == 4 else socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.hw.interface.encode())
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)  # a resync arrives as a burst
            s.setsockopt(socket.SOL_SOCKET, kerneltime.SO_TIMESTAMPNS, 1)  # freshness from arrival, below
            s.bind((local, envelope.PORT))
        except OSError as exc:
            s.close()
            error = f"cannot bind {local}:{envelope.PORT} on {self.hw.interface}: {exc.strerror}"
            if error != self.error:
                log(logger, "hotwire_unavailable", logging.WARNING, error=error)
            self.error = error
            return False
        s.setblocking(False)
        self.sock, self.error = s, ""
        asyncio.get_running_loop().add_reader(s.fileno(), self._readable)
        log(logger, "hotwire_open", address=local, interface=self.hw.interface)
        return True

    def close(self) -> None:
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    def send(self, body: bytes) -> str:
        """One datagram to the peer, sealed: "" once sent, else why not."""
        if self.sock is None:
            return "hotwire_closed"
        try:
            data = envelope.seal(self.key, body, self.counter.next(self.now_us()))
            self.sock.sendto(data, (self.hw.remote_address, envelope.PORT))
        except OSError as exc:
            if exc.errno in (errno.ENODEV, errno.EADDRNOTAVAIL):  # the interface or address went away
                self.close()
            return f"send_{errno.errorcode.get(exc.errno or 0, 'error')}"
        return ""

    def _readable(self) -> None:
        assert self.sock is not None
        offset = kerneltime.real_minus_mono_ns()
        for _ in range(256):  # a sync burst: drain much per wake-up, but let timers run
            try:
                data, anc, _flags, addr = self.sock.recvmsg(65536, kerneltime.CMSG_SPACE)
            except BlockingIOError:
                return
            except OSError:
                self.counters.inc("drops", reason="receive_error")
                return
            if addr[0] != self.remote and ip_address(addr[0].split("%")[0]) != ip_address(self.remote):
                self.counters.inc("drops", reason="wrong_peer")
                continue
            # Fresh as of its arrival: a datagram that waited in our own socket while this loop was busy
            # is late by our doing, not the network's (the replay window's tolerance is for the latter).
            now = self.now_us()
            arrived = kerneltime.stamped_ns(anc, offset)
            body = self.opener.open(self.remote, data, now if arrived is None else min(now, arrived // 1000))
            if isinstance(body, str):
                self.counters.inc("drops", reason=body)
                continue
            handler = next((h for magic, h in self.channels.items() if body.startswith(magic)), None)
            if handler is None:
                self.counters.inc("drops", reason="bad_magic")
                continue
            handler(body)

    # -- the peer-status channel ---------------------------------------------------------------

    async def run(self, mine: Callable[[], status.Status], interval_s: Callable[[], float]) -> None:
        """Until cancelled: send our status every interval; (re)open the socket when it is missing."""
        while True:
            if self.open():
                self.send_status(mine())
            self._repace.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._repace.wait(), interval_s())

    def repace(self) -> None:
        """The delay changed: a status now and then at the new pace, not after a sleep of the old one (the
        peer already judges ours by the new delay)."""
        self._repace.set()

    def send_status(self, mine: status.Status) -> None:
        """One status now (also between the periodic ones: a role change is news at once)."""
        if self.sock is not None and self.send(status.encode(mine)):
            self.counters.inc("drops", reason="send_error")

    def _on_status(self, body: bytes) -> None:
        got = status.decode(body)
        if isinstance(got, str):
            self.counters.inc("drops", reason=got)
            return
        self.peer = (got, time.monotonic())
        self.on_status(got)

    def age_s(self) -> float | None:
        """Seconds since the peer's last status (None: never heard)."""
        return None if self.peer is None else time.monotonic() - self.peer[1]

    def fresh(self, max_age_s: float) -> status.Status | None:
        if self.peer is None:
            return None
        got, at = self.peer
        return got if time.monotonic() - at < max_age_s else None
