"""The peer-status channel on the hotwire (UDP/3780): every advert interval
this node says who it is and what it believes it is; the peer's word comes
back as election events.

Rules: I/O only; the format is hacore.hotwire.status's. The socket is opened when
the hotwire address exists and again whenever it comes back, so a missing
address is waited for, not fatal. Datagrams from anyone but the peer's
hotwire address, and every bad one, are counted and dropped.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable
from ipaddress import ip_address, ip_interface

from hacore.config.model import Config
from hacore.ctsync import wire as sync_wire
from hacore.hotwire import status as hotwire
from hacore.security.replay import CounterSource, ReplayWindow
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.peerlink")
SO_RCVBUFFORCE = 33
RCVBUF = 32 << 20


class PeerLink:
    def __init__(self, cfg: Config, key: bytes, counter: CounterSource, window: ReplayWindow,
                 on_status: Callable[[hotwire.Status], None], now_us: Callable[[], int]):
        self.cfg = cfg
        self.hw = cfg.cluster.hotwire
        self.key = key
        self.counter = counter
        self.rx = hotwire.Receiver(key, window)
        self.on_status = on_status
        self.now_us = now_us
        self.sock: socket.socket | None = None
        self.error = ""  # why the socket is not open
        self.drops: Counter[str] = Counter()
        self.peer: tuple[hotwire.Status, float] | None = None  # status, monotonic seconds when received
        self.remote = str(ip_address(self.hw.remote_address)) if self.hw.remote_address else ""  # canonical
        self.on_sync: Callable[[bytes], None] | None = None  # conntrack sync shares the port (its own magic)

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
            s.bind((local, hotwire.PORT))
        except OSError as exc:
            s.close()
            error = f"cannot bind {local}:{hotwire.PORT} on {self.hw.interface}: {exc.strerror}"
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

    async def run(self, status: Callable[[int], hotwire.Status], interval_s: Callable[[], float]) -> None:
        """Until cancelled: send our status every interval; (re)open the socket when it is missing."""
        while True:
            if self.open():
                self.send(status)
            await asyncio.sleep(interval_s())

    def send(self, status: Callable[[int], hotwire.Status]) -> None:
        """One status now (also between the periodic ones: a role change is news at once)."""
        if self.sock is None:
            return
        try:
            msg = hotwire.seal(self.key, status(self.counter.next(self.now_us())))
            self.sock.sendto(msg, (self.hw.remote_address, hotwire.PORT))
        except OSError as exc:
            self.drops["send_error"] += 1
            if exc.errno in (errno.ENODEV, errno.EADDRNOTAVAIL):  # the interface or address went away
                self.close()

    def _readable(self) -> None:
        assert self.sock is not None
        for _ in range(256):  # a sync burst: drain much per wake-up, but let timers run
            try:
                data, addr = self.sock.recvfrom(65536)
            except BlockingIOError:
                return
            except OSError:
                self.drops["receive_error"] += 1
                return
            if addr[0] != self.remote and ip_address(addr[0].split("%")[0]) != ip_address(self.remote):
                self.drops["wrong_peer"] += 1
                continue
            if self.on_sync is not None and sync_wire.is_sync(data):
                self.on_sync(data)
                continue
            status = self.rx.accept(data, self.now_us())
            if isinstance(status, str):
                self.drops[status] += 1
                continue
            if status.role not in ("none", "backup", "master"):
                self.drops["malformed"] += 1
                continue
            self.peer = (status, time.monotonic())
            self.on_status(status)

    def send_raw(self, data: bytes) -> str:
        """One datagram to the peer (conntrack sync): "" once sent, else why not."""
        if self.sock is None:
            return "hotwire_closed"
        try:
            self.sock.sendto(data, (self.hw.remote_address, hotwire.PORT))
        except OSError as exc:
            return f"send_{errno.errorcode.get(exc.errno or 0, 'error')}"
        return ""

    def age_s(self) -> float | None:
        """Seconds since the peer's last status (None: never heard)."""
        return None if self.peer is None else time.monotonic() - self.peer[1]

    def fresh(self, max_age_s: float) -> hotwire.Status | None:
        if self.peer is None:
            return None
        status, at = self.peer
        return status if time.monotonic() - at < max_age_s else None
