"""Rendering of CLI output: pure functions from reply data to text (colour as
click.style's escape codes, where the caller says the output is a terminal).

The seed's `attribute|value` table for cluster info, plain tables for lists.
No I/O here; cli.py prints what these return.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import click

# The seed's four rows under its names (`maintainance` too), in its order; hacore's own follow.
INFO_ORDER = ("cluster_state", "sync_state", "hotwire_dev", "maintainance", "node", "priority", "rank",
              "peer_rank", "ssh_keys", "sync_endpoint", "last_sync", "conntrack_sync", "split_brain", "peers",
              "vips", "vips_held", "update_trigger_delay_s", "auth",
              "advert_sender", "advert_rx_path", "spare_loop", "loop_lateness", "memory_lock", "scheduling_group",
              "failovers", "takeover_steps", "nat_rules",
              "managed_interfaces", "effect_errors", "vip_errors", "link_problems", "hotwire_error", "config_digest")


def rank_text(r: dict[str, Any]) -> str:
    """A node's rank as its parts, in the order they count (seed: links, then fallback, then High/Low)."""
    if not r.get("seen", True):
        return "not heard on the hotwire"
    if r.get("resigned"):
        return f"{r.get('node', '')} {r.get('role', '')}: resigned (priority 0)".strip()
    who = f"{r['node']} {r['role']}: " if "node" in r else ""
    extra = [f"demoted: {r['demotion']}"] if r.get("demotion", "-") != "-" else []
    extra += ["maintenance"] if r.get("maintenance") else []
    return (f"{who}{r['links_up']} HA links up, ping check {'ok' if r['ping_ok'] else 'FAILED'}, "
            f"{r['priority_class']} -> VRRP priority {r['priority']}" + "".join(f"; {e}" for e in extra))


def sync_text(s: dict[str, Any]) -> str:
    """Conntrack replication in one line: which end we are, how whole the copy is, how far behind."""
    if s.get("role", "off") == "off":
        return f"off ({s['error']})" if s.get("error") else "off"
    drops = sum(s.get("drops", {}).values())
    tail = f", {drops} datagrams dropped" if drops else ""
    if s["role"] == "master":
        peer = "peer complete" if s.get("peer_complete") else "peer not complete"
        return (f"sending: {s['flows']} flows, {peer}, lag {s.get('lag_ms', 0):g} ms, "
                f"{s.get('resyncs', 0)} resyncs, {s.get('retransmits', 0)} retransmits{tail}")
    state = "complete" if s.get("complete") else "incomplete"
    return f"receiving: {s['flows']} flows, {state}, {s.get('gap_requests', 0)} gap requests{tail}"


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value) or "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {value_text(v)}" for k, v in value.items()) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value not in ("", None) else "-"


def _colour_row(line: str) -> str:
    key, sep, value = line.partition("|")
    return key + sep + coloured(key.strip(), value) if sep and key.strip() in COLOURS else line


def table(header: tuple[str, ...], rows: Sequence[tuple[Any, ...]], sep: str = "|") -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    fmt = [c.ljust(w) for c, w in zip(header, widths, strict=False)]
    lines = [sep.join(fmt).rstrip(), ("+" if sep == "|" else sep).join("-" * w for w in widths)]
    lines += [sep.join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
    return "\n".join(lines)


# The seed's web interface: offline black, error red, pending yellow, synchronized green.
COLOURS = {"cluster_state": {"master": "green", "backup": "green", "none": "bright_black"},
           "sync_state": {"synchronized": "green", "pending": "yellow", "error": "red"}}


def coloured(key: str, text: str) -> str:
    colour = COLOURS.get(key, {}).get(text)
    return click.style(text, fg=colour) if colour else text


def info(data: dict[str, Any], colour: bool = False) -> str:
    """The seed's attribute|value table; colour: cluster_state and sync_state as the seed colours them
    (for a terminal, never when piped)."""
    if "rank" in data:
        data = {**data, "rank": rank_text(data["rank"]["self"]), "peer_rank": rank_text(data["rank"]["peer"])}
    if "sync" in data:
        data = {**data, "conntrack_sync": sync_text(data["sync"])}
    if "last_sync" in data:
        data = {**data, "last_sync": last_sync_text(data["last_sync"]), "ssh_keys": keys_text(data["ssh_keys"])}
    if "takeover_steps" in data:
        data = {**data, "takeover_steps": steps_text(data["takeover_steps"])}
    if "advert_sender" in data:
        data = {**data, "advert_sender": sender_text(data["advert_sender"])}
    if "advert_rx" in data:
        data = {**data, "advert_rx_path": rx_text(data["advert_rx"])}
    if "spare_loop" in data:
        sl = data["spare_loop"]
        data = {**data, "spare_loop": sl["state"] + (f"; {sl['runaway_demotions']} runaway demotions"
                                                      if sl["runaway_demotions"] else "")}
    if "loop_lateness" in data:
        lag = data["loop_lateness"]
        data = {**data, "loop_lateness": f"worst {lag['worst_ms']:g} ms, p99 {lag['p99_last_minute_ms']:g} ms "
                                         f"in the last minute ({lag['samples']} wake-ups)"}
    keys = [k for k in INFO_ORDER if k in data]
    rows = [(k, value_text(data[k])) for k in keys]
    out = table(("attribute", "value"), rows)
    if colour:  # after the layout: escape codes must not count as width
        out = "\n".join(_colour_row(line) for line in out.split("\n"))
    notes = [f"{k}: {data[k]}" for k in ("cluster_reason", "sync_reason", "held_back", "key_change") if data.get(k)]
    notes += [f"degraded: {why}" for why in data.get("degraded", [])]
    return out + ("\n\n" + "\n".join(notes) if notes else "")


def history(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no role changes yet"
    body = [(_when(r["when"]), f"{r['old']} -> {r['new']}", r["reason"], steps_text(r.get("steps", {})))
            for r in rows]
    return table(("when", "change", "reason", "steps (ms)"), body, sep="  ")


def steps_text(steps: dict[str, float]) -> str:
    """A change's timed steps in the order they ran: "to traffic 0.41; vips 0.09, announce 0.05, ..."."""
    if not steps:
        return "-"
    parts = [f"{k.removesuffix('_ms')} {v:g}" for k, v in steps.items() if k not in ("to_traffic_ms", "total_ms")]
    head = f"to traffic {steps['to_traffic_ms']:g}; " if "to_traffic_ms" in steps else ""
    return head + ", ".join(parts) + f"; total {steps.get('total_ms', 0):g}"


def sender_text(s: dict[str, Any]) -> str:
    """The advert sender in one line: which, how much, how late, and its scheduling."""
    if s["kind"] == "loop":
        return f"asyncio loop ({s['reason']}), {s['sent']} sent"
    sched = s.get("scheduling", {})
    return (f"thread: {s['sent']} sent, {s['send_errors']} send errors, worst {s['worst_late_us']:g} us late, "
            f"{s['lease_expiries']} lease expiries; realtime {sched.get('realtime', '-')}, "
            + (f"nice {sched['nice']}, " if "nice" in sched else "") + f"cpus {sched.get('cpu_affinity', '-')}")


def rx_text(r: dict[str, Any]) -> str:
    dropped = sum(r.get("dropped", {}).values())
    return f"{r['path']} ({r['reason']})" + (f", {dropped} dropped before the socket" if dropped else "")


def last_sync_text(last: dict[str, Any]) -> str:
    if not last:
        return "never"
    return f"{_when(last['when'])}, {last['direction']} {last['peer']}, revision {last['revision']}"


def keys_text(keys: dict[str, bool]) -> str:
    return f"local {'yes' if keys.get('local') else 'no'}, remote {'yes' if keys.get('remote') else 'no'}"


def sync_state(data: dict[str, Any]) -> str:
    return table(("attribute", "value"), [
        ("sync_state", data["sync_state"]), ("reason", data.get("sync_reason") or "-"),
        ("ssh_keys", keys_text(data.get("ssh_keys", {}))), ("endpoint", data.get("sync_endpoint", "-")),
        ("last_sync", last_sync_text(data.get("last_sync") or {}))])


def services(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no applications configured"

    def state(v: bool | None, yes: str, no: str) -> str:
        return "-" if v is None else (yes if v else no)

    body = [(r["name"], r["backend"], state(r["desired"], "run", "stop") if r["backend"] != "-" else "not managed",
             state(r["running"], "running", "stopped"), r["error"] or "-") for r in rows]
    return table(("application", "backend", "desired", "actual", "error"), body, sep="  ")


def config_list(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no saved configurations"
    body = [(r["name"], r["digest"], "yes" if r["start"] else "", _when(r["saved"]), r["who"], r["what"])
            for r in rows]
    return table(("name", "digest", "start", "when", "who", "what"), body, sep="  ")


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
