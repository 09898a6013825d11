"""conntrackd in the lab: the usual peer of hacore's conntrack sync (FTFW over
UDP on the same hotwire), driven by keepalived's notify scripts exactly as
conntrack-tools documents it (its primary-backup.sh), for side-by-side
benchmarks.

Rules: processes are bounded by the lab (`lab down` kills what runs in its
namespaces); configs, sockets and logs live in the lab's run directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from hacore_lab import netns
from hacore_lab.topology import NODE_ADDR, NODES, Lab
from hacore_lab.wait import wait_until

PORT = 3780  # the seed's conntrack port, on the hotwire, as hacore uses it


def config(lab: Lab, node: str) -> str:
    d = lab.node_dir(node)
    other = NODES[1 - NODES.index(node)]
    own = [a.split("/")[0] for addrs in NODE_ADDR[node].values() for a in addrs if ":" not in a]
    ignore = "\n".join(f"\t\t\tIPv4_address {a}" for a in ["127.0.0.1", *own])
    return f"""Sync {{
	Mode FTFW {{
		DisableExternalCache Off
		CommitTimeout 1800
		PurgeTimeout 5
	}}
	UDP {{
		IPv4_address {NODE_ADDR[node]["lan3"][0].split("/")[0]}
		IPv4_Destination_Address {NODE_ADDR[other]["lan3"][0].split("/")[0]}
		Port {PORT}
		Interface lan3
		SndSocketBuffer 1249280
		RcvSocketBuffer 1249280
		Checksum on
	}}
}}
General {{
	Systemd off
	HashSize 32768
	HashLimit 1048576
	LogFile {d / "conntrackd.log"}
	Syslog off
	LockFile {d / "conntrackd.lock"}
	UNIX {{
		Path {d / "conntrackd.ctl"}
		Backlog 20
	}}
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
	NetlinkOverrunResync On
	Filter From Kernelspace {{
		Protocol Accept {{
			TCP
			UDP
			ICMP
		}}
		Address Ignore {{
{ignore}
		}}
	}}
}}
"""


def notify_script(conf: Path) -> str:
    """conntrack-tools' primary-backup.sh, the documented keepalived integration, for this config."""
    c = f"conntrackd -C {conf}"
    return f"""#!/bin/sh
case "$1" in
  primary)
    {c} -c   # commit the external cache into the kernel table
    {c} -f   # flush the internal and the external caches
    {c} -R   # resynchronize the internal cache with the kernel table
    {c} -B   # send a bulk update to the backup
    ;;
  backup)
    {c} -n   # request a resync from the master
    ;;
  fault)
    {c} -t   # shorten kernel timers to remove zombies
    ;;
esac
exit 0
"""


class Conntrackd:
    """conntrackd in a node's namespace, with the notify script keepalived calls."""

    def __init__(self, lab: Lab, node: str):
        d = lab.node_dir(node)
        self.lab, self.node = lab, node
        self.conf, self.script, self.logfile = d / "conntrackd.conf", d / "conntrackd-notify.sh", d / "conntrackd.out"
        self.conf.write_text(config(lab, node))
        self.script.write_text(notify_script(self.conf))
        os.chmod(self.script, 0o700)
        with open(self.logfile, "wb") as log:
            self.proc = subprocess.Popen(netns.exec_argv(lab, node, ["conntrackd", "-C", str(self.conf)]),
                                         stdout=log, stderr=log, start_new_session=True)
        wait_until(lambda: self.ctl(["-s"]).returncode == 0, 10, what=f"conntrackd on {node}")

    def ctl(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return netns.run_in(self.lab, self.node, ["conntrackd", "-C", str(self.conf), *args], check=False)

    def external_cache(self) -> int:
        """Active entries in the external cache (what it received from the peer), from `-s`."""
        m = re.search(r"cache external:\s*\ncurrent active connections:\s*(\d+)", self.ctl(["-s"]).stdout)
        return int(m.group(1)) if m else 0

    def commit_seconds(self) -> float:
        """Time `conntrackd -c` takes to write the external cache into the kernel."""
        t0 = time.monotonic()
        self.ctl(["-c"])
        return time.monotonic() - t0
