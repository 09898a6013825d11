"""systemd's service protocol (Type=notify): READY=1 once the election runs,
WATCHDOG=1 only while the node is healthy, so systemd kills and restarts a
hung daemon (WatchdogSec= in tools/hacore.service).

Rules: healthy means the loop runs (this task is on it: a blocked loop
pings late or never) and, on a master, the advert sender keeps sending - a
sender silent for STALL_PERIODS of its own period fails the check. Outside
systemd (no NOTIFY_SOCKET) nothing is sent; python3-systemd (Debian's
binding of libsystemd's sd_notify) is imported only under systemd.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from hacore.support.logfmt import log
from hacore.vrrp.machine import Machine, Role

logger = logging.getLogger("hacore.daemon")
STALL_PERIODS = 3


def notify(message: str) -> None:
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    try:
        from systemd import daemon
    except ImportError:
        log(logger, "sd_notify_unavailable", logging.WARNING, reason="python3-systemd is not installed",
            message=message.split("=")[0])
        return
    daemon.notify(message)


def interval_s() -> float | None:
    """Half of systemd's watchdog timeout, or None when systemd set none for this process."""
    usec, pid = os.environ.get("WATCHDOG_USEC", ""), os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


class SenderProgress:
    """Whether a sending advert sender has sent within STALL_PERIODS of its period (pure: times given)."""

    def __init__(self) -> None:
        self.sent = -1
        self.since_s = 0.0

    def stalled(self, sending: bool, sent: int, period_s: float, now_s: float) -> bool:
        if not sending or sent != self.sent:
            self.sent, self.since_s = sent, now_s
            return False
        return now_s - self.since_s > STALL_PERIODS * period_s

    def judge(self, m: Machine | None, sender: dict[str, object], now_s: float) -> str:
        """'' while the sender does its job (a master's sends), else why not."""
        master = m is not None and m.role == Role.MASTER
        if master and sender["kind"] == "thread" and not sender.get("running"):
            return "the advert sender thread is not running"
        sent = sender.get("sent")
        period_s = m.advert_interval_us / 1e6 if m is not None else 1.0
        if self.stalled(master and bool(sender.get("sending", True)), sent if isinstance(sent, int) else 0,
                        period_s, now_s):
            return f"no advert sent for {STALL_PERIODS} advert intervals as master"
        return ""


async def run(health: Callable[[], str], every_s: float) -> None:
    """Ping while health() says nothing is wrong; say once why pinging stopped."""
    said = ""
    while True:
        why = health()
        if not why:
            notify("WATCHDOG=1")
        elif why != said:
            log(logger, "watchdog_withheld", logging.ERROR, reason=why)
        said = why
        await asyncio.sleep(every_s)
