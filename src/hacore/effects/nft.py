"""Keeps hacore's nftables table as ruleset.render() says it must be.

Rules: observe (list the one table) -> compare -> replace the whole table in
one atomic batch only when it differs, so applying twice changes nothing and
a half-written table is never seen. libnftables blocks: every call runs on a
worker thread. Only the table hacore owns is listed, deleted or written.
"""

from __future__ import annotations

import asyncio
import contextlib
import pwd
import threading
from dataclasses import dataclass, field
from typing import Any

from hacore.config.model import Config
from hacore.effects import ruleset


class NftError(Exception):
    pass


@dataclass
class NftResult:
    changed: bool
    rules: int
    skipped: list[str] = field(default_factory=list)


def _uids(cfg: Config) -> dict[str, int]:
    out: dict[str, int] = {}
    for app in cfg.applications:
        if app.user:
            with contextlib.suppress(KeyError):  # render() says which application lost its rule
                out[app.user] = int(app.user) if app.user.isdigit() else pwd.getpwnam(app.user).pw_uid
    return out


class NftReconciler:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._lock = threading.Lock()  # one libnftables context, one caller at a time
        self._nft: Any = None

    def _ctx(self) -> Any:
        if self._nft is None:
            try:
                import nftables  # Debian's python3-nftables, through the venv's system site packages
            except ImportError as exc:
                raise NftError(f"the nftables Python binding is missing ({exc}): install python3-nftables") from None
            self._nft = nftables.Nftables()
        return self._nft

    def _cmd(self, cmds: list[dict[str, Any]]) -> Any:
        rc, out, err = self._ctx().json_cmd({"nftables": cmds})
        if rc:
            raise NftError(err.strip().splitlines()[0] if err.strip() else f"nftables failed ({rc})")
        return out

    def observe(self) -> ruleset.Rendered | None:
        """The table as the kernel has it; None if there is none."""
        with self._lock:
            try:
                out = self._cmd([{"list": {"table": {"family": ruleset.FAMILY, "name": ruleset.TABLE}}}])
            except NftError as exc:
                if "No such file or directory" in str(exc):
                    return None
                raise
        return ruleset.observed(out)

    def apply_sync(self, master: bool) -> NftResult:
        want = ruleset.render(self.cfg, master, _uids(self.cfg))
        if self.observe() == want:
            return NftResult(False, want.rule_count(), want.skipped)
        with self._lock:
            self._cmd(want.commands())
        return NftResult(True, want.rule_count(), want.skipped)

    def dry_run(self, master: bool) -> None:
        """Have nftables check the table without installing it (raises NftError with its complaint)."""
        want = ruleset.render(self.cfg, master, _uids(self.cfg))
        with self._lock:
            ctx = self._ctx()
            ctx.set_dry_run(True)
            try:
                self._cmd(want.commands())
            finally:
                ctx.set_dry_run(False)

    async def apply(self, master: bool) -> NftResult:
        return await asyncio.to_thread(self.apply_sync, master)
