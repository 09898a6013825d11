"""The Prometheus endpoint: prometheus-client's own HTTP server on a thread,
serving families that are built on the daemon's loop at each scrape.

Rules: off unless node.metrics.address is set (hacore.config.validate keeps
it off the cluster links unless asked); the scrape thread never touches the
daemon's state - it asks the loop for one snapshot and waits at most
SNAPSHOT_TIMEOUT_S, so a hung loop shows as a failed scrape, not a stale
one. Rebinding on a configuration change is close (on a thread) and open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from ipaddress import ip_address
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.registry import Collector, CollectorRegistry

from hacore.config.model import Metrics
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.metrics")
SNAPSHOT_TIMEOUT_S = 2.0


def url(m: Metrics) -> str:
    host = f"[{m.address}]" if ip_address(m.address).version == 6 else m.address
    return f"http://{host}:{m.port}/metrics"


class _Snapshot(Collector):
    def __init__(self, loop: asyncio.AbstractEventLoop, build: Callable[[], list[Any]]):
        self.loop, self.build = loop, build

    def collect(self) -> Iterable[Any]:
        async def on_loop() -> list[Any]:
            return self.build()

        return asyncio.run_coroutine_threadsafe(on_loop(), self.loop).result(SNAPSHOT_TIMEOUT_S)


class Exporter:
    def __init__(self, build: Callable[[], list[Any]]):
        self.build = build  # the families, on the loop
        self.bound: Metrics | None = None
        self.error = ""
        self._server: Any = None
        self._thread: Any = None

    def info(self) -> dict[str, Any]:
        if self.bound is None:
            return {"url": "", "state": self.error or "off (node.metrics.address not set)"}
        return {"url": url(self.bound), "state": "serving"}

    async def apply(self, m: Metrics) -> None:
        """Serve as m says (nothing to do when it already does); a bind that fails is reported, not fatal."""
        if m == self.bound or (not m.address and self.bound is None):
            return
        await asyncio.to_thread(self.close)  # waits for a scrape in flight, which waits for this loop
        self.error = ""
        if not m.address:
            return
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Snapshot(asyncio.get_running_loop(), self.build))
        try:
            self._server, self._thread = start_http_server(m.port, m.address, registry)
        except OSError as exc:
            self.error = f"cannot listen on {m.address}:{m.port}: {exc.strerror or exc}"
            log(logger, "metrics_listen_failed", logging.WARNING, error=self.error)
            return
        self.bound = m
        log(logger, "metrics_listening", url=url(m))

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None
        self.bound = None
