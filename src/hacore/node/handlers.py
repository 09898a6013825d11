"""The daemon's answers to the control requests (hacore.control.schema): one
method per command, each given the caller's name.

Rules: a request is refused in one line (Refused) before anything
changes; every change of the running configuration goes through the
daemon's apply_text (validated, kept as a revision, applied live or by a
restart, rolled back on failure); slow work (fsync, SSH) runs off the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from hacore.config import wizard
from hacore.config.model import Realtime
from hacore.config.parse import ConfigError, digest, parse, to_dict
from hacore.config.store import diff_texts, set_value
from hacore.config.tomledit import rewrite
from hacore.config.validate import check, check_update_trigger_delay, vrid_moves
from hacore.configsync.exchange import SyncError
from hacore.configsync.service import ConfigSync
from hacore.configsync.sshkeys import SshKeyError
from hacore.control.server import Refused
from hacore.effects.services import Services
from hacore.node.info import cluster_info
from hacore.node.running import Running
from hacore.support import hostfacts, statefile
from hacore.support.logfmt import log
from hacore.vrrp.machine import Role

logger = logging.getLogger("hacore.daemon")
EXTC_VARIABLES = {"UPDATE_TRIGGER_DELAY": ("cluster", "update_trigger_delay_s")}
HANDOVER_WAIT_S = 8.0  # maintenance set 1 answers within this (the control client waits 10 s)
DECIMAL = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$")  # plain decimal seconds: no signs, exponents, _ or words


class Handlers:
    def __init__(self, running: Running, configsync: ConfigSync, facts: Callable[[], dict[str, Any]]):
        self.r = running
        self.sync = configsync
        self.facts = facts  # what only the daemon knows, for `cluster info`

    def table(self) -> dict[str, Callable[..., Any]]:
        """Command name (hacore.control.schema) -> handler."""
        return {
            "info": self.info,
            "history": self.history,
            "services": self.services,
            "maintenance.set": self.maintenance_set,
            "cluster.enable": self.cluster_enable,
            "interface.set": self.interface_set,
            "wizard.apply": self.wizard_apply,
            "extc.get": self.extc_get,
            "extc.set": self.extc_set,
            "config.save": self.config_save,
            "config.list": self.config_list,
            "config.load": self.config_load,
            "config.rollback": self.config_rollback,
            "config.diff": self.config_diff,
            "config.sync": self.config_sync,
            "config.sync_state": self.config_sync_state,
            "sshkey.generate": self.sshkey_generate,
            "sshkey.show": self.sshkey_show,
            "sshkey.set_remote": self.sshkey_set_remote,
        }

    def info(self, who: str) -> dict[str, Any]:
        return cluster_info(self.r.cfg, self.r.node, self.facts())

    async def maintenance_set(self, who: str, value: str, force: bool = False) -> dict[str, Any]:
        on = value == "1"
        node = self.r.node
        if node is None or node.election.machine is None:
            raise Refused("maintenance needs the cluster to be running")
        m = node.election.machine
        refusal = node.maintenance_refusal() if on else ""
        if refusal and not force:  # the machine's rule: a master hands the VIPs only to a healthy backup
            raise Refused(f"maintenance refused: {refusal}; "
                               "--force sets it anyway: the VIPs stay here until a peer can take them")
        runtime = self.r.runtime() | {"maintenance": on}
        await asyncio.to_thread(statefile.save, self.r.state_dir / "runtime.json", runtime)
        if m.maintenance != on:
            log(logger, "maintenance", on=on, who=who, forced=force)
            node.set_maintenance(on)
        out: dict[str, Any] = {"maintenance": on}
        if on and refusal:  # forced: nobody can take the VIPs now, so waiting would tell nothing
            out |= {"handed_over": m.role == Role.BACKUP, "why_not": refusal}
        elif on:  # the seed's OK means handed over: wait for it, within a control request's time
            t0 = time.monotonic()
            out["handed_over"] = await node.wait_role(Role.BACKUP, HANDOVER_WAIT_S)
            out["waited_ms"] = round((time.monotonic() - t0) * 1e3, 1)
        return out | {"cluster_state": str(m.role)}

    async def cluster_enable(self, who: str, value: str, force: bool = False) -> dict[str, Any]:
        """The seed's Cluster On/Off, kept in the start configuration (shared: synchronize it, or set it on
        both nodes, as the seed says). Off hands the VIPs over first, like any restart of the election, and
        only to a peer that can take them (the machine's rule, as for maintenance)."""
        on = value == "1"
        if self.r.cfg.cluster.enabled == on:
            return {"enabled": on, "how": "nothing to change"}
        refusal = self.r.node.maintenance_refusal() if not on and not force and self.r.node is not None else ""
        if refusal:
            raise Refused(f"cluster off refused: {refusal}; --force turns it off anyway: the VIPs go with it")
        why = f"cluster {'on' if on else 'off'}"
        await self.r.apply_text(set_value(self.r.text, ("cluster", "enabled"), on), who, why)
        return {"enabled": on, "how": self.r.last_apply}

    def history(self, who: str) -> list[dict[str, Any]]:
        return self.r.history.entries()

    def services(self, who: str) -> list[dict[str, Any]]:
        if self.r.node is not None:
            return self.r.node.services_view()
        return Services(self.r.cfg).view()  # not running: what is configured, nothing known of its state

    def _extc_path(self, variable: str) -> tuple[str, ...]:
        path = EXTC_VARIABLES.get(variable.upper())
        if path is None:
            raise Refused(f"unknown variable {variable!r} (known: {', '.join(EXTC_VARIABLES)})")
        return path

    def extc_get(self, who: str, variable: str) -> dict[str, Any]:
        section, key = self._extc_path(variable)
        return {"variable": variable.upper(), "value": getattr(getattr(self.r.cfg, section), key)}

    async def extc_set(self, who: str, variable: str, value: str) -> dict[str, Any]:
        path = self._extc_path(variable)
        if not DECIMAL.match(value):
            raise Refused(f"{variable.upper()}: not a plain decimal number of seconds: {value!r}")
        seconds = float(value)
        c = self.r.cfg.cluster
        problems = check_update_trigger_delay(seconds, c.auth, variable.upper(), c.delay_warn_below_s,
                                              self.r.cfg.node.timing.realtime != Realtime.OFF)
        if any(not p.warning for p in problems):
            raise Refused(str(problems[0]))
        # The one path of every change: fed to the machine alone, the node kept the old delay for its hotwire
        # status and the freshness of the peer's (maintenance refused, the key-mismatch guard blind).
        await self.r.apply_text(set_value(self.r.text, path, seconds), who, f"extc set {variable.upper()}")
        return {"variable": variable.upper(), "value": seconds, "warnings": [str(p) for p in problems]}

    async def interface_set(self, who: str, name: str, flags: str) -> dict[str, Any]:
        """The seed's `interface set name IF flags "..."`: the interface's flags in the start configuration,
        applied as any change is (validated first, the replaced file kept, live). An interface hacore did
        not list yet is added with these flags."""
        wanted = sorted(set(re.split(r"[\s,|]+", flags.strip())) - {""})
        data = to_dict(parse(self.r.text))
        entry = next((i for i in data["interfaces"] if i["name"] == name), None)
        if entry is None:
            data["interfaces"].append({"name": name, "flags": wanted})
        else:
            entry["flags"] = wanted
        await self.r.apply_text(rewrite(self.r.text, data), who, f"interface set {name} flags")
        return {"name": name, "flags": wanted, "how": self.r.last_apply}

    async def wizard_apply(self, who: str, answers: str, dry_run: bool = False) -> dict[str, Any]:
        """The set-up wizard on a running node (the console's): its answers over the running configuration,
        each step checked as `hacore cluster wizard` checks it (one implementation, hacore.config.wizard),
        then the file it makes applied as any change is, and this node's SSH key made if it has none (as the
        CLI's wizard does: the next step is exchanging keys). dry_run: the file, nothing applied."""
        try:
            a = wizard.answers_from(json.loads(answers), wizard.from_config(self.r.cfg))
        except ValueError as exc:
            raise Refused(f"the wizard's answers: {exc}") from None
        interfaces, units = await asyncio.to_thread(lambda: (hostfacts.interfaces(), hostfacts.units()))
        host = wizard.Host(interfaces, units, self.r.text, frozenset(
            v for h in self.r.cfg.cluster.ha_interfaces for v in h.vips))
        refusal = wizard.problems(a, host)
        if refusal:
            raise Refused(refusal)
        text = wizard.text(a, host)
        if dry_run:
            return {"text": text, "diff": diff_texts(self.r.text, text, "running", "the wizard's")}
        await self.r.apply_text(text, who, "the wizard" + (" (spare)" if a.spare else ""))
        out = {"text": text, "how": self.r.last_apply}
        if not self.sync.keys.private.exists():
            out |= await self.sshkey_generate(who)
        return out

    async def config_save(self, who: str, name: str) -> dict[str, Any]:
        entry = await asyncio.to_thread(self.r.store.save, name, self.r.text, who)
        log(logger, "config_saved", name=name, who=who, digest=entry.digest[:12])
        return {"name": name, "digest": entry.digest[:12], "when": entry.when}

    async def config_list(self, who: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.r.store.list)

    async def config_load(self, who: str, name: str, why: str = "") -> dict[str, Any]:
        text = await asyncio.to_thread(self.r.store.text, name)
        cfg, warnings = await asyncio.to_thread(check, text)  # raises with every problem: nothing changes
        moves = vrid_moves(self.r.cfg, cfg)
        if moves and self.r.node is not None:
            raise ConfigError(moves)
        cfg = await self.r.apply_text(text, who, why or f"config load {name}")
        await asyncio.to_thread(self.r.store.record_load, name, who, cfg)
        return {"name": name, "digest": digest(self.r.cfg)[:12], "how": self.r.last_apply,
                "warnings": [str(w) for w in warnings]}

    async def config_rollback(self, who: str, revision: str | None = None) -> dict[str, Any]:
        revs = await asyncio.to_thread(self.r.store.revisions)
        if not revs:
            raise Refused("no revision to go back to: nothing has replaced the start configuration yet")
        name = f"@{(revision or str(revs[-1].rev)).lstrip('@')}"
        return await self.config_load(who, name, f"config rollback to {name}")

    def config_diff(self, who: str, a: str | None = None, b: str | None = None) -> dict[str, Any]:
        return {"a": a, "b": b, "diff": self.r.store.diff(a, b)}

    async def config_sync(self, who: str, dry_run: bool = False, force: bool = False) -> dict[str, Any]:
        try:
            reply = await self.sync.push(who, dry_run, force)
        except SyncError as exc:
            raise Refused(str(exc)) from None
        if not dry_run and self.r.node is not None:
            self.r.node.keys.peer_has_keys()  # it runs this node's configuration, keys included
        return reply

    async def config_sync_state(self, who: str) -> dict[str, Any]:
        await self.sync.ensure_server()
        return await self.sync.refresh()

    async def sshkey_generate(self, who: str, type: str = "ed25519", force: bool = False) -> dict[str, Any]:
        comment = f"hacore@{self.r.cfg.node.name or 'node'}"
        try:
            line = await asyncio.to_thread(self.sync.keys.generate, type, comment, force)
        except SshKeyError as exc:
            raise Refused(str(exc)) from None
        log(logger, "ssh_key_generated", type=type, who=who)
        await self.sync.ensure_server()
        return {"public_key": line}

    def sshkey_show(self, who: str) -> dict[str, Any]:
        try:
            return {"public_key": self.sync.keys.show()}
        except SshKeyError as exc:
            raise Refused(str(exc)) from None

    async def sshkey_set_remote(self, who: str, key: str) -> dict[str, Any]:
        try:
            fingerprint = await asyncio.to_thread(self.sync.keys.set_remote, key)
        except SshKeyError as exc:
            raise Refused(str(exc)) from None
        log(logger, "ssh_remote_key_set", fingerprint=fingerprint, who=who)
        return {"remote_fingerprint": fingerprint}
