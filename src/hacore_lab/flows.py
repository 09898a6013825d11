"""Thousands of flows through the cluster at once, to show what a failover
costs each of them.

Run inside lab namespaces (bounded in time, then it exits):
    python -m hacore_lab.flows serve  --bind 198.19.0.10 --seconds 60 --report server.json
    python -m hacore_lab.flows client --to 198.19.0.10 --tcp 2000 --udp 1000 --seconds 6 --report client.json
The client opens --tcp connections and --udp sockets (a source port each)
to the server; once all are up it creates REPORT.ready, then sends
--udp-rate datagrams/s round-robin over its UDP flows and a message per TCP
flow every --tcp-interval, each carrying its flow, sequence number and
send time; the server echoes everything. Measured:
- UDP: the longest gap between two echoes reaching the client, over all
  flows (UDP is not retransmitted: how long the path was dead); per flow
  what was lost, and the source ports the server saw (one: the flow's NAT
  mapping crossed the failover).
- TCP, per flow: its longest stall (a message's send to its echo), whether
  every echo came back in order, and the retransmissions of both ends (the
  kernel's tcpi_total_retrans, read before the socket closes).

Rules: one thread and epoll per side, so the measurement is not the
scheduler's; every message is 16 bytes, so no send buffer fills.
"""

from __future__ import annotations

import contextlib
import errno
import json
import resource
import selectors
import signal
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hacore_lab.stream import endpoint_args

PORT = 5002
MSG = struct.Struct("!IIQ")  # flow, sequence, the client's send time (monotonic ns)
TCPI_TOTAL_RETRANS = struct.Struct("=I")
TCPI_TOTAL_RETRANS_AT = 100  # offset of tcpi_total_retrans in struct tcp_info (linux/tcp.h)
CONNECT_S = 20.0
GRACE_S = 3.0  # after the last message, how long the client waits for the echoes still missing
UDP_TAIL_S = 0.2


def total_retrans(s: socket.socket) -> int:
    """Segments this socket retransmitted over its life (-1: the kernel would not say)."""
    try:
        return TCPI_TOTAL_RETRANS.unpack_from(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104),
                                              TCPI_TOTAL_RETRANS_AT)[0]
    except (OSError, struct.error):
        return -1


def _more_files(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(n, soft), hard), hard))


@dataclass
class TcpFlow:
    sock: socket.socket
    sent: int = 0
    echoed: int = 0
    stall_ns: int = 0
    in_order: bool = True
    error: str = ""
    buf: bytes = b""


@dataclass
class UdpFlows:
    sent: list[int]
    echoed: list[int]
    last_ns: int = 0
    gap_ns: int = 0
    gap_at_ns: int = 0  # when the longest gap ended


def _connect_all(to: str, port: int, n: int, sel: selectors.BaseSelector) -> list[TcpFlow]:
    flows = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        if s.connect_ex((to, port)) not in (0, errno.EINPROGRESS):
            raise SystemExit(f"connect to {to}:{port} refused at once")
        flows.append(TcpFlow(s))
        sel.register(s, selectors.EVENT_WRITE, len(flows) - 1)
    waiting, deadline = set(range(n)), time.monotonic() + CONNECT_S
    while waiting:
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(waiting)} of {n} TCP connections not up after {CONNECT_S:g} s")
        for key, _ in sel.select(0.5):
            i = key.data
            err = flows[i].sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise SystemExit(f"TCP connection {i}: {errno.errorcode.get(err, err)}")
            sel.modify(flows[i].sock, selectors.EVENT_READ, i)
            waiting.discard(i)
    return flows


def _tcp_read(f: TcpFlow, fid: int, now: int) -> None:
    try:
        data = f.sock.recv(65536)
    except BlockingIOError:
        return
    except OSError as exc:
        f.error = f.error or (errno.errorcode.get(exc.errno or 0) or type(exc).__name__)
        return
    if not data:
        f.error = f.error or "closed by the peer"
        return
    f.buf += data
    n = len(f.buf) // MSG.size
    for k in range(n):
        flow, seq, sent_ns = MSG.unpack_from(f.buf, k * MSG.size)
        if flow != fid or seq != f.echoed:
            f.in_order = False
        f.stall_ns = max(f.stall_ns, now - sent_ns)
        f.echoed += 1
    f.buf = f.buf[n * MSG.size:]


def _udp_read(s: socket.socket, u: UdpFlows, now: int) -> None:
    while True:
        try:
            data = s.recv(64)
        except (BlockingIOError, ConnectionRefusedError):  # refused: an ICMP error queued on the socket
            return
        if len(data) != MSG.size:
            continue
        flow = MSG.unpack(data)[0]
        if 0 <= flow < len(u.echoed):
            u.echoed[flow] += 1
        if u.last_ns and now - u.last_ns > u.gap_ns:
            u.gap_ns, u.gap_at_ns = now - u.last_ns, now
        u.last_ns = now


def client(to: str, port: int, n_tcp: int, n_udp: int, udp_rate: float, tcp_interval: float, seconds: float,
           ready: Path | None) -> dict[str, Any]:
    _more_files(n_tcp + n_udp + 64)
    sel = selectors.DefaultSelector()
    tcp = _connect_all(to, port, n_tcp, sel)
    udp_socks = []
    for i in range(n_udp):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect((to, port))
        udp_socks.append(s)
        sel.register(s, selectors.EVENT_READ, -1 - i)
    udp = UdpFlows([0] * n_udp, [0] * n_udp)
    if ready is not None:
        ready.touch()

    def handle(timeout_s: float) -> None:
        for key, _ in sel.select(timeout_s):
            now = time.monotonic_ns()
            i = key.data
            if i >= 0:
                _tcp_read(tcp[i], i, now)
            else:
                _udp_read(udp_socks[-1 - i], udp, now)

    start = time.monotonic_ns()
    end = start + int(seconds * 1e9)
    tcp_step = tcp_interval * 1e9 / n_tcp if n_tcp else float("inf")
    udp_step = 1e9 / udp_rate if n_udp and udp_rate else float("inf")
    tj = uj = 0
    while (now := time.monotonic_ns()) < end:
        while start + tj * tcp_step <= now:
            f = tcp[tj % n_tcp]
            if not f.error:
                try:
                    if f.sock.send(MSG.pack(tj % n_tcp, f.sent, now)) != MSG.size:
                        f.error = "short send"
                    f.sent += 1
                except OSError as exc:
                    f.error = errno.errorcode.get(exc.errno or 0) or type(exc).__name__
            tj += 1
        while start + uj * udp_step <= now:
            flow = uj % n_udp
            with contextlib.suppress(OSError):  # no route for a moment is part of an outage
                udp_socks[flow].send(MSG.pack(flow, udp.sent[flow], now))
            udp.sent[flow] += 1
            uj += 1
        handle(max(0.0, (min(start + tj * tcp_step, start + uj * udp_step, end) - time.monotonic_ns()) / 1e9))
    sending_ended = time.monotonic_ns()
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and any(f.echoed < f.sent and not f.error for f in tcp):
        handle(0.05)
    tail = time.monotonic() + UDP_TAIL_S
    while time.monotonic() < tail:
        handle(0.05)
    result = {
        "tcp": {"flows": n_tcp, "interval_s": tcp_interval,
                "stall_ms": [round(f.stall_ns / 1e6, 2) for f in tcp],
                "retrans": [total_retrans(f.sock) for f in tcp],
                "survived": [f.sent > 0 and f.echoed == f.sent and f.in_order and not f.error for f in tcp],
                "errors": sorted({f.error for f in tcp if f.error})},
        "udp": {"flows": n_udp, "rate": udp_rate, "sent": sum(udp.sent), "echoed": sum(udp.echoed),
                "longest_gap_ms": round(udp.gap_ns / 1e6, 2),
                "gap_ended_s": round((udp.gap_at_ns - start) / 1e9, 3) if udp.gap_at_ns else None,
                "lost": [s - e for s, e in zip(udp.sent, udp.echoed, strict=True)]},
        "seconds": round((sending_ended - start) / 1e9, 3)}
    for f in tcp:
        f.sock.close()
    for s in udp_socks:
        s.close()
    return result


@dataclass
class _Conn:
    sock: socket.socket
    port: int
    flow: int = -1
    pending: bytes = b""


@dataclass
class _Served:
    tcp: dict[int, dict[str, int]] = field(default_factory=dict)  # flow -> its retransmissions and port
    udp: dict[int, set[int]] = field(default_factory=dict)  # flow -> the source ports it came from


def _close(sel: selectors.BaseSelector, c: _Conn, served: _Served) -> None:
    if c.flow >= 0:
        served.tcp[c.flow] = {"retrans": total_retrans(c.sock), "port": c.port}
    sel.unregister(c.sock)
    c.sock.close()


def _echo(sel: selectors.BaseSelector, c: _Conn, served: _Served, conns: dict[int, _Conn]) -> None:
    try:
        data = c.sock.recv(65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:
        _close(sel, conns.pop(c.sock.fileno()), served)
        return
    if c.flow < 0 and len(data) >= 4:
        c.flow = struct.unpack_from("!I", data)[0]
    _send(sel, c, c.pending + data)


def _send(sel: selectors.BaseSelector, c: _Conn, data: bytes) -> None:
    try:
        n = c.sock.send(data) if data else 0
    except BlockingIOError:
        n = 0
    except OSError:
        n = len(data)  # the reader finds the connection dead
    c.pending = data[n:]
    sel.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.pending else 0), c)


def serve(bind: str, port: int, seconds: float) -> dict[str, Any]:
    _more_files(65536)
    sel = selectors.DefaultSelector()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((bind, port))
    listener.listen(8192)
    listener.setblocking(False)
    udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_sock.bind((bind, port))
    udp_sock.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, "listen")
    sel.register(udp_sock, selectors.EVENT_READ, "udp")
    conns: dict[int, _Conn] = {}
    served = _Served()
    stop = False

    def on_term(_sig: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    deadline = time.monotonic() + seconds
    while not stop and time.monotonic() < deadline:
        for key, events in sel.select(0.1):
            if key.data == "listen":
                with contextlib.suppress(BlockingIOError):
                    while True:
                        s, addr = listener.accept()
                        s.setblocking(False)
                        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        conns[s.fileno()] = _Conn(s, addr[1])
                        sel.register(s, selectors.EVENT_READ, conns[s.fileno()])
            elif key.data == "udp":
                with contextlib.suppress(BlockingIOError):
                    while True:
                        data, addr = udp_sock.recvfrom(64)
                        if len(data) == MSG.size:
                            served.udp.setdefault(MSG.unpack(data)[0], set()).add(addr[1])
                        with contextlib.suppress(OSError):
                            udp_sock.sendto(data, addr)
            elif events & selectors.EVENT_READ:
                _echo(sel, key.data, served, conns)
            else:
                _send(sel, key.data, key.data.pending)
    for c in list(conns.values()):
        _close(sel, c, served)
    return {"tcp": {str(k): v for k, v in served.tcp.items()},
            "udp_ports": {str(k): len(v) for k, v in served.udp.items()}}


def main() -> None:
    ap = endpoint_args(PORT, 6.0)
    ap.add_argument("--tcp", type=int, default=2000)
    ap.add_argument("--udp", type=int, default=1000)
    ap.add_argument("--udp-rate", type=float, default=10_000.0)
    ap.add_argument("--tcp-interval", type=float, default=0.5)
    ap.add_argument("--report", required=True)
    a = ap.parse_args()
    report = Path(a.report)
    if a.mode == "serve":
        result = serve(a.bind, a.port, a.seconds)
    else:
        result = client(a.to, a.port, a.tcp, a.udp, a.udp_rate, a.tcp_interval, a.seconds,
                        report.with_suffix(".ready"))
    report.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
