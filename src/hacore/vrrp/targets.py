"""What the advert sender thread sends on: one prebuilt advert per open HA
link with carrier and address family, rebuilt only when the links, their
sockets or the announced interval change; and the thread's own trouble
(send errors per target, lease expiries, an exhausted counter reserve)
brought back to the port's counters and log.

Rules: bookkeeping only; the thread (hacore.vrrp.sender) sends, the port
(hacore.vrrp.port) owns the sockets.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from types import ModuleType

from hacore.support.logfmt import log
from hacore.vrrp import timing
from hacore.vrrp.codec import Advert as WireAdvert
from hacore.vrrp.codec import pad_key
from hacore.vrrp.sender import FastSender
from hacore.vrrp.sockets import Instance

logger = logging.getLogger("hacore.adverts")


class ThreadTargets:
    def __init__(self, fast: FastSender, version: int, codec: ModuleType,
                 send_failed: Callable[[str, OSError, int], None]):
        self.fast = fast
        self.version = version
        self.codec = codec
        self.send_failed = send_failed
        self.generation = 0  # bumped whenever sockets open or close
        self.last_go: tuple[int, dict[str, bool]] = (0, {})
        self._built_from: tuple[object, ...] | None = None  # what the thread's targets were built from
        self._links: list[str] = []  # the link of each of the thread's targets, in its order
        self._errors: list[int] = []  # their send errors already counted
        self._reported = {"lease_expiries": 0, "counter_exhausted": 0}

    def retarget(self, instances: dict[str, list[Instance]], update_trigger_delay_us: int,
                 carrier: dict[str, bool]) -> None:
        """The thread's messages: one per open link with carrier and family, priority left to it."""
        self.last_go = (update_trigger_delay_us, dict(carrier))
        cs = timing.announced_interval_cs(update_trigger_delay_us, self.version)
        chosen = [(link, inst) for link, insts in instances.items() if carrier.get(link) for inst in insts]
        key = (cs, self.generation, tuple(link for link, _ in chosen))
        if key == self._built_from:
            return
        targets = []
        for _link, inst in chosen:
            auth_data = pad_key(inst.expect.auth_key) if self.version == 2 else b""
            adv = WireAdvert(self.version, inst.vrid, 0, cs, inst.addresses, inst.expect.auth_type, auth_data)
            s = inst.sockets
            msg = self.codec.encode(adv, s.src, s.dst, inst.expect.checksum)
            targets.append((s.tx.fileno(), s.sockaddr(), s.src, s.dst, int(inst.expect.checksum), msg))
        self.report()  # errors of the old targets count before their counters go
        self.fast.set_targets(targets)
        self._built_from = key
        self._links = [link for link, _ in chosen]
        self._errors = [0] * len(chosen)

    def report(self) -> None:
        """The thread's trouble, logged at warning when it grew."""
        st = self.fast.stats()
        for i, n in enumerate(st["target_errors"][:len(self._links)]):
            if n > self._errors[i]:
                errno_ = st["last_send_errno"]
                self.send_failed(self._links[i], OSError(errno_, os.strerror(errno_)), n - self._errors[i])
                self._errors[i] = n
        grown = {k: st[k] - v for k, v in self._reported.items() if st[k] > v}
        if grown:
            self._reported.update({k: st[k] for k in self._reported})
            log(logger, "advert_sender_trouble", logging.WARNING, **grown,
                hint="lease expiries: the control plane stalled; counter exhausted: the counter reserve was "
                     "not persisted")
