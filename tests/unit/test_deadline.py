"""The election's deadline timer (a timerfd on the loop): fires at the armed instant, once; re-armed or
disarmed, it calls nothing for the old instant."""

from __future__ import annotations

import asyncio
import select
import time

from hacore.support.deadline import Deadline


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def test_a_deadline_fires_once_and_a_disarmed_one_never() -> None:
    async def main() -> list[int]:
        fired: list[int] = []
        got = asyncio.Event()
        d = Deadline(asyncio.get_running_loop(), lambda: (fired.append(time.monotonic_ns() // 1000), got.set()))
        try:
            due = time.monotonic_ns() // 1000 + 2000
            d.arm(due)
            await asyncio.wait_for(got.wait(), 5)
            assert fired[0] >= due  # never early: the machine would find its deadline not yet reached
            assert not _readable(d.fd)  # read: quiet until armed again
            d.arm(1)  # long past: due at once
            assert _readable(d.fd)
            d.disarm()  # before the loop got to it
            assert not _readable(d.fd)
            d.arm(time.monotonic_ns() // 1000 + 3_600_000_000)  # an hour away, then moved to now
            d.arm(time.monotonic_ns() // 1000)
            got.clear()
            await asyncio.wait_for(got.wait(), 5)
        finally:
            d.close()
        return fired

    assert len(asyncio.run(main())) == 2
