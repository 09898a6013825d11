"""Applications that run only where they should: those the seed disables in
backup mode run on the master alone; a node in maintenance runs just the
applications configured for maintenance (seed, wizard step 4).

Rules: desired() is pure. A backend is a systemd unit (systemctl) or three
commands for systems without systemd; commands run as argv, never through a
shell, each bounded by a timeout, all applications side by side. A backend
that fails or hangs is reported per application and never stops the others.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass

from hacore.config.model import Application, Config
from hacore.effects.proc import run

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Backend:
    start: list[str]
    stop: list[str]
    status: list[str]  # exit 0: running

    @classmethod
    def of(cls, app: Application) -> Backend | None:
        if app.backend:
            return cls(["systemctl", "start", app.backend], ["systemctl", "stop", app.backend],
                       ["systemctl", "is-active", "--quiet", app.backend])
        if app.start:
            return cls(shlex.split(app.start), shlex.split(app.stop), shlex.split(app.status))
        return None


def desired(cfg: Config, master: bool, maintenance: bool) -> dict[str, bool]:
    """Application -> should it run here now; applications without a backend are not hacore's to run."""
    c = cfg.cluster
    out: dict[str, bool] = {}
    for app in cfg.applications:
        if Backend.of(app) is None:
            continue
        if not app.enabled:
            out[app.name] = False
        elif maintenance:
            out[app.name] = app.name in c.maintenance_services
        else:
            out[app.name] = master or app.name not in c.disabled_applications_in_backup
    return out


@dataclass
class AppState:
    name: str
    backend: str
    desired: bool | None  # None: not run by hacore (no backend)
    running: bool | None = None  # None: not known yet
    error: str = ""


class Services:
    def __init__(self, cfg: Config, timeout_s: float = TIMEOUT_S):
        self.cfg = cfg
        self.timeout_s = timeout_s
        self.states: dict[str, AppState] = {
            a.name: AppState(a.name, a.backend or ("commands" if a.start else "-"), None)
            for a in cfg.applications}

    async def apply(self, master: bool, maintenance: bool) -> list[str]:
        """Start and stop what differs; returns what changed, e.g. ["dhcp-server started"]."""
        want = desired(self.cfg, master, maintenance)
        apps = {a.name: a for a in self.cfg.applications}
        changed = await asyncio.gather(*(self._one(apps[n], w) for n, w in want.items()))
        return [c for c in changed if c]

    async def _one(self, app: Application, want: bool) -> str:
        backend = Backend.of(app)
        assert backend is not None
        st = self.states[app.name]
        st.desired = want
        rc, err = await run(backend.status, self.timeout_s)
        st.running = rc == 0
        if st.running == want:
            st.error = ""
            return ""
        rc, err = await run(backend.start if want else backend.stop, self.timeout_s)
        if rc:
            st.error = f"{'start' if want else 'stop'} failed ({rc}): {err}".rstrip(": ")
            return ""
        rc, _ = await run(backend.status, self.timeout_s)
        st.running = rc == 0
        st.error = "" if st.running == want else f"{'started' if want else 'stopped'}, but status says otherwise"
        return f"{app.name} {'started' if want else 'stopped'}" if not st.error else ""

    def view(self) -> list[dict[str, object]]:
        return [vars(s).copy() for s in self.states.values()]
