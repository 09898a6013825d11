"""`hacore lab`: build, inspect, demonstrate and remove the namespace lab."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from hacore.cli.kit import Failure, command
from hacore.config.validate import UTD_MAX_S, UTD_MIN_S, UTD_MIN_WITHOUT_RT_S
from hacore_lab import demo, netns, webconsole
from hacore_lab.advertbench import FLOOR_LOADS, FLOOR_STACKS
from hacore_lab.topology import NODES, REALTIME, Lab

name_option = click.option("--name", default="lab", show_default=True, help="lab name (namespace prefix hacore-NAME-)")


def _progress(msg: str) -> None:
    click.echo(f"lab: {msg}", err=True)


@click.group()
def lab() -> None:
    """A real two-node cluster in network namespaces on this machine."""


realtime_option = click.option("--realtime", type=click.Choice(["off", "fifo"]), default="off", show_default=True,
                               help="the daemons' sender, and the spare's election loop, at real-time "
                                    "priority (node.timing.realtime, realtime_spare); fifo allows delays down to "
                                    "0.01 s")


def _timing(realtime: str) -> str:
    return REALTIME if realtime != "off" else ""


def _up(the_lab: Lab, web: bool = False, realtime: str = "off") -> dict[str, Any]:
    _progress(f"building namespaces {the_lab.prefix}*")
    try:
        netns.up(the_lab, timing=_timing(realtime))
        for node in NODES:
            _progress(f"starting the daemon on {node}")
            netns.start_daemon(the_lab, node)
            if web:
                _progress(f"starting the web console on {node}")
                webconsole.start(the_lab, node)
    except (netns.LabError, TimeoutError) as exc:
        netns.down(the_lab)
        raise Failure(str(exc)) from None
    return _status(the_lab)


def _status(the_lab: Lab) -> dict[str, Any]:
    web = webconsole.status(the_lab)
    return netns.status(the_lab) | ({"web": web} if web else {})


def _status_text(st: dict[str, Any]) -> str:
    if not st["up"]:
        return f"lab {st['lab']}: down"
    lines = [f"lab {st['lab']}: up ({len(st['namespaces'])} namespaces)"]
    for node, d in st["daemons"].items():
        lines.append(f"  {node}: pid {d['pid'] or '-'}  hacore -s {d['socket']} cluster info")
    for node, w in st.get("web", {}).items():
        lines.append(f"  {node} console: {w['url']} (user {w['user']}, password {w['password']}; from the "
                     "client namespace)")
    return "\n".join(lines)


@command(lab, "up")
@name_option
@click.option("--web", is_flag=True, help="start each node's web console too (credential in `lab status`)")
@realtime_option
def lab_up(ctx: click.Context, name: str, web: bool, realtime: str) -> tuple[Any, str]:
    """Build the lab and start a daemon on each node."""
    st = _up(Lab(name), web, realtime)
    return st, _status_text(st)


@command(lab, "down")
@name_option
@click.option("--all", "every", is_flag=True, help="every hacore lab on this machine, whoever built it")
def lab_down(ctx: click.Context, name: str, every: bool) -> tuple[Any, str]:
    """Remove the lab: processes, namespaces, files (idempotent)."""
    removed = netns.down(None if every else Lab(name))
    return {"removed": removed}, "\n".join(removed) or "nothing to remove"


@command(lab, "status")
@name_option
def lab_status(ctx: click.Context, name: str) -> tuple[Any, str]:
    """What of the lab exists."""
    st = _status(Lab(name))
    return st, _status_text(st)


@click.group()
def bench() -> None:
    """Benchmarks that need the lab (micro benchmarks: tools/run bench)."""


def _bench(run: Callable[[], dict[str, Any]], markdown: Callable[[dict[str, Any]], str]) -> tuple[Any, str]:
    """A macro bench's report and its table; a lab that cannot be built is one line."""
    try:
        report = run()
    except (netns.LabError, TimeoutError) as exc:
        raise Failure(str(exc)) from None
    return report, markdown(report)


@command(bench, "failover")
@click.option("--runs", type=click.IntRange(1, 50), default=8, show_default=True, help="runs per case and stack")
@click.option("--seed", type=int, default=None, help="seed of the random fault phases (to repeat a run)")
@click.option("--case", "cases", type=click.Choice(["defaults", "same", "floor", "floor-load"]), multiple=True,
              default=("defaults", "same", "floor"), show_default=True,
              help="which cases (repeatable): the defaults, the same detection time, each stack at its floor "
                   "(floor-load: with both CPUs busy and a forwarding flood)")
def bench_failover(ctx: click.Context, runs: int, seed: int | None, cases: tuple[str, ...]) -> tuple[Any, str]:
    """Outage and lost connections when the master loses power: hacore, keepalived, keepalived + conntrackd."""
    from hacore_lab import bench as failover_bench

    return _bench(lambda: failover_bench.run(runs, _progress, seed, cases), failover_bench.markdown)


@command(bench, "flows")
@click.option("--runs", type=click.IntRange(1, 50), default=5, show_default=True, help="runs per fault and stack")
@click.option("--tcp", type=click.IntRange(1, 20_000), default=2000, show_default=True, help="TCP connections")
@click.option("--udp", type=click.IntRange(1, 20_000), default=1000, show_default=True, help="UDP flows")
@click.option("--udp-rate", type=click.FloatRange(100, 50_000), default=10_000, show_default=True,
              help="UDP datagrams per second, all flows together")
@click.option("--fault", "which", type=click.Choice(["kill", "switchover"]), multiple=True,
              default=("kill", "switchover"), show_default=True, help="which faults (repeatable)")
@click.option("--seed", type=int, default=None, help="seed of the random fault phases (to repeat a run)")
def bench_flows(ctx: click.Context, runs: int, tcp: int, udp: int, udp_rate: float, which: tuple[str, ...],
                seed: int | None) -> tuple[Any, str]:
    """Thousands of flows through the SNAT pair at 0.01 s: hacore beside keepalived + conntrackd at its floor."""
    from hacore_lab import flowbench

    load = flowbench.Load(tcp=tcp, udp=udp, udp_rate=udp_rate)
    return _bench(lambda: flowbench.run(runs, load, _progress, seed, which), flowbench.markdown)


@command(bench, "sync")
@click.option("--flows", "sizes", type=click.IntRange(1000, 500_000), multiple=True, default=(100_000, 250_000),
              show_default=True, help="flows in the burst (repeatable)")
def bench_sync(ctx: click.Context, sizes: tuple[int, ...]) -> tuple[Any, str]:
    """Conntrack replication: hacore beside conntrackd, bursts of flows, lag, takeover to a complete table."""
    from hacore_lab import syncbench

    return _bench(lambda: syncbench.run(sizes, _progress), syncbench.markdown)


@command(bench, "takeover")
@click.option("--switchovers", type=click.IntRange(2, 200), default=20, show_default=True,
              help="switchovers per stack (back and forth)")
@click.option("--busy", is_flag=True, help="both CPUs kept busy by two spinning processes meanwhile")
@click.option("--realtime", type=click.Choice(["off", "fifo"]), default="off", show_default=True,
              help="both stacks at real-time priority (hacore: realtime, realtime_spare; keepalived: vrrp_rt_priority)")
def bench_takeover(ctx: click.Context, switchovers: int, busy: bool, realtime: str) -> tuple[Any, str]:
    """Decision to first GARP/NA round, per step: hacore beside keepalived."""
    from hacore_lab import takeoverbench

    return _bench(lambda: takeoverbench.run(switchovers, _progress, busy, realtime == "fifo"), takeoverbench.markdown)


@command(bench, "memory")
@click.option("--flows", type=click.IntRange(1000, 250_000), default=50_000, show_default=True,
              help="flows the spare holds at the last moment measured")
def bench_memory(ctx: click.Context, flows: int) -> tuple[Any, str]:
    """Resident memory of the daemons: hacore beside keepalived and conntrackd, idle, synced, with a table."""
    from hacore_lab import membench

    return _bench(lambda: membench.run(flows, _progress), membench.markdown)


@command(bench, "adverts")
@click.option("--delay", "delays", type=click.FloatRange(UTD_MIN_WITHOUT_RT_S, 2.0), multiple=True,
              default=(0.1, 0.03), show_default=True, help="UPDATE_TRIGGER_DELAY of the soak cases (repeatable)")
@click.option("--soak-seconds", type=click.FloatRange(10, 3600), default=120, show_default=True,
              help="length of each soak case")
@click.option("--interval-seconds", type=click.FloatRange(5, 3600), default=30, show_default=True,
              help="length of each interval-error case")
@click.option("--junk-seconds", type=click.FloatRange(5, 3600), default=30, show_default=True,
              help="length of each junk-VRRP case")
@click.option("--floor-seconds", type=click.FloatRange(10, 3600), default=600, show_default=True,
              help="length of each detection-floor case (0.01 s with real-time priority, 0.03 s without, "
                   "keepalived at its floor)")
@click.option("--part", "parts", type=click.Choice(["interval", "soak", "junk", "floor"]), multiple=True,
              default=("interval", "soak", "junk"), show_default=True, help="which parts to run (repeatable)")
@click.option("--floor-load", "floor_loads", type=click.Choice(FLOOR_LOADS), multiple=True, default=FLOOR_LOADS,
              show_default=True, help="the detection floor's loads (repeatable)")
@click.option("--floor-stack", "floor_stacks", type=click.Choice(FLOOR_STACKS), multiple=True,
              default=FLOOR_STACKS, show_default=True, help="the detection floor's stacks (repeatable)")
def bench_adverts(ctx: click.Context, delays: tuple[float, ...], soak_seconds: float, interval_seconds: float,
                  junk_seconds: float, floor_seconds: float, parts: tuple[str, ...], floor_loads: tuple[str, ...],
                  floor_stacks: tuple[str, ...]) -> tuple[Any, str]:
    """Advert interval error and false failovers under load: hacore beside keepalived and the loop sender."""
    from hacore_lab import advertbench

    items = advertbench.plan(delays, soak_seconds, interval_seconds, junk_seconds, parts, floor_seconds,
                             floor_loads, floor_stacks)
    _progress(f"{len(items)} cases, about {sum(s for _, s in items) / 60 + len(items) * 0.2:.0f} minutes")
    return _bench(lambda: advertbench.run(items, _progress), advertbench.markdown)


@command(lab, "demo")
@name_option
@click.option("--delay", "delay_s", type=click.FloatRange(UTD_MIN_S, UTD_MAX_S), default=2.0, show_default=True,
              help="UPDATE_TRIGGER_DELAY in seconds")
@realtime_option
@click.option("--keep", is_flag=True, help="leave the lab up afterwards")
def lab_demo(ctx: click.Context, name: str, delay_s: float, realtime: str, keep: bool) -> tuple[Any, str]:
    """Form the cluster, fail the master under traffic, show the outage and the TCP stream."""
    if delay_s < UTD_MIN_WITHOUT_RT_S and realtime == "off":
        raise Failure(f"--delay {delay_s:g} needs --realtime fifo (below {UTD_MIN_WITHOUT_RT_S:g} s the sender "
                      "must run at real-time priority)")
    the_lab = Lab(name)
    if netns.own_namespaces(the_lab):
        _progress(f"removing an earlier lab {name}")
        netns.down(the_lab)
    try:
        report = demo.run(the_lab, delay_s, _progress, _timing(realtime))
    except (netns.LabError, TimeoutError) as exc:
        raise Failure(str(exc)) from None
    finally:
        if not keep:
            _progress("removing the lab")
            netns.down(the_lab)
    return report, demo.text(report)
