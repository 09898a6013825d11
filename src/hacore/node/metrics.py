"""Prometheus metric families, made from what the daemon already keeps: every
counter set's declarations (hacore.support.counters: name, kind, help,
labels) and the values `cluster info` reports.

Rules: pure (no I/O, no clock: the caller passes the time); built on the
loop from one snapshot, so a scrape sees one consistent moment. Names are
hacore_<scope>_<name> for the declared counters; the few families derived
from `cluster info` are named here. Imported only where metrics are on
(prometheus-client stays out of a daemon that does not serve them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
)

from hacore import __version__
from hacore.support.counters import Counters

ROLES = ("master", "backup", "none")
SYNC_STATES = ("synchronized", "pending", "error")
STEP_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
_BUCKET = re.compile(r"^<(\d+)us$")


def from_counters(sets: Iterable[Counters]) -> list[Metric]:
    """One family per declared counter; sets of the same schema (the daemon's and the node's task
    restarts) add up."""
    values: dict[str, tuple[Any, dict[tuple[str, ...], int]]] = {}
    for counters in sets:
        scope = counters.schema.scope
        for spec in counters.schema.specs.values():
            per = values.setdefault(f"hacore_{scope}_{spec.name}", (spec, {}))[1]
            if not spec.labels:
                per.setdefault((), 0)  # a label-less counter exists from the start, at 0
        for spec, labels, n in counters.samples():
            per = values[f"hacore_{scope}_{spec.name}"][1]
            key = tuple(labels[lb] for lb in spec.labels)
            per[key] = per.get(key, 0) + n
    out: list[Metric] = []
    for name, (spec, per) in sorted(values.items()):
        family = (CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily)(
            name, spec.help, labels=list(spec.labels))
        for key, n in sorted(per.items()):
            family.add_metric(list(key), n)
        out.append(family)
    return out


def _buckets_us(histogram: dict[str, int]) -> list[tuple[str, float]]:
    """hacore's `<Nus` counts (each bucket alone) as Prometheus' cumulative `le` buckets in seconds."""
    out, total = [], 0
    for label, n in histogram.items():
        total += n
        m = _BUCKET.match(label)
        out.append((repr(int(m.group(1)) / 1e6) if m else "+Inf", float(total)))
    if not out or out[-1][0] != "+Inf":
        out.append(("+Inf", float(total)))
    return out


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    g.add_metric(list((labels or {}).values()), value)
    return g


def from_info(info: dict[str, Any], now_s: float) -> list[Metric]:
    """The families `cluster info` holds and no counter set does: role, rank, sync state and lag,
    lateness histograms."""
    out: list[Metric] = [
        InfoMetricFamily("hacore_node", "this node", value={"node": str(info.get("node", "")),
                                                           "version": __version__}),
        StateSetMetricFamily("hacore_role", "the node's role in the cluster",
                             {r: info.get("cluster_state") == r for r in ROLES}),
        _gauge("hacore_maintenance", "1 while the node is in maintenance", float(bool(info.get("maintenance")))),
        _gauge("hacore_split_brain", "1 while both nodes are master", float(bool(info.get("split_brain")))),
        _gauge("hacore_update_trigger_delay_seconds", "UPDATE_TRIGGER_DELAY: the failover delay",
               float(info.get("update_trigger_delay_s", 0))),
    ]
    mine = (info.get("rank") or {}).get("self") or {}
    if mine:
        out.append(_gauge("hacore_priority", "the effective VRRP priority this node advertises",
                          float(mine.get("priority", 0))))
        parts = GaugeMetricFamily("hacore_priority_part", "the parts of the effective priority", labels=["part"])
        parts.add_metric(["links_up"], float(mine.get("links_up", 0)))
        parts.add_metric(["ping_ok"], float(bool(mine.get("ping_ok"))))
        parts.add_metric(["priority_high"], float(mine.get("priority_class") == "high"))
        out.append(parts)
    peer = (info.get("rank") or {}).get("peer") or {}
    if peer.get("seen"):
        out.append(_gauge("hacore_peer_priority", "the peer's effective priority, from the hotwire",
                          float(peer.get("priority", 0))))
    out.append(StateSetMetricFamily("hacore_config_sync_state", "configuration sync with the peer (the seed's "
                                    "sync_state)", {s: info.get("sync_state") == s for s in SYNC_STATES}))
    last = info.get("last_sync") or {}
    if isinstance(last.get("when"), (int, float)):
        out.append(_gauge("hacore_config_sync_last_success_age_seconds",
                          "seconds since the last successful synchronize", max(0.0, now_s - last["when"])))
    sender = info.get("advert_sender") or {}
    if sender.get("late_histogram"):
        h = HistogramMetricFamily("hacore_advert_sender_lateness_seconds",
                                  "how late the advert sender woke for each advert")
        h.add_metric([], _buckets_us(sender["late_histogram"]), None)
        out.append(h)
        out.append(CounterMetricFamily("hacore_adverts_sent", "adverts sent", value=sender.get("sent", 0)))
    loop = info.get("loop_lateness") or {}
    if loop.get("histogram"):
        h = HistogramMetricFamily("hacore_loop_lateness_seconds", "how late the daemon's event loop woke")
        h.add_metric([], _buckets_us(loop["histogram"]), None)
        out.append(h)
    out += _filtered(info.get("advert_rx") or {})
    out += _sync(info.get("sync") or {})
    return out


def _filtered(rx: dict[str, Any]) -> list[Metric]:
    """The tc program's verdicts ("lan1 vrid 50" / "lan1 vrid 50 bad_ttl"), by link and reason."""
    if "passed" not in rx:
        return []
    c = CounterMetricFamily("hacore_adverts_filtered", "adverts the receive filter saw before the socket, by "
                            "link and verdict", labels=["link", "vrid", "verdict"])
    for where, n in sorted(rx["passed"].items()):
        link, _, vrid = where.split(" ", 2)
        c.add_metric([link, vrid, "passed"], n)
    for where, n in sorted(rx["dropped"].items()):
        link, _, vrid, reason = ([*where.split(" ", 3), ""])[:4]
        c.add_metric([link, vrid, reason], n)
    return [c]


def _sync(sync: dict[str, Any]) -> list[Metric]:
    if sync.get("role") in (None, "off"):
        return []
    out: list[Metric] = [_gauge("hacore_conntrack_flows", "conntrack flows this node holds (the master: its "
                                "table; the spare: its replicated copy)", float(sync.get("flows", 0)))]
    if sync.get("role") == "master":
        out.append(_gauge("hacore_conntrack_replication_lag_seconds",
                          "how long the oldest change the spare has not applied yet has waited (0: caught up)",
                          float(sync.get("lag_ms", 0)) / 1e3))
        out.append(_gauge("hacore_conntrack_peer_complete", "1 when the spare reports a whole copy",
                          float(bool(sync.get("peer_complete")))))
    else:
        out.append(_gauge("hacore_conntrack_complete", "1 when this spare's copy is whole",
                          float(bool(sync.get("complete")))))
    return out


def takeover_steps(history: list[dict[str, Any]], since_s: float) -> HistogramMetricFamily:
    """Each role change's timed steps since the daemon started, as one histogram per step."""
    h = HistogramMetricFamily("hacore_takeover_step_seconds", "duration of each step of a role change "
                              "(to_traffic: decision to VIPs in and the first announcement out)", labels=["step"])
    per: dict[str, list[float]] = {}
    for entry in history:
        if entry.get("when", 0) >= since_s:
            for step, ms in (entry.get("steps") or {}).items():
                per.setdefault(step.removesuffix("_ms"), []).append(ms / 1e3)
    for step, values in sorted(per.items()):
        buckets = [(repr(le), float(sum(v <= le for v in values))) for le in STEP_BUCKETS_S]
        h.add_metric([step], [*buckets, ("+Inf", float(len(values)))], sum(values))
    return h
