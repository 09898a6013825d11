"""The kernel's conntrack table over ctnetlink: the master's event stream and
dumps, and the backup's writes.

Rules: raw NETLINK_NETFILTER sockets; every byte is parsed and built in
_fastpath (no Python object per flow). The event socket's receive buffer is
sized for bursts (SO_RCVBUFFORCE) and an overrun (ENOBUFS) is reported to
the caller at once, which repairs it with a dump. Writes go out in batches
of many requests per sendmsg; the kernel's answers are read back and
counted, and a create that meets an existing entry is sent again as an
update.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import threading
from typing import Any

import numpy as np

from hacore.ctsync.flows import FLOW, make
from hacore.native import fastpath
from hacore.support.counters import Counters, Schema, Spec

_fp: Any = fastpath  # the caller checks that it is built (hacore.has_fastpath)

NETLINK_NETFILTER = 12
GROUPS = 0x1 | 0x2 | 0x4  # NF_NETLINK_CONNTRACK_NEW | _UPDATE | _DESTROY
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
# Sized for bursts; HACORE_CT_EVENT_RCVBUF (bytes) shrinks it, e.g. to show an overrun being repaired.
EVENT_RCVBUF = int(os.environ.get("HACORE_CT_EVENT_RCVBUF", 64 << 20))
# One sendmsg is one pass through the kernel that this kernel (no in-kernel preemption) does not interrupt:
# 256 KiB of creates held a CPU for milliseconds, and the master's advert sender waited behind it (at 0.01 s
# under every load at once: advert interval error p99 4.6 ms; with 32 KiB, 0.7 ms - bench/README.md).
WRITE_BUF = 32 << 10
RECV_BUF = 256 << 10
MAX_PER_RECV = RECV_BUF // 64  # conntrack messages in one receive, at most (none is shorter than 64 bytes)
_NLMSG = struct.Struct("=IHHII")
_GET_DUMP = _NLMSG.pack(20, (1 << 8) | 1, 0x1 | 0x300, 1, 0) + bytes(4)  # IPCTNL_MSG_CT_GET, REQUEST|DUMP, any family


def _socket(groups: int = 0, rcvbuf: int = 4 << 20) -> socket.socket:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE: root may pass rmem_max
        s.setsockopt(socket.SOL_SOCKET, 32, 4 << 20)  # SO_SNDBUFFORCE
        s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)  # errors without the whole request echoed
        s.bind((0, groups))
    except OSError:
        s.close()
        raise
    return s


class Events:
    """The master's subscription to new/update/destroy events."""

    def __init__(self) -> None:
        self.sock = _socket(GROUPS, EVENT_RCVBUF)
        self.sock.setblocking(False)
        self.buf = bytearray(RECV_BUF)
        self.overruns = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self, out: np.ndarray) -> tuple[int, bool]:
        """Events into out until the socket is empty or out is nearly full: (count, overrun)."""
        view = out.view(np.uint8)
        n = 0
        while n + MAX_PER_RECV <= len(out):
            try:
                got = self.sock.recv_into(self.buf)
            except BlockingIOError:
                return n, False
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # the kernel dropped events: only a dump can repair that
                    self.overruns += 1
                    return n, True
                raise
            n = _fp.ct_parse(self.buf, got, view, n)[0]
        return n, False

    def discard(self) -> None:
        """Empty the queue before a repair dump: the dump supersedes what is queued, and only an
        empty queue clears the kernel's congestion mark - until then further losses report no
        ENOBUFS, and events lost during the dump would go unrepaired."""
        while True:
            try:
                self.sock.recv_into(self.buf)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise

    def close(self) -> None:
        self.sock.close()


def dump() -> np.ndarray:
    """The whole table, both families (blocking: run it on a thread)."""
    s = _socket(rcvbuf=16 << 20)
    try:
        s.send(_GET_DUMP)
        buf = bytearray(RECV_BUF)
        out = make(65536)
        n = 0
        while True:
            got = s.recv_into(buf)
            if n + MAX_PER_RECV > len(out):
                out = np.concatenate([out, make(len(out))])
            n, _used, flags, err = _fp.ct_parse(buf, got, out.view(np.uint8), n)
            if flags & 2:
                raise OSError(err, f"conntrack dump: {os.strerror(err)}")
            if flags & 1:
                return out[:n]
    finally:
        s.close()


WRITER_COUNTERS = Schema(
    "ct_writer",
    Spec("requests", "conntrack create/update/delete requests sent to this kernel"),
    Spec("replaced", "stale entries of this node's own replaced by the master's"),
    Spec("absent", "deletes or updates of entries already gone here"),
    Spec("error", "requests the kernel refused, by errno", ("errno",)),
)


class Writer:
    """The backup's writes into its own kernel table (blocking: run it on one thread)."""

    def __init__(self) -> None:
        self.sock = _socket(rcvbuf=32 << 20)
        self.buf = bytearray(WRITE_BUF)
        self.rbuf = bytearray(1 << 20)
        self.seq = 1
        self._counters = WRITER_COUNTERS.new()
        self._lock = threading.Lock()  # written on the writer's thread, read by `cluster info`

    def counters(self) -> dict[str, int]:
        with self._lock:
            return self._counters.flat()

    def snapshot(self) -> Counters:
        with self._lock:
            return self._counters.copy()

    def _count(self, key: str, n: int = 1, **labels: str) -> None:
        with self._lock:
            self._counters.inc(key, n, **labels)

    def write(self, flows: np.ndarray) -> None:
        """Creates, updates and deletes for these records; answers counted by outcome.

        A create that meets an entry this node made before (its own traffic while it was master,
        before a restart) replaces it: an update would keep that entry's TCP window, long stale,
        and strict tracking would drop the flow's next packets as invalid. A created entry learns
        its window from the first packet it sees."""
        exists = self._send(flows.view(np.uint8), len(flows), update_only=False)
        if exists:
            stale = flows[np.asarray(exists)]
            self._count("replaced", len(stale))
            stale["kind"] = _fp.KIND_DESTROY
            self._send(stale.view(np.uint8), len(stale), update_only=False)
            stale["kind"] = _fp.KIND_NEW
            self._send(stale.view(np.uint8), len(stale), update_only=False)

    def _send(self, view: np.ndarray, n: int, update_only: bool) -> list[int]:
        """Send records as requests in batches; the indices whose create met an existing entry."""
        exists: list[int] = []
        i = 0
        while i < n:
            seq0 = self.seq
            nxt, w = _fp.ct_build(view, i, n, int(update_only), self.buf, seq0)
            self.seq = (self.seq + (nxt - i)) & 0x7FFFFFFF or 1
            self.sock.send(memoryview(self.buf)[:w])
            self._count("requests", nxt - i)
            for seq, code in self._answers():
                if code == errno.EEXIST and not update_only:
                    exists.append(i + ((seq - seq0) & 0x7FFFFFFF))
                elif code == errno.ENOENT:
                    self._count("absent")  # deleted or expired here already
                else:
                    self._count("error", errno=str(errno.errorcode.get(code, code)))
            i = nxt
        return exists

    def _answers(self) -> list[tuple[int, int]]:
        """(request seq, errno) of every error the kernel queued for the requests just sent."""
        out: list[tuple[int, int]] = []
        while True:
            try:
                got = self.sock.recv_into(self.rbuf, flags=socket.MSG_DONTWAIT)
            except BlockingIOError:
                return out
            off = 0
            while off + 16 <= got:
                length, mtype, _flags, _seq, _pid = _NLMSG.unpack_from(self.rbuf, off)
                if length < 16:
                    break
                if mtype == 2 and length >= 36:  # NLMSG_ERROR: int error, then the request's header
                    code = -struct.unpack_from("=i", self.rbuf, off + 16)[0]
                    if code:
                        out.append((struct.unpack_from("=I", self.rbuf, off + 28)[0], code))
                off += (length + 3) & ~3

    def close(self) -> None:
        self.sock.close()


__all__ = ["FLOW", "Events", "Writer", "dump"]
