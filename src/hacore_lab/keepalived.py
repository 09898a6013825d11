"""keepalived in the lab, for interop tests and side-by-side benchmarks.

Rules: processes are bounded by the lab (its namespaces are torn down by
`lab down`, which kills what runs in them); configs are written to the lab's
run directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from ipaddress import ip_interface

from hacore_lab import netns
from hacore_lab.topology import HA_VIPS, Lab


def config(version: int, priority: int, advert_int_s: float, links: tuple[str, ...] = ("lan1",),
           auth_pass: str = "", ipv6: bool = False, notify: str = "") -> str:
    """A keepalived.conf with one instance per HA link (VRID 50, 51, ...) in one sync group;
    notify: a script called with primary|backup|fault on the group's transitions (conntrackd's)."""
    auth = f"authentication {{\n  auth_type PASS\n  auth_pass {auth_pass}\n }}" if auth_pass else ""
    instances = ""
    for n, link in enumerate(links):
        vips = "\n  ".join(v for v in HA_VIPS[link] if ipv6 or ip_interface(v).version == 4)
        instances += f"""vrrp_instance HA{n} {{
 interface {link}
 state BACKUP
 virtual_router_id {50 + n}
 priority {priority}
 advert_int {advert_int_s:g}
 {auth}
 virtual_ipaddress {{
  {vips}
 }}
}}
"""
    hooks = "".join(f' notify_{k} "{notify} {v}"\n' for k, v in (("master", "primary"), ("backup", "backup"),
                                                                 ("fault", "fault"))) if notify else ""
    group = "vrrp_sync_group G {\n group {\n  " + "\n  ".join(
        f"HA{n}" for n in range(len(links))) + "\n }\n" + hooks + "}\n"
    defs = f"global_defs {{\n vrrp_version {version}\n script_user root\n enable_script_security\n}}\n"
    return defs + group + instances


class Keepalived:
    """keepalived running in a node's namespace."""

    def __init__(self, lab: Lab, node: str, conf: str):
        d = lab.node_dir(node)
        self.conf, self.pidfile, self.vrrp_pidfile = d / "keepalived.conf", d / "keepalived.pid", d / "vrrp.pid"
        self.logfile = d / "keepalived.log"
        self.conf.write_text(conf)
        with open(self.logfile, "wb") as log:
            self.proc = subprocess.Popen(netns.exec_argv(lab, node, [
                "keepalived", "-n", "-l", "-D", "-f", str(self.conf), "-p", str(self.pidfile),
                "-r", str(self.vrrp_pidfile)]), stdout=log, stderr=log, start_new_session=True)

    def log(self) -> str:
        return self.logfile.read_text()

    def kill(self) -> None:
        """SIGKILL the parent and its VRRP child, as a crash would."""
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.kill(int(self.vrrp_pidfile.read_text().split()[0]), signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, as an administrator's stop: keepalived resigns with priority 0 first."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
