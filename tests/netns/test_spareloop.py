"""The spare's election loop at real-time priority, against the real
scheduler: up only while backup and once the daemon has started, threads it starts at normal priority, and
dropped at once when it runs away (the kernel's RLIMIT_RTTIME signal)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import is_root, need

SCRIPT = r"""
import json, os, resource, threading, time
from hacore.config.model import Realtime, Timing
from hacore.node.spareloop import RUNAWAY_US, SpareLoop

def policy(tid):
    return os.sched_getscheduler(tid) & ~os.SCHED_RESET_ON_FORK

out = {"limit_before": resource.getrlimit(resource.RLIMIT_RTTIME)[0]}
starting = SpareLoop(Timing(realtime=Realtime.FIFO, realtime_priority=10, realtime_spare=True))
starting.start()
starting.follow(True)
out["backup_while_starting"] = policy(0)
starting.settled()
out["backup_once_started"] = policy(0)
starting.close()
loop = SpareLoop(Timing(realtime=Realtime.FIFO, realtime_priority=10, realtime_spare=True), settle_s=0)
loop.start()
loop.follow(False)
out["as_master"] = policy(0)
loop.follow(True)
out["as_backup"] = [policy(0), os.sched_getparam(0).sched_priority]
child = {}
t = threading.Thread(target=lambda: child.update(policy=policy(0)))
t.start(); t.join()
out["thread_started_by_it"] = child["policy"]
end = time.monotonic() + 3 * RUNAWAY_US / 1e6
while time.monotonic() < end and loop.demotions == 0:
    pass  # a runaway: CPU without a blocking call
out["after_runaway"] = [policy(0), loop.demotions, loop.info()["state"]]
loop.close()
out["limit_after_close"] = resource.getrlimit(resource.RLIMIT_RTTIME)[0]
print(json.dumps(out))
"""


def test_the_loop_is_real_time_only_as_backup_and_a_runaway_drops_it() -> None:
    need(is_root(), "real-time priority needs root (CAP_SYS_NICE)")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30, check=True)
    out = json.loads(proc.stdout)
    assert out["backup_while_starting"] == os.SCHED_OTHER  # the start's one-off work is no loop turn
    assert out["backup_once_started"] == os.SCHED_FIFO  # up as soon as the daemon says it has started
    assert out["as_master"] == os.SCHED_OTHER
    assert out["as_backup"] == [os.SCHED_FIFO, 9]  # one below the sender's priority 10
    assert out["thread_started_by_it"] == os.SCHED_OTHER  # SCHED_RESET_ON_FORK: not inherited
    policy, demotions, state = out["after_runaway"]
    assert (policy, demotions) == (os.SCHED_OTHER, 1), state
    assert "demoted after 200 ms of CPU without blocking" in state, state
    assert out["limit_after_close"] == out["limit_before"]  # as it was: nothing left to signal a later runaway
