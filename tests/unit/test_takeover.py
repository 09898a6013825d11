"""The takeover runner against a slow fake VIP backend: a yield that lands
while a takeover is still in flight leaves no VIP behind, and stops the
announcement rounds at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from hacore.config.model import Cluster, Config
from hacore.effects.takeover import Change, TakeoverRunner
from hacore.effects.vips import Plan, Vip

VIPS = {Vip.of("lan1", "198.51.100.101/24"), Vip.of("lan2", "2001:db8:200::1/64")}
DEADLINE_S = 5.0  # a bound on a hang, not a speed requirement


class SlowVips:
    """A VIP backend whose every apply waits until the test opens the gate."""

    def __init__(self) -> None:
        self.owned = set(VIPS)
        self.index = {"lan1": 1, "lan2": 2}
        self.present: set[Vip] = set()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.calls: list[str] = []

    async def apply(self, desired: set[Vip]) -> Plan:
        todo = Plan(tuple(desired - self.present), tuple((self.present & self.owned) - desired))
        self.entered.set()
        await self.gate.wait()
        self.present = (self.present | set(todo.add)) - set(todo.remove)
        self.calls.append(f"add {len(todo.add)} remove {len(todo.remove)}")
        return todo

    def close(self) -> None:
        pass


@dataclass
class Host:
    """The node, as the runner sees it: the role is the test's; no conntrack table to wait for."""

    role: list[str]
    syncs: bool = False
    announced_count: int = 0

    def is_master(self) -> bool:
        return self.role[0] == "master"

    def in_maintenance(self) -> bool:
        return False

    def flows_in_kernel(self) -> bool:
        return True

    async def commit(self) -> None:
        pass

    def announced(self) -> None:
        self.announced_count += 1

    def steps_taken(self, change: Change, steps: dict[str, float]) -> None:
        pass


def make(role: list[str], vips: SlowVips, garp_interval_s: float = 0.1) -> TakeoverRunner:
    cfg = Config(cluster=Cluster(garp_repeat=3, garp_interval_s=garp_interval_s))
    return TakeoverRunner(cfg, vips, {}, Host(role))  # type: ignore[arg-type]


async def until(cond: Callable[[], object]) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), DEADLINE_S)


async def settled(runner: TakeoverRunner) -> None:
    while runner._task is not None and not runner._task.done():
        await asyncio.wait_for(asyncio.shield(runner._task), DEADLINE_S)


def test_a_yield_during_a_slow_vip_add_removes_them_again() -> None:
    async def scenario() -> SlowVips:
        vips, role = SlowVips(), ["master"]
        runner = make(role, vips)
        runner.kick(announce=True)
        await asyncio.wait_for(vips.entered.wait(), DEADLINE_S)  # the add is in flight...
        role[0] = "backup"  # ...when the machine yields
        runner.kick(announce=False)
        vips.gate.set()
        await settled(runner)
        await runner.stop()
        return vips

    vips = asyncio.run(scenario())
    assert vips.present == set()
    assert vips.calls == ["add 2 remove 0", "add 0 remove 2", "add 0 remove 0"]  # the last: stop releases


def test_a_yield_during_the_announcement_rounds_stops_them_and_removes_at_once() -> None:
    async def scenario() -> tuple[SlowVips, list[int]]:
        vips, role = SlowVips(), ["master"]
        vips.gate.set()
        runner = make(role, vips, garp_interval_s=10.0)  # a yield must not wait out 2 x 10 s
        rounds: list[int] = []
        runner.rounds._announce = lambda vip, addr: rounds.append(1)  # type: ignore[method-assign]
        runner.kick(announce=True)
        await until(lambda: rounds)
        role[0] = "backup"
        runner.kick(announce=False)
        await settled(runner)
        await runner.stop()
        return vips, rounds

    vips, rounds = asyncio.run(scenario())
    assert vips.present == set()
    assert len(rounds) == len(VIPS)  # the first round only
