"""The steps of a takeover and a release, one reconciler each, with their
errors kept while they last: VIPs (per VIP), NAT, interfaces, services.

Rules: a step never raises; it returns whether it failed, logs a new error
once and keeps it until the step succeeds; failed VIPs are counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hacore.effects.ifaces import IfReconciler
from hacore.effects.nft import NftError, NftReconciler
from hacore.effects.services import Services
from hacore.effects.vips import Plan, VipReconciler
from hacore.support.counters import Schema, Spec
from hacore.support.logfmt import log

logger = logging.getLogger("hacore.takeover")
COUNTERS = Schema("effects", Spec("vip_failures", "failed attempts to add or remove a VIP", ("vip",)))


@dataclass
class Effects:
    """What follows the role besides the VIPs; steps without them move only addresses."""

    nft: NftReconciler
    ifaces: IfReconciler
    services: Services


class Steps:
    def __init__(self, vips: VipReconciler, effects: Effects | None):
        self.vips = vips
        self.effects = effects
        self.counters = COUNTERS.new()
        self.vip_errors: dict[str, str] = {}  # cidr -> the latest error, while it lasts
        self.step_errors: dict[str, str] = {}  # nat / interfaces / services -> the latest error, while it lasts
        self.interfaces: dict[str, str] = {}  # managed interface -> up / down / missing
        self.nat_rules = 0

    async def vips_to(self, master: bool) -> tuple[bool, Plan | None]:
        """(failed, what was done)."""
        try:
            done: Plan = await self.vips.apply(set(self.vips.owned) if master else set())
        except Exception as exc:  # netlink itself unusable: count every VIP, retry
            for vip in self.vips.owned:
                self._failed(vip.cidr, f"netlink: {exc}")
            return True, None
        return self.vip_result(done), done

    def vip_result(self, done: Plan) -> bool:
        failed = self.record_vips(done)
        self.log_vips(done)
        return failed

    def record_vips(self, done: Plan) -> bool:
        """A batch's errors kept per VIP, nothing logged (a takeover logs after its first round)."""
        for vip, error in done.failed.items():
            self._failed(vip.cidr, error)
        # Every VIP this pass did not report is where the role wants it: its old error is over.
        for cidr in set(self.vip_errors) - {v.cidr for v in done.failed}:
            del self.vip_errors[cidr]
        return bool(done.failed)

    def log_vips(self, done: Plan) -> None:
        if done or done.failed:
            log(logger, "vips", add=",".join(v.cidr for v in done.add) or "-",
                remove=",".join(v.cidr for v in done.remove) or "-",
                failed=",".join(v.cidr for v in done.failed) or "-")

    async def nat(self, master: bool) -> bool:
        if self.effects is None:
            return False
        try:
            res = await self.effects.nft.apply(master)
        except NftError as exc:
            return self._step_failed("nat", str(exc))
        self.nat_rules = res.rules
        if res.changed:
            log(logger, "nat_applied", rules=res.rules, master=master)
        if res.skipped:
            return self._step_failed("nat", "; ".join(res.skipped))
        self.step_errors.pop("nat", None)
        return False

    async def ifaces(self, master: bool) -> bool:
        if self.effects is None:
            return False
        try:
            res = await self.effects.ifaces.apply(master)
        except OSError as exc:
            return self._step_failed("interfaces", f"netlink: {exc}")
        self.interfaces = res.state
        if res.up or res.down:
            log(logger, "interfaces", up=",".join(res.up) or "-", down=",".join(res.down) or "-")
        if res.failed:
            return self._step_failed("interfaces", "; ".join(res.failed.values()))
        self.step_errors.pop("interfaces", None)
        return False

    async def services(self, master: bool, maintenance: bool) -> bool:
        if self.effects is None:
            return False
        svc = self.effects.services
        changed = await svc.apply(master, maintenance)
        if changed:
            log(logger, "services", changed=",".join(changed))
        errors = [f"{s.name}: {s.error}" for s in svc.states.values() if s.error]
        if errors:
            return self._step_failed("services", "; ".join(errors))
        self.step_errors.pop("services", None)
        return False

    def services_view(self) -> list[dict[str, object]]:
        """The applications that follow the master, each with its state (empty without effects)."""
        return self.effects.services.view() if self.effects is not None else []

    def forget_vips(self, keep: set[str]) -> None:
        """VIPs no longer configured: their errors go with them."""
        for cidr in [c for c in self.vip_errors if c not in keep]:
            del self.vip_errors[cidr]

    def _step_failed(self, step: str, error: str) -> bool:
        if self.step_errors.get(step) != error:
            log(logger, "step_failed", logging.ERROR, step=step, error=error, retry="with backoff")
        self.step_errors[step] = error
        return True

    def _failed(self, cidr: str, error: str) -> None:
        self.counters.inc("vip_failures", vip=cidr)
        if self.vip_errors.get(cidr) != error:
            log(logger, "vip_failed", logging.ERROR, vip=cidr, error=error, retry="with backoff")
        self.vip_errors[cidr] = error

    def info(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.effects is not None:
            out["nat_rules"] = self.nat_rules
            out["managed_interfaces"] = self.interfaces
            out["effect_errors"] = dict(self.step_errors)
        return out
