"""`hacore cluster ...` and `hacore extc ...`: the cluster's state and control,
and its live tunables; one control request per command.

Rules: the daemon is reached only through the control protocol
(hacore.control); text comes from hacore.cli.render.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import click

from hacore.cli import render
from hacore.cli.kit import Failure, ask, command


@click.group()
def cluster() -> None:
    """Cluster state and control."""


@command(cluster, "info")
def cluster_info(ctx: click.Context) -> tuple[Any, str]:
    """The seed's attribute|value table: state, sync, hotwire, maintenance, and more."""
    data = ask(ctx, "info")
    return data, render.info(data, colour=sys.stdout.isatty())


@command(cluster, "history")
def cluster_history(ctx: click.Context) -> tuple[Any, str]:
    """Role changes: when, old -> new, and why (kept across restarts)."""
    data = ask(ctx, "history")
    return data, render.history(data)


@command(cluster, "services")
def cluster_services(ctx: click.Context) -> tuple[Any, str]:
    """Applications that follow the master: each one's desired and actual state."""
    data = ask(ctx, "services")
    return data, render.services(data)


@cluster.group("maintenance")
def maintenance() -> None:
    """Maintenance mode: a controlled switchover to the spare (persistent)."""


_seed_spelling = copy.copy(maintenance)
_seed_spelling.hidden = True  # the seed's spelling works; --help lists one
cluster.add_command(_seed_spelling, "maintainance")


@command(maintenance, "set")
@click.argument("words", nargs=-1, required=True, metavar="[value] 1|0")
@click.option("--force", is_flag=True,
              help="set it even when the peer is not a healthy backup (the VIPs stay until one can take them)")
def maintenance_set(ctx: click.Context, words: tuple[str, ...], force: bool) -> tuple[Any, str]:
    """1: hand over to the spare and stay backup (also across restarts), answering once it has handed
    over (or saying it is still in progress); 0: take part again.

    The seed's own line works too: cluster maintainance set value "1"."""
    value = words[1:] if words[:1] == ("value",) else words
    if len(value) != 1 or value[0] not in ("0", "1"):
        raise Failure(f"maintenance set takes 1 or 0 (optionally after 'value'), got {' '.join(words)!r}")
    data = ask(ctx, "maintenance.set", value=value[0], force=force)
    if data.get("handed_over", True):
        return data, "OK"
    if data.get("why_not"):
        return data, (f"OK: maintenance is set, not handed over: {data['why_not']}; the VIPs stay here until a "
                      "peer can take them")
    return data, (f"OK: maintenance is set; the hand-over is still in progress (cluster_state "
                  f"{data['cluster_state']}): `hacore cluster info` shows when it is done")


@command(cluster, "on")
def cluster_on(ctx: click.Context) -> tuple[Any, str]:
    """The seed's Cluster On: take part in the election (kept in the start configuration)."""
    return ask(ctx, "cluster.enable", value="1"), "OK"


@command(cluster, "off")
@click.option("--force", is_flag=True, help="turn it off even when the peer cannot take the VIPs (they go with it)")
def cluster_off(ctx: click.Context, force: bool) -> tuple[Any, str]:
    """The seed's Cluster Off: hand the VIPs over and stay out of the election (kept in the start
    configuration; shared, so synchronize it or set it on both nodes). Refused on a master whose peer is
    not a healthy backup."""
    return ask(ctx, "cluster.enable", value="0", force=force), "OK"


# -- interface --------------------------------------------------------------

@click.group()
def interface() -> None:
    """Interfaces' cluster flags (the seed's `interface set name wg0 flags "DISABLED_IF_SPARE"`)."""


@command(interface, "set")
@click.argument("words", nargs=-1, required=True, metavar='name IF flags "FLAG[ FLAG]"')
def interface_set(ctx: click.Context, words: tuple[str, ...]) -> tuple[Any, str]:
    """Set an interface's flags, through the configuration's own path (validated, the replaced file kept as
    a revision, live). DISABLED_IF_SPARE: down while this node is the spare; flags "" clears them."""
    pairs = seed_words(words, ("name", "flags"))
    data = ask(ctx, "interface.set", name=pairs["name"], flags=pairs["flags"])
    return data, "OK"


# -- extc -------------------------------------------------------------------

@click.group()
def extc() -> None:
    """Tunables, live (UPDATE_TRIGGER_DELAY: the failover delay in seconds)."""


SEED_APPLICATION = "securepoint_firewall"  # the seed's application for the cluster's variables


def seed_words(words: tuple[str, ...], keys: tuple[str, ...]) -> dict[str, str]:
    """The seed's `key "value" key "value"` form (`application "securepoint_firewall" variable "X"`) as a dict;
    Failure in one line for anything else."""
    if len(words) % 2 or any(k not in keys for k in words[::2]):
        raise Failure(f"expected {' '.join(f'{k} VALUE' for k in keys)}, got {' '.join(words)!r}")
    pairs = dict(zip(words[::2], words[1::2], strict=True))
    if set(pairs) != set(keys):
        raise Failure(f"missing {', '.join(k for k in keys if k not in pairs)}")
    if pairs.get("application", SEED_APPLICATION) != SEED_APPLICATION:
        raise Failure(f"unknown application {pairs['application']!r} (known: {SEED_APPLICATION})")
    return pairs


@extc.group("value")
def extc_value() -> None:
    """The seed's own form: extc value get|set application "securepoint_firewall" variable "..." [value V]."""


@command(extc_value, "get")
@click.argument("words", nargs=-1, required=True, metavar='application APP variable VAR')
def extc_value_get(ctx: click.Context, words: tuple[str, ...]) -> tuple[Any, str]:
    """Show a variable (the seed's line: extc value get application "securepoint_firewall" variable "...")."""
    variable = seed_words(words, ("application", "variable"))["variable"]
    data = ask(ctx, "extc.get", variable=variable)
    return data, f"Value |{render.value_text(data['value'])}"


@command(extc_value, "set", context_settings={"ignore_unknown_options": True})
@click.argument("words", nargs=-1, required=True, metavar="application APP variable VAR value V")
def extc_value_set(ctx: click.Context, words: tuple[str, ...]) -> tuple[Any, str]:
    """Set a variable, live and persisted (the seed's line: ... variable "UPDATE_TRIGGER_DELAY" value 2)."""
    pairs = seed_words(words, ("application", "variable", "value"))
    data = ask(ctx, "extc.set", variable=pairs["variable"], value=pairs["value"])
    return data, "\n".join([*data["warnings"], "OK"])


@command(extc, "get")
@click.argument("variable")
def extc_get(ctx: click.Context, variable: str) -> tuple[Any, str]:
    """Show VARIABLE."""
    data = ask(ctx, "extc.get", variable=variable)
    return data, f"Value |{render.value_text(data['value'])}"


@command(extc, "set", context_settings={"ignore_unknown_options": True})  # so "-1" is a value to refuse
@click.argument("variable")
@click.argument("value")
def extc_set(ctx: click.Context, variable: str, value: str) -> tuple[Any, str]:
    """Set VARIABLE to VALUE, live and persisted in the start configuration."""
    data = ask(ctx, "extc.set", variable=variable, value=value)
    return data, "\n".join([*data["warnings"], "OK"])


# -- system config ----------------------------------------------------------

@cluster.group("ssh-key")
def ssh_key() -> None:
    """The SSH keys of config sync (the seed's set-up: exchange the public keys)."""


@command(ssh_key, "generate")
@click.option("--type", "kind", type=click.Choice(["ed25519", "rsa"]), default="ed25519", show_default=True)
@click.option("--force", is_flag=True, help="replace an existing key (the peer then needs the new one)")
def ssh_key_generate(ctx: click.Context, kind: str, force: bool) -> tuple[Any, str]:
    """Make this node's key pair; prints the public key to paste into the peer."""
    data = ask(ctx, "sshkey.generate", type=kind, force=force)
    return data, data["public_key"]


@command(ssh_key, "show")
def ssh_key_show(ctx: click.Context) -> tuple[Any, str]:
    """This node's public key: paste it into the peer's `cluster ssh-key set-remote`."""
    data = ask(ctx, "sshkey.show")
    return data, data["public_key"]


@command(ssh_key, "set-remote")
@click.argument("key", nargs=-1, required=True)
def ssh_key_set_remote(ctx: click.Context, key: tuple[str, ...]) -> tuple[Any, str]:
    """Pin the peer's public key (KEY: the line its `ssh-key show` prints; `-` reads it from stdin)."""
    line = sys.stdin.read() if key == ("-",) else " ".join(key)
    data = ask(ctx, "sshkey.set_remote", key=line.strip())
    return data, f"remote key set: {data['remote_fingerprint']}"
