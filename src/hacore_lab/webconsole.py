"""`hacore lab up --web`: each node's web console, with a credential made for
this lab, started in the node's namespace beside its daemon.

Rules: the password is random per lab and kept in the lab's run directory
(0600) for `hacore lab status --json`; the console processes are recorded
with the daemons, so `hacore lab down` stops them by PID.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from hacore.support.atomic import atomic_write
from hacore.web import serve, users
from hacore_lab import netns
from hacore_lab.topology import NODE_ADDR, WEB_PORT, Lab
from hacore_lab.wait import wait_until

USER = "admin"


def _file(lab: Lab) -> Path:
    return lab.run_dir / "web.json"


def start(lab: Lab, node: str, session_idle_s: float = 900) -> dict[str, str]:
    d = lab.node_dir(node)
    password = secrets.token_urlsafe(12)
    users.set_password(serve.users_path(d / "state"), USER, password)
    log_path = d / "web.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(netns.exec_argv(lab, node, [
            sys.executable, "-m", "hacore", "--socket", str(lab.socket(node)), "web", "serve", "-c",
            str(d / "hacore.toml"), "--state-dir", str(d / "state"), "--session-idle", str(session_idle_s)]),
            stdin=subprocess.DEVNULL, stdout=log,
            stderr=log, start_new_session=True)
    netns.record_pid(lab, f"{node}-web", proc.pid)

    def listening() -> bool:
        if proc.poll() is not None:
            raise netns.LabError(f"{node}: the console exited with {proc.returncode}; see {log_path}")
        return b"event=web_listening" in log_path.read_bytes()

    wait_until(listening, 20, what=f"{node}'s console listening")
    url = f"https://{NODE_ADDR[node]['lan2'][0].split('/')[0]}:{WEB_PORT}/"
    known = status(lab) | {node: {"url": url, "user": USER, "password": password}}
    atomic_write(_file(lab), json.dumps(known).encode(), mode=0o600)
    return known[node]


def status(lab: Lab) -> dict[str, Any]:
    try:
        return json.loads(_file(lab).read_text())
    except (OSError, ValueError):
        return {}
