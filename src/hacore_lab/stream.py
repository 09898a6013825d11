"""A TCP stream through the cluster, to show that connections survive a failover.

Run inside lab namespaces (bounded in time and count, then it exits):
    python -m hacore_lab.stream serve  --bind 198.19.0.10 --seconds 60
    python -m hacore_lab.stream client --to 198.19.0.10 --seconds 8 --report out.json
The client sends a sequence number every --interval seconds over TCP; the
server echoes it; the client checks every echo arrives, in order, and records
the longest stall between two echoes. Beside it, UDP probes every
--probe-interval seconds measure the outage itself: UDP is not retransmitted,
so the longest gap between two echoed probes is how long the path was dead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import struct
import time

PORT = 5001
GRACE_S = 5.0  # after its last message, how long the client waits for the echoes still missing
MSG = struct.Struct("!Q")


class _UdpEcho(asyncio.DatagramProtocol):
    def __init__(self, peers: str) -> None:
        self.peers = peers
        self.seen: set[tuple[str, int]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # Recorded before the echo: a client that saw its echo may stop the server at once.
        if self.peers and addr[:2] not in self.seen:
            self.seen.add(addr[:2])
            with open(self.peers, "a") as f:
                f.write(f"udp {addr[0]} {addr[1]}\n")
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


class _UdpProbe(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.echoed = 0
        self.longest_gap = 0.0
        self.last: float | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = time.monotonic()
        if self.last is not None:
            self.longest_gap = max(self.longest_gap, now - self.last)
        self.last = now
        self.echoed += 1


async def _probe(to: str, port: int, seconds: float, interval: float) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    transport, probe = await loop.create_datagram_endpoint(_UdpProbe, remote_addr=(to, port))
    count = int(seconds / interval)
    start = time.monotonic()
    for seq in range(count):
        with contextlib.suppress(OSError):  # no route for a moment is part of an outage
            transport.sendto(MSG.pack(seq))
        await asyncio.sleep(max(0.0, start + (seq + 1) * interval - time.monotonic()))
    await asyncio.sleep(0.5)  # the last echoes are still on their way
    transport.close()
    return {"probes_sent": count, "probes_echoed": probe.echoed, "outage_ms": round(probe.longest_gap * 1000, 1)}


async def serve(bind: str, port: int, seconds: float, peers: str) -> None:
    await asyncio.get_running_loop().create_datagram_endpoint(lambda: _UdpEcho(peers), local_addr=(bind, port))

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if peers:  # who the server saw: behind SNAT, the VIP and the translated port
            host, peer_port = writer.get_extra_info("peername")[:2]
            with open(peers, "a") as f:
                f.write(f"tcp {host} {peer_port}\n")
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, bind, port)
    async with server:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.serve_forever(), seconds)


async def client(to: str, port: int, seconds: float, interval: float, probe_interval: float) -> dict[str, object]:
    probing = asyncio.create_task(_probe(to, port, seconds, probe_interval))
    reader, writer = await asyncio.open_connection(to, port)
    count = int(seconds / interval)
    echoed, in_order, max_gap, last = 0, True, 0.0, time.monotonic()

    async def send() -> None:
        start = time.monotonic()
        for seq in range(count):
            writer.write(MSG.pack(seq))
            await writer.drain()
            await asyncio.sleep(max(0.0, start + (seq + 1) * interval - time.monotonic()))

    sender = asyncio.create_task(send())
    error = ""
    deadline = time.monotonic() + seconds + GRACE_S  # a stream that stalls past this is dead
    try:
        while echoed < count:
            data = await asyncio.wait_for(reader.readexactly(MSG.size), max(0.0, deadline - time.monotonic()))
            now = time.monotonic()
            max_gap, last = max(max_gap, now - last), now
            if MSG.unpack(data)[0] != echoed:
                in_order = False
            echoed += 1
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
        error = type(exc).__name__
    sender.cancel()
    writer.close()
    return {"sent": count, "echoed": echoed, "in_order": in_order, "longest_stall_ms": round(max_gap * 1000, 1),
            "error": error, "survived": echoed == count and in_order and not error, **(await probing)}


def endpoint_args(port: int, seconds: float) -> argparse.ArgumentParser:
    """What every lab traffic tool takes: which end it is, where it binds or sends, for how long."""
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["serve", "client"])
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--to", default="")
    ap.add_argument("--port", type=int, default=port)
    ap.add_argument("--seconds", type=float, default=seconds)
    return ap


def main() -> None:
    ap = endpoint_args(PORT, 8.0)
    ap.add_argument("--interval", type=float, default=0.005)
    ap.add_argument("--probe-interval", type=float, default=0.001)
    ap.add_argument("--report", default="")
    ap.add_argument("--peers", default="", help="serve: append each client's address and port to this file")
    a = ap.parse_args()
    if a.mode == "serve":
        asyncio.run(serve(a.bind, a.port, a.seconds, a.peers))
        return
    result = asyncio.run(client(a.to, a.port, a.seconds, a.interval, a.probe_interval))
    text = json.dumps(result)
    if a.report:
        with open(a.report, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
