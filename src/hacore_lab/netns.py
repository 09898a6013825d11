"""Builds and removes the lab in the kernel: namespaces, veths, bridges, and
the processes started inside them.

Rules: everything made here carries the lab's name prefix and every PID is
recorded, so `down` removes it all, also after a crash (it finds leftovers
by prefix). Nothing is created in, or sent from, the host's own namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from hacore.control.protocol import ControlError, request
from hacore.support.atomic import atomic_write
from hacore_lab import firewall
from hacore_lab.topology import NODES, PREFIX, ROLES, Lab, batches, node_config, sysctls
from hacore_lab.wait import wait_until


class LabError(Exception):
    pass


def require_programs(*names: str) -> None:
    """A bench compares with its peers: one that is not installed fails it at once, rather than leaving a
    row empty or out (tools/setup.sh --peers installs every one)."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise LabError(f"not installed: {', '.join(missing)} (tools/setup.sh --peers installs them); "
                       "nothing measured")


def ip_cmd(args: list[str], stdin: str | None = None) -> str:
    proc = subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise LabError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def namespaces(prefix: str = PREFIX) -> list[str]:
    """Namespaces whose name starts with prefix (a lab's, or every lab's)."""
    out = ip_cmd(["netns", "list"])
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def own_namespaces(lab: Lab) -> list[str]:
    """The lab's namespaces by their exact names: never another lab's that shares the prefix."""
    mine = {lab.ns(role) for role in ROLES}
    return [ns for ns in namespaces(lab.prefix) if ns in mine]


def exec_argv(lab: Lab, role: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", lab.ns(role), *argv]


def run_in(lab: Lab, role: str, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(exec_argv(lab, role, argv), capture_output=True, text=True, check=False)
    if check and proc.returncode:
        raise LabError(f"{role}: {' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def up(lab: Lab, **variant: Any) -> None:
    """Build the lab; on any failure remove what was built and re-raise.

    variant: keyword arguments of topology.node_config for both nodes.
    """
    if own_namespaces(lab):
        raise LabError(f"lab {lab.name!r} already exists: `hacore lab down --name {lab.name}` first")
    try:
        lab.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        ip_cmd(["-batch", "-"], "".join(f"netns add {lab.ns(r)}\n" for r in ROLES))
        for role in ROLES:
            run_in(lab, role, ["sysctl", "-qw", *sysctls(role)])
        for ns, lines in batches(lab):
            ip_cmd(["-n", ns, "-batch", "-"], "\n".join(lines) + "\n")
        for node in NODES:
            d = lab.node_dir(node)
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(d / "hacore.toml", node_config(lab, node, **variant).encode())
            # Stateful, NATing firewalls from hacore's own table (conntrack is loaded by then: strict TCP next).
            run_in(lab, node, [sys.executable, "-m", "hacore_lab.firewall", "apply", str(d / "hacore.toml")])
            run_in(lab, node, ["sysctl", "-qw", *firewall.SYSCTLS])
    except BaseException:
        down(lab)
        raise


def _pids_path(lab: Lab) -> Path:
    return lab.run_dir / "pids.json"


def recorded_pids(lab: Lab) -> dict[str, int]:
    try:
        return json.loads(_pids_path(lab).read_text())
    except FileNotFoundError:
        return {}


def record_pid(lab: Lab, what: str, pid: int) -> None:
    """A process of the lab's (a daemon: its node's name), stopped by PID when the lab goes down."""
    atomic_write(_pids_path(lab), json.dumps(recorded_pids(lab) | {what: pid}).encode())


def start_daemon(lab: Lab, node: str, timeout_s: float = 20.0, env: dict[str, str] | None = None) -> int:
    """Start `hacore daemon` in node's namespace (env: added to this process's); returns once it answers."""
    d = lab.node_dir(node)
    log = open(d / "daemon.log", "ab")  # noqa: SIM115 - handed to the child
    argv = exec_argv(lab, node, [sys.executable, "-m", "hacore", "--socket", str(lab.socket(node)), "daemon",
                                 "-c", str(d / "hacore.toml"), "--state-dir", str(d / "state")])
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                            env={**os.environ, **(env or {})})
    log.close()
    record_pid(lab, node, proc.pid)

    def answers() -> bool:
        if proc.poll() is not None:
            raise LabError(f"{node}: daemon exited with {proc.returncode}; see {d / 'daemon.log'}")
        try:
            request(lab.socket(node), "info")
        except ControlError:
            return False
        return True

    wait_until(answers, timeout_s, what=f"{node} daemon to answer on {lab.socket(node)}")
    return proc.pid


def _is_ours(pid: int) -> bool:
    try:
        return b"hacore" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_daemon(lab: Lab, node: str, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
    pids = recorded_pids(lab)
    pid = pids.pop(node, None)
    if pid is not None and _is_ours(pid):
        os.kill(pid, sig)
        _reap(pid, timeout_s)
    atomic_write(_pids_path(lab), json.dumps(pids).encode())


def _gone(pid: int) -> bool:
    """True once pid has exited: reaped, or a zombie (an orphan waits for init to reap it)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _reap(pid: int, timeout_s: float) -> None:
    """Wait for pid to exit; SIGKILL it at the deadline."""
    try:
        wait_until(lambda: _gone(pid), timeout_s, what=f"process {pid} to exit")
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)


def down(lab: Lab | None) -> list[str]:
    """Remove a lab (or, with None, every hacore lab): processes, namespaces, files.

    Idempotent; returns what it removed.
    """
    removed: list[str] = []
    labs = [lab] if lab else [Lab(ns[len(PREFIX):].rsplit("-", 1)[0]) for ns in namespaces()]
    for one in dict.fromkeys(labs):
        for node, pid in recorded_pids(one).items():
            if _is_ours(pid):
                os.kill(pid, signal.SIGTERM)
                _reap(pid, 5.0)
                removed.append(f"process {pid} ({node})")
        for ns in own_namespaces(one):
            for pid in ip_cmd(["netns", "pids", ns]).split():
                os.kill(int(pid), signal.SIGKILL)
                removed.append(f"process {pid} (in {ns})")
            ip_cmd(["netns", "del", ns])
            removed.append(f"namespace {ns}")
        if one.run_dir.exists():
            shutil.rmtree(one.run_dir)
            removed.append(f"directory {one.run_dir}")
    return removed


def status(lab: Lab) -> dict[str, Any]:
    nss = own_namespaces(lab)
    daemons = {}
    for node in NODES:
        pid = recorded_pids(lab).get(node)
        daemons[node] = {"pid": pid if pid and _is_ours(pid) else None, "socket": str(lab.socket(node))}
    return {"lab": lab.name, "up": bool(nss), "namespaces": nss, "daemons": daemons}
