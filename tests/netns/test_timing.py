"""Advert timing under load, as behaviour (issue 9): the sender thread and its lease, the receive
filters, the scheduling opt-ins, and their counters in `cluster info`. No timing thresholds here: how
late and how steady is measured in bench/ (hacore bench adverts)."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hacore_lab import faults, netns
from hacore_lab.topology import REALTIME, SERVER, Lab
from hacore_lab.wait import wait_until
from tests.conftest import is_root, need
from tests.netns.conftest import Cleanup, drops_seen, hacore, info, roles

REPO = Path(__file__).parents[2]


def _forge(lab: Lab, *args: str, src: str = "198.51.100.1") -> None:
    subprocess.run(netns.exec_argv(lab, "router", [sys.executable, "-m", "tests.netns.forge", "--src", src, *args]),
                   cwd=REPO, check=True, timeout=60)


def test_the_sender_thread_seals_adverts_leases_and_ends_with_priority_zero(cleanup: Cleanup) -> None:
    need(is_root(), "network namespaces need root")
    ns = f"hacore-sndr{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    cleanup.add(f"namespace {ns}", lambda: subprocess.run(["ip", "netns", "del", ns], check=True))
    subprocess.run(["ip", "-n", ns, "-batch", "-"], check=True, text=True, input="\n".join([
        "link add name snd0 type veth peer name snd1", "addr add 192.0.2.1/24 dev snd0",
        "addr add 192.0.2.2/24 dev snd1",
        "link set snd0 up", "link set snd1 up"]) + "\n")
    # Both ends are in one namespace: snd1 must accept packets from snd0's (local) source address.
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.all.accept_local=1",
                    "net.ipv4.conf.snd1.accept_local=1", "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.snd1.rp_filter=0"], check=True)
    out = json.loads(subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "tests.netns.senderprobe"],
                                    cwd=REPO, capture_output=True, text=True, timeout=60, check=True).stdout)
    assert out["tid_running"] and out["threads_while_running"] == 1
    # Nothing goes out before the counter reserve is persisted.
    assert out["before_persisted"]["received"] is False and out["before_persisted"]["counter_exhausted"] >= 1
    assert out["new_priority_first"] == 150  # a new priority goes out at once
    assert out["after_lease"] == {"sent": 0, "received": 0}  # a lapsed lease is silence
    assert out["stats"]["lease_expiries"] == 1
    assert out["last_priority"] == 0 and out["priorities"] == [0, 100, 150]
    assert out["verdicts"] == [0]  # every advert the thread sealed verifies with the Python HMAC and counter
    assert out["tos"] == [0xC0] and out["ttl"] == [255]  # DSCP CS6, as keepalived marks its adverts
    assert out["threads_after_stop"] == 0 and out["counter_last_above_base"]
    assert out["stats"]["send_errors"] == 0 and sum(out["stats"]["late_histogram"].values()) == out["stats"]["wakeups"]


def test_the_tc_program_counts_adverts_and_drops_forgeries_by_reason(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    rx = info(lab, "node2")["advert_rx"]
    need(rx["path"] == "bpf", f"the BPF receive filter is not in force: {rx['reason']}")
    assert rx["tc_links"] == ["lan1", "lan2"]
    # Compiled in a child: the daemon holds the program by descriptor, never bcc or its LLVM.
    maps = Path(f"/proc/{netns.recorded_pids(lab)['node2']}/maps").read_text()
    assert "libbcc" not in maps and "LLVM" not in maps

    def passed() -> dict[str, int]:
        return info(lab, "node2")["advert_rx"]["passed"]

    wait_until(lambda: passed().get("lan1 vrid 50", 0) > 0 and passed().get("lan2 vrid 51", 0) > 0, 10,
               what="the master's adverts counted as passed on both links")
    _forge(lab, "--ttl", "254", "--trailer", "24", "--count", "3", "--interval", "0.01")
    _forge(lab, "--trailer", "24", "--ifname", "eth0", "--count", "3", "--interval", "0.01", src=SERVER)
    wait_until(lambda: drops_seen(lab, "node2", "lan1").get("bad_ttl", 0) >= 3
               and drops_seen(lab, "node2", "lan1").get("stranger", 0) >= 3, 10,
               what="TTL 254 and a stranger's source dropped by the tc program")
    own = info(lab, "node2")["drops"].get("lan1", {})
    assert own.get("bad_ttl", 0) == 0 and own.get("stranger", 0) == 0  # they never reached the socket
    assert roles(lab) == ("master", "backup")
    data = json.loads(hacore(lab, "node2", "cluster", "info", "--json").stdout)
    sender = data["advert_sender"]
    assert {"sent", "send_errors", "worst_late_us", "late_histogram", "lease_expiries", "tid"} <= set(sender)
    assert sender["scheduling"] == {"realtime": "off (not configured)", "nice": "-20",
                                    "cpu_affinity": "any CPU (not configured)"}
    assert os.getpriority(os.PRIO_PROCESS, sender["tid"]) == -20  # the sender thread alone:
    pid = netns.recorded_pids(lab)["node2"]
    assert os.getpriority(os.PRIO_PROCESS, pid) == 0  # the loop stays at 0
    # ... but the daemon's autogroup (its own session's) asks for the largest share between sessions
    if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1":
        group = Path(f"/proc/{pid}/autogroup").read_text().strip()
        assert group.endswith(" nice -20") and data["scheduling_group"] == group
    else:
        assert data["scheduling_group"].startswith("off (the kernel's autogroups are off")
    assert data["loop_lateness"]["samples"] > 0
    master = info(lab, "node1")["advert_sender"]
    assert master["sending"] and master["sent"] > 0 and master["send_errors"] == 0
    netns.stop_daemon(lab, "node2")
    left = netns.run_in(lab, "node2", ["tc", "filter", "show", "dev", "lan1", "ingress"]).stdout
    assert "hacore_rx" not in left  # its own filter goes with the daemon


def test_a_daemon_restarted_after_kill_9_takes_back_its_tc_program(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    need(info(lab, "node2")["advert_rx"]["path"] == "bpf", "the BPF receive filter is not in force")
    netns.stop_daemon(lab, "node2", signal.SIGKILL)  # no chance to remove its filter
    left = netns.run_in(lab, "node2", ["tc", "filter", "show", "dev", "lan1", "ingress"]).stdout
    assert "hacore_rx" in left
    netns.start_daemon(lab, "node2")

    def rx() -> dict[str, Any]:
        return info(lab, "node2")["advert_rx"]

    # The dead daemon's filter is replaced by the new one's, whose counters it reads.
    wait_until(lambda: rx()["tc_links"] == ["lan1", "lan2"] and rx()["passed"].get("lan1 vrid 50", 0) > 0, 10,
               what="the restarted daemon's tc program attached and counting")
    assert "problems" not in rx()
    wait_until(lambda: roles(lab) == ("master", "backup"), 10, what="node1 master, node2 backup again")


@pytest.mark.parametrize(("mode", "path"), [("socket", "socket-filter"), ("none", "raw-socket")])
def test_each_fallback_receive_path_elects_and_fails_over(make_cluster: Callable[..., Lab], mode: str,
                                                          path: str) -> None:
    lab = make_cluster(timing=f'receive_filter = "{mode}"')
    assert info(lab, "node2")["advert_rx"]["path"] == path
    auth_before = info(lab, "node2")["drops"].get("lan1", {}).get("bad_auth", 0)
    _forge(lab, "--ttl", "64", "--trailer", "24", "--count", "5", "--interval", "0.01")
    _forge(lab, "--trailer", "24", "--ifname", "eth0", "--count", "5", "--interval", "0.01", src=SERVER)
    _forge(lab, "--trailer", "24", "--count", "5", "--interval", "0.01")  # these pass any filter
    passed = 5 if mode == "socket" else 10  # the stranger's adverts reach the socket only without a filter
    wait_until(lambda: info(lab, "node2")["drops"].get("lan1", {}).get("bad_auth", 0) >= auth_before + passed, 10,
               what="the forged adverts that reach the socket refused by the daemon")
    # Sent earlier on the same path: had more reached the socket, they were counted by now.
    drops = info(lab, "node2")["drops"].get("lan1", {})
    assert drops.get("bad_auth", 0) == auth_before + passed
    assert drops.get("bad_ttl", 0) == (0 if mode == "socket" else 5)
    netns.stop_daemon(lab, "node1")
    wait_until(lambda: info(lab, "node2")["cluster_state"] == "master", 10, what="node2 takes over")


def test_realtime_affinity_and_locked_memory_are_applied_and_shown(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster(timing='receive_filter = "socket"\nrealtime = "fifo"\nrealtime_priority = 20\n'
                              'cpu_affinity = [0]\nlock_memory = true')
    data = info(lab, "node1")
    tid = data["advert_sender"]["tid"]
    assert data["advert_sender"]["scheduling"] == {"realtime": "fifo priority 20", "cpu_affinity": "0"}
    assert os.sched_getscheduler(tid) == os.SCHED_FIFO and os.sched_getparam(tid).sched_priority == 20
    assert os.sched_getaffinity(tid) == {0}
    assert data["memory_lock"].startswith("locked")
    pid = netns.recorded_pids(lab)["node1"]
    status = Path(f"/proc/{pid}/status").read_text()
    assert int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmLck:"))) > 0
    assert os.sched_getscheduler(pid) == os.SCHED_OTHER  # the daemon's loop itself stays ordinary


_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207


def test_a_wedged_control_plane_lets_the_lease_lapse_and_the_peer_take_over(
        make_cluster: Callable[..., Lab], cleanup: Cleanup) -> None:
    lab = make_cluster()
    pid = netns.recorded_pids(lab)["node1"]
    # Stop only the daemon's main thread (the asyncio loop): the sender thread runs on, as in a real wedge.
    if _libc.ptrace(PTRACE_SEIZE, pid, None, None) != 0:
        need(False, f"ptrace refused: errno {ctypes.get_errno()}")
    cleanup.add("thaw node1", lambda: _libc.ptrace(PTRACE_DETACH, pid, None, None))
    assert _libc.ptrace(PTRACE_INTERRUPT, pid, None, None) == 0
    os.waitpid(pid, 0x40000000)  # __WALL: the main thread has stopped
    wait_until(lambda: info(lab, "node2")["cluster_state"] == "master", 15,
               what="node2 takes over from a master whose loop is wedged")
    assert "peer timeout" in hacore(lab, "node2", "cluster", "history").stdout
    assert _libc.ptrace(PTRACE_DETACH, pid, None, None) == 0
    wait_until(lambda: info(lab, "node1")["advert_sender"]["lease_expiries"] >= 1, 10,
               what="node1's sender to report the lapsed lease")


def test_a_spare_starting_beside_a_live_master_at_the_floor_never_takes_the_vips(
        make_cluster: Callable[..., Lab]) -> None:
    """At 0.01 s a starting spare read the master's first adverts late, the oldest first, timed the live
    master out on them and took the VIPs for a moment - at every start."""
    lab = make_cluster(delay_s=0.01, timing=REALTIME)
    for sig in (signal.SIGTERM, signal.SIGKILL):  # a planned restart, then a crash
        netns.stop_daemon(lab, "node2", sig)
        netns.start_daemon(lab, "node2")
        wait_until(lambda: info(lab, "node2")["cluster_state"] == "backup", 10, what="node2 backup again")
    def history(node: str) -> list[str]:
        return [e["new"] for e in json.loads(hacore(lab, node, "cluster", "history", "--json").stdout)]

    assert history("node2") == ["backup"] * 3  # three starts, never master
    assert history("node1") == ["backup", "master"] and roles(lab) == ("master", "backup")  # never yielded


def _rx_queues(lab: Lab, node: str) -> list[tuple[int, int]]:
    """(bytes queued, datagrams dropped) of each advert receive socket (VRRP, bound to no address) of node."""
    raw = netns.run_in(lab, node, ["cat", "/proc/net/raw", "/proc/net/raw6"]).stdout.splitlines()
    rows = [line.split() for line in raw if line.split() and line.split()[0].endswith(":")]
    rx = [r for r in rows if r[1].endswith(":0070") and set(r[1].split(":")[0]) == {"0"}]  # protocol 112
    return [(int(r[4].split(":")[1], 16), int(r[-1])) for r in rx]


def test_a_spare_held_up_beside_a_live_master_finds_the_newest_adverts(
        make_cluster: Callable[..., Lab], cleanup: Cleanup) -> None:
    """A spare whose loop was held up longer than its sockets' default buffer lasts (about 255 adverts at
    0.01 s) found them full of the oldest, the newest dropped, and took the VIPs from a live master."""
    lab = make_cluster(delay_s=0.01, timing=REALTIME)
    pid = netns.recorded_pids(lab)["node2"]
    os.kill(pid, signal.SIGSTOP)
    cleanup.add("thaw node2", lambda: os.kill(pid, signal.SIGCONT))
    wait_until(lambda: min(q for q, _ in _rx_queues(lab, "node2")) > 400_000, 20,
               what="node2's advert sockets to hold more than the default buffer (212,992 bytes)")
    os.kill(pid, signal.SIGCONT)
    wait_until(lambda: max(q for q, _ in _rx_queues(lab, "node2")) < 100_000, 20, what="node2 to read them")
    assert [d for _, d in _rx_queues(lab, "node2")] == [0] * 4  # lan1 and lan2, IPv4 and IPv6: none dropped
    history = [e["new"] for e in json.loads(hacore(lab, "node2", "cluster", "history", "--json").stdout)]
    assert history == ["backup"] and roles(lab) == ("master", "backup")


def test_the_spare_s_conntrack_writer_shares_its_loop_s_real_time_priority(make_cluster: Callable[..., Lab]) -> None:
    """The writer takes the GIL; at normal priority, preempted while holding it, it held the real-time loop up."""
    lab = make_cluster(timing=REALTIME)
    netns.run_in(lab, "node1", [sys.executable, "-m", "hacore_lab.ctfill", "--count", "100"])
    wait_until(lambda: info(lab, "node2")["spare_loop"]["helper_tids"], 15,
               what="node2's conntrack writer to start and join the spare loop")
    pid = netns.recorded_pids(lab)["node2"]
    writers = info(lab, "node2")["spare_loop"]["helper_tids"]
    assert len(writers) == 1 and Path(f"/proc/{pid}/task/{writers[0]}").exists()
    assert os.sched_getscheduler(writers[0]) & ~os.SCHED_RESET_ON_FORK == os.SCHED_FIFO
    assert os.sched_getparam(writers[0]).sched_priority == os.sched_getparam(pid).sched_priority
    netns.stop_daemon(lab, "node1", signal.SIGKILL)
    wait_until(lambda: info(lab, "node2")["cluster_state"] == "master", 15, what="node2 to take over")

    def normal_or_ended() -> bool:
        try:
            return os.sched_getscheduler(writers[0]) == os.SCHED_OTHER
        except ProcessLookupError:
            return True  # the writer of a spare ends with it

    wait_until(lambda: normal_or_ended() and not info(lab, "node2")["spare_loop"]["helper_tids"], 10,
               what="the writer to leave real-time priority with the loop (no longer the spare)")


def test_a_spare_without_the_hotwire_waits_for_its_table_without_spinning(make_cluster: Callable[..., Lab]) -> None:
    """A backup that has not heard the master's sync asks every 100 ms; between requests its sync loop
    slept until a deadline long past and spun - at real-time priority the kernel's runaway limit caught it."""
    lab = make_cluster(timing=REALTIME)
    netns.stop_daemon(lab, "node2")
    faults.set_hotwire(lab, False)
    netns.start_daemon(lab, "node2")
    wait_until(lambda: info(lab, "node2")["sync"].get("resync_requests", 0) >= 5, 10,
               what="node2 to ask for the table five times (400 ms of waiting)")
    data = info(lab, "node2")
    assert data["cluster_state"] == "backup" and not data["sync"].get("complete")
    assert data["spare_loop"] == {"state": "fifo priority 9 (backup)", "runaway_demotions": 0, "helper_tids": []}


def test_the_advert_send_sockets_queue_nothing(make_cluster: Callable[..., Lab]) -> None:
    """The send sockets are never read; IPv6 ones got every VRRP multicast and their queues sat full."""
    lab = make_cluster()
    heard = info(lab, "node2")["adverts_rx"]
    wait_until(lambda: info(lab, "node2")["adverts_rx"] >= heard + 20, 15, what="node2 to hear 20 more adverts")
    raw = netns.run_in(lab, "node2", ["ss", "-H", "-w", "-a", "-n"]).stdout.splitlines()
    senders = [line.split() for line in raw if ":112 " in line and not line.split()[3].startswith(("0.0.0.0", "*"))]
    assert len(senders) == 4  # lan1 and lan2, IPv4 and IPv6, each bound to its source address
    assert [s[1] for s in senders] == ["0"] * 4, raw  # Recv-Q
