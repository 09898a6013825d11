"""`hacore cluster wizard`: the seed's Cluster Setup Wizard in a terminal -
hotwire, HA interfaces with their virtual IPs, interfaces and applications
disabled in backup, priority and passphrase - and its spare side
(`--spare`: hotwire, priority low, the master's key).

Rules: runs before the daemon (it writes the start configuration and the
node's SSH key; refused while a daemon runs with them). Every answer comes
from a flag, an answers file (--answers, TOML with the flags' names) or a
prompt, in that order of weight (flags win); each step is checked as it is
answered (hacore.config.wizard) and asked again in a terminal, or refused
in one line elsewhere. The file is shown before it is saved; a file it
replaces is kept as a revision.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hacore.cli.kit import Failure, command
from hacore.config import wizard as wz
from hacore.config.store import Store
from hacore.configsync.sshkeys import KeyFiles, SshKeyError, parse_public
from hacore.support import hostfacts
from hacore.support.atomic import atomic_write
from hacore.support.statelock import Locked, StateLock


def read_host(config_path: Path) -> wz.Host:
    existing = config_path.read_text() if config_path.exists() else ""
    return wz.Host(hostfacts.interfaces(), hostfacts.units(), existing)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _ha(specs: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for spec in specs:
        name, _, vips = spec.partition("=")
        out.setdefault(name.strip(), []).extend(_csv(vips))
    return out


def _from_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        raw = tomllib.loads(path.read_text())
        wz.answers_from({k: v for k, v in raw.items() if k != "master_key"}, wz.Answers())  # names and kinds
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise Failure(f"{path}: {exc}") from None
    return raw


class Asker:
    """Prompts in a terminal; elsewhere a missing or refused answer is a one-line failure."""

    def __init__(self, interactive: bool):
        self.interactive = interactive

    def step(self, n: int, name: str, a: wz.Answers, missing: bool, ask: Callable[[], None],
             problems: Callable[[], list[str]]) -> None:
        if missing:
            if not self.interactive:
                raise Failure(f"step {n} ({name}): not answered; give it as a flag or in --answers")
            click.echo(f"\nStep {n} of {len(wz.STEPS)}: {name}")
            ask()
        while True:
            found = problems()
            if not found:
                return
            if not self.interactive:
                raise Failure(f"step {n} ({name}): " + "; ".join(found))
            for p in found:
                click.echo(f"  refused: {p}")
            ask()


def _ask_hotwire(a: wz.Answers, host: wz.Host, which: str, mine: str, peer: str) -> None:
    """Step 1's three answers; the local address defaults to the interface's first one."""
    a.hotwire = click.prompt(f"  hotwire interface{which}", default=a.hotwire or None)
    a.local = click.prompt(f"  {mine} address on {a.hotwire} (CIDR)",
                           default=a.local or next(iter(host.interfaces.get(a.hotwire, ())), None))
    a.remote = click.prompt(f"  the {peer}'s address on the hotwire", default=a.remote or None)


def _master_steps(a: wz.Answers, host: wz.Host, asker: Asker, given: set[str]) -> None:
    def ask_hotwire() -> None:
        _ask_hotwire(a, host, "", "local", "spare")

    def ask_ha() -> None:
        a.ha = {}
        while True:
            name = click.prompt("  HA interface (empty: done)" if a.ha else "  HA interface", default="" if a.ha
                                else None, show_default=False)
            if not name:
                return
            a.ha[name] = _csv(click.prompt(f"  virtual IPs on {name} (CIDR, comma-separated)"))

    def ask_disabled() -> None:
        a.disabled_interfaces = _csv(click.prompt("  interfaces disabled while in backup (comma-separated)",
                                                  default=",".join(a.disabled_interfaces), show_default=False))

    def ask_apps() -> None:
        a.applications = _csv(click.prompt("  applications disabled while in backup",
                                           default=",".join(a.applications)))

    def ask_final() -> None:
        a.priority = click.prompt("  priority", type=click.Choice(["high", "low"]), default=a.priority or "high")
        a.passphrase = click.prompt("  passphrase", hide_input=True, confirmation_prompt=True)

    asker.step(1, wz.STEPS[0], a, not {"hotwire", "local", "remote"} <= given, ask_hotwire,
               lambda: wz.hotwire_problems(a, host))
    asker.step(2, wz.STEPS[1], a, "ha" not in given, ask_ha, lambda: wz.ha_problems(a, host))
    asker.step(3, wz.STEPS[2], a, "disabled_interfaces" not in given, ask_disabled,
               lambda: wz.disabled_problems(a, host))
    asker.step(4, wz.STEPS[3], a, "applications" not in given, ask_apps, lambda: wz.application_problems(a, host))
    asker.step(5, wz.STEPS[4], a, not {"priority", "passphrase"} <= given, ask_final,
               lambda: wz.final_problems(a, host))


def _spare_steps(a: wz.Answers, host: wz.Host, asker: Asker, given: set[str], key: list[str]) -> None:
    def ask_hotwire() -> None:
        _ask_hotwire(a, host, " (the same as on the master)", "this spare's", "master")

    def ask_key() -> None:
        key[0] = click.prompt("  the master's public SSH key (its wizard printed it)")

    def key_problems() -> list[str]:
        try:
            parse_public(key[0])
        except SshKeyError as exc:
            return [str(exc)]
        return wz.final_problems(a, host)

    asker.step(1, "hotwire", a, not {"hotwire", "local", "remote"} <= given, ask_hotwire,
               lambda: wz.hotwire_problems(a, host))
    asker.step(2, "the master's SSH key", a, not key[0], ask_key, key_problems)


def _refuse_if_running(config_path: Path, state_dir: Path, socket_path: Path) -> None:
    from hacore.effects.cleanup import running_daemon

    if state_dir.is_dir():
        try:
            StateLock(state_dir).release()
        except Locked as exc:
            raise Failure(f"{exc}: stop it first, run the wizard, start it again") from None
    live = running_daemon(config_path, socket_path)
    if live:
        raise Failure(f"{live}: stop it first, run the wizard, start it again")


def _save(path: Path, state_dir: Path, text: str) -> int | None:
    """Write the start configuration; the one it replaces is kept as a revision first (its number)."""
    kept = None
    if path.exists():
        kept = Store(state_dir, path).keep(path.read_text(), os.environ.get("SUDO_USER") or "root",
                                           "replaced by the wizard").rev
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode(), mode=0o600)
    return kept


def _next_steps(a: wz.Answers, public: str) -> list[str]:
    if a.spare:
        return [f"on the master: hacore cluster ssh-key set-remote {public}",
                "on the master: hacore system config synchronize",
                "on both nodes: hacore cluster on"]
    prefix = a.local.split("/")[1]
    spare = (f"hacore cluster wizard --spare --hotwire {a.hotwire} --local {a.remote}/{prefix} "
             f"--remote {a.local.split('/')[0]} --master-key '{public}'")
    return ["start the daemon here (systemctl start hacore)", f"on the spare: {spare}",
            "here, with the key the spare's wizard prints: hacore cluster ssh-key set-remote KEY",
            "here: hacore system config synchronize", "on both nodes: hacore cluster on"]


def register(group: click.Group) -> None:
    @command(group, "wizard")
    @click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), default="/etc/hacore/hacore.toml",
                  show_default=True, help="the start configuration to write")
    @click.option("--state-dir", type=click.Path(path_type=Path), default="/var/lib/hacore", show_default=True,
                  help="where the daemon keeps its state (the SSH key goes there)")
    @click.option("--spare", is_flag=True, help="set up the spare: hotwire, priority low, the master's key")
    @click.option("--answers", "answers_file", type=click.Path(path_type=Path, dir_okay=False),
                  help="answers as TOML (the flags' names: hotwire, local, remote, ha = {lan2 = [...]}, ...)")
    @click.option("--node", help="this node's name  [default: the host name]")
    @click.option("--hotwire", help="step 1: the hotwire interface (the same on both nodes)")
    @click.option("--local", help="step 1: this node's address on the hotwire, CIDR")
    @click.option("--remote", help="step 1: the peer's address on the hotwire")
    @click.option("--ha", multiple=True, metavar="IF=VIP[,VIP]", help="step 2: an HA interface and its virtual IPs")
    @click.option("--disable-interface", multiple=True, help="step 3: an interface down while in backup")
    @click.option("--applications", help="step 4: applications disabled in backup, comma-separated "
                                         "(default: the seed's list; 'none' for none)")
    @click.option("--priority", type=click.Choice(["high", "low"]), help="step 5: high on the master")
    @click.option("--passphrase", envvar="HACORE_PASSPHRASE", help="step 5: the adverts' key (env HACORE_PASSPHRASE)")
    @click.option("--master-key", help="--spare: the master's public SSH key")
    @click.option("--yes", is_flag=True, help="save without asking")
    def cluster_wizard(ctx: click.Context, config_path: Path, state_dir: Path, spare: bool,
                       answers_file: Path | None, yes: bool, master_key: str | None, **flags: Any) -> tuple[Any, str]:
        """The seed's Cluster Setup Wizard: five steps on the master, then `--spare` on the spare."""
        _refuse_if_running(config_path, state_dir, ctx.obj["socket"])
        raw = _from_file(answers_file)
        key = [master_key or raw.pop("master_key", "")]
        given = {k for k, v in raw.items() if v not in (None, "")}
        cli = {"node": flags["node"], "hotwire": flags["hotwire"], "local": flags["local"],
               "remote": flags["remote"], "priority": flags["priority"], "passphrase": flags["passphrase"],
               "ha": _ha(flags["ha"]) or None, "disabled_interfaces": list(flags["disable_interface"]) or None,
               "applications": (None if flags["applications"] is None else
                                [] if flags["applications"] == "none" else _csv(flags["applications"]))}
        raw |= {k: v for k, v in cli.items() if v is not None}
        given |= {k for k, v in cli.items() if v is not None}
        a = wz.Answers(**{**raw, "spare": spare})
        a.node = a.node or socket.gethostname().split(".")[0]
        a.key_salt = a.key_salt or secrets.token_hex(8)
        if spare:
            a.priority, a.applications = "low", []
        host = read_host(config_path)
        interactive = sys.stdin.isatty() and not ctx.params.get("as_json", False)
        asker = Asker(interactive)
        if spare:
            _spare_steps(a, host, asker, given, key)
        else:
            _master_steps(a, host, asker, given)
        text = wz.text(a, host)
        if not yes:
            if not interactive:
                raise Failure("add --yes to save without being asked")
            click.echo(f"\n{config_path} will hold:\n\n{text}")
            if not click.confirm(f"Save it to {config_path}?", default=False):
                raise Failure("nothing saved")
        kept = _save(config_path, state_dir, text)
        keys = KeyFiles(state_dir / "ssh")
        try:
            public = keys.show() if keys.private.exists() else keys.generate("ed25519", f"hacore@{a.node}", False)
            if spare:
                keys.set_remote(key[0])
        except SshKeyError as exc:
            raise Failure(str(exc)) from None
        steps = _next_steps(a, public)
        data = {"config": str(config_path), "kept_revision": kept, "text": text, "public_key": public,
                "next": steps}
        out = [f"saved {config_path}" + (f" (the file it replaced is kept as @{kept})" if kept else ""),
               f"this node's public SSH key: {public}", "next:", *(f"  {s}" for s in steps)]
        return data, "\n".join(out)
