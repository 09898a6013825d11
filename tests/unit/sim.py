"""Two election machines wired back to back over a fake wire with a fake clock.

Each HA link delivers an advert when both ends have carrier and VRRP is not
blocked on it; the hotwire carries each node's own status report. Time is
integer microseconds; nothing sleeps.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from hacore.vrrp.machine import (
    Action,
    Advert,
    Announced,
    Carrier,
    Event,
    Machine,
    Params,
    PeerStatus,
    Refused,
    Role,
    Send,
    Tick,
    Transition,
)

MS = 1000
S = 1_000_000
LINKS = ("lan1", "lan2")
IPS = {"n1": b"\xc6\x33\x64\x66", "n2": b"\xc6\x33\x64\x67"}  # 198.51.100.102 / .103
WIRE_LATENCY_US = 100


@dataclass
class Log:
    at_us: int
    node: str
    action: Action


@dataclass
class Sim:
    utd_us: int = 2 * S
    hold_us: int = 5 * S
    now: int = 0
    carrier: dict[tuple[str, str], bool] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)  # links where VRRP does not arrive
    hotwire_up: bool = True
    stalled: set[str] = field(default_factory=set)
    wrong_key: set[str] = field(default_factory=set)  # nodes whose adverts the peer refuses (another passphrase)
    takeover_us: int = 0  # from becoming master to its VIPs and first announcement out (then Announced)
    log: list[Log] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.nodes: dict[str, Machine] = {}
        self._q: list[tuple[int, int, str, Event]] = []
        self._seq = itertools.count()
        self._next_status = 0
        self._held: list[tuple[str, Event]] = []  # a stalled node's socket buffer
        for name in ("n1", "n2"):
            self.start(name)

    def start(self, name: str, **kw: object) -> None:
        params = Params(LINKS, high=name == "n1", update_trigger_delay_us=self.utd_us, min_hold_us=self.hold_us,
                        local_ips={(lk, 4): IPS[name] for lk in LINKS})
        self.nodes[name] = Machine(params, self.now, **kw)  # type: ignore[arg-type]
        for lk in LINKS:
            self.carrier.setdefault((name, lk), True)
            if not self.carrier[(name, lk)]:
                self.nodes[name].carrier[lk] = False
        self.deliver(name, Tick())

    def crash(self, name: str) -> None:
        del self.nodes[name]

    def other(self, name: str) -> str:
        return "n2" if name == "n1" else "n1"

    def deliver(self, name: str, event: Event) -> None:
        if name not in self.nodes:
            return
        if name in self.stalled:
            self._held.append((name, event))
            return
        for action in self.nodes[name].handle(event, self.now):
            self.log.append(Log(self.now, name, action))
            if isinstance(action, Send):
                self._send(name, action.priority)
            if isinstance(action, Transition) and action.new == Role.MASTER:  # the takeover runs, then says so
                heapq.heappush(self._q, (self.now + self.takeover_us, next(self._seq), name, Announced()))

    def _send(self, name: str, priority: int) -> None:
        peer = self.other(name)
        for lk in LINKS:
            if self.carrier[(name, lk)] and self.carrier.get((peer, lk), False) and lk not in self.blocked:
                at = self.now + WIRE_LATENCY_US
                adv: Event = (Refused(lk, at) if name in self.wrong_key
                              else Advert(lk, IPS[name], priority, self.utd_us // 3, at))
                heapq.heappush(self._q, (at, next(self._seq), peer, adv))

    def set_carrier(self, name: str, link: str, up: bool) -> None:
        self.carrier[(name, link)] = up
        self.deliver(name, Carrier(link, up))

    def resume(self, name: str) -> None:
        self.stalled.discard(name)
        held = [e for n, e in self._held if n == name]
        self._held = [(n, e) for n, e in self._held if n != name]
        for event in held:  # the socket buffer is drained first, then the timer fires
            self.deliver(name, event)
        self.deliver(name, Tick())

    def run(self, duration_us: int) -> None:
        end = self.now + duration_us
        while True:
            times = [self._q[0][0]] if self._q else []
            times += [d for n, m in self.nodes.items() if n not in self.stalled
                      and (d := m.deadline_us()) is not None]
            times.append(self._next_status)
            t = min(times)
            if t > end:
                self.now = end
                return
            self.now = max(self.now, t)
            if self._q and self._q[0][0] <= self.now:
                _, _, name, event = heapq.heappop(self._q)
                self.deliver(name, event)
            elif self.now >= self._next_status:
                self._status()
            else:
                for name in [n for n in self.nodes if n not in self.stalled]:
                    d = self.nodes[name].deadline_us()
                    if d is not None and d <= self.now:
                        self.deliver(name, Tick())

    def _status(self) -> None:
        self._next_status = self.now + self.utd_us // 3
        if not self.hotwire_up:
            return
        for name in list(self.nodes):
            if name not in self.stalled and self.other(name) in self.nodes:
                m = self.nodes[name]
                self.deliver(self.other(name), PeerStatus(m.role, self.now, m.priority(), m.maintenance))

    def roles(self) -> tuple[str, str]:
        return tuple(str(self.nodes[n].role) if n in self.nodes else "down" for n in ("n1", "n2"))  # type: ignore[return-value]

    def transitions(self, name: str) -> list[Transition]:
        return [e.action for e in self.log if e.node == name and isinstance(e.action, Transition)]

    def last_transition(self, name: str) -> Log:
        return [e for e in self.log if e.node == name and isinstance(e.action, Transition)][-1]

    def of(self, kind: type, name: str | None = None) -> list[Log]:
        return [e for e in self.log if isinstance(e.action, kind) and (name is None or e.node == name)]


def formed(**kw: object) -> Sim:
    """A cluster that has settled: n1 (High) master, n2 backup, hold times passed."""
    sim = Sim(**kw)  # type: ignore[arg-type]
    sim.run(sim.hold_us + 3 * sim.utd_us)
    assert sim.roles() == ("master", "backup")
    return sim

