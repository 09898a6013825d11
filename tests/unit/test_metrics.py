"""Metric families from the counter schema and from `cluster info`, read back with prometheus-client's
own exposition and parser."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

from hacore.node import metrics
from hacore.support import supervise
from hacore.vrrp import port


def _read(families: list[Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    class Fixed(Collector):
        def collect(self) -> Any:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_every_declared_counter_is_a_family_and_sets_of_one_schema_add_up() -> None:
    a, b = supervise.COUNTERS.new(), supervise.COUNTERS.new()  # the daemon's and the node's task restarts
    a.inc("restarts", task="hotwire_status")
    b.inc("restarts", 2, task="hotwire_status")
    drops = port.COUNTERS.new()
    drops.inc("drops", link="lan1", reason="bad_ttl")
    got = _read(metrics.from_counters([a, b, drops]))
    assert got[("hacore_tasks_restarts_total", (("task", "hotwire_status"),))] == 3
    assert got[("hacore_adverts_drops_total", (("link", "lan1"), ("reason", "bad_ttl")))] == 1


def test_a_label_less_counter_reads_zero_before_it_is_counted() -> None:
    from hacore.vrrp import machine

    got = _read(metrics.from_counters([machine.COUNTERS.new()]))
    assert got[("hacore_election_split_brains_total", ())] == 0


def test_lateness_buckets_become_cumulative_seconds() -> None:
    info = {"cluster_state": "backup", "advert_sender": {"sent": 5, "late_histogram": {
        "<10us": 1, "<100us": 2, ">=100us": 1}}}
    got = _read(metrics.from_info(info, 0.0))
    assert got[("hacore_advert_sender_lateness_seconds_bucket", (("le", "1e-05"),))] == 1
    assert got[("hacore_advert_sender_lateness_seconds_bucket", (("le", "0.0001"),))] == 3
    assert got[("hacore_advert_sender_lateness_seconds_bucket", (("le", "+Inf"),))] == 4
    assert got[("hacore_role", (("hacore_role", "backup"),))] == 1
    assert ("hacore_conntrack_flows", ()) not in got  # no sync: no flow series


def test_the_spare_reports_completeness_and_the_master_its_lag() -> None:
    spare = _read(metrics.from_info({"sync": {"role": "backup", "flows": 7, "complete": True}}, 0.0))
    master = _read(metrics.from_info({"sync": {"role": "master", "flows": 7, "lag_ms": 12.0}}, 0.0))
    assert spare[("hacore_conntrack_complete", ())] == 1 and spare[("hacore_conntrack_flows", ())] == 7
    assert master[("hacore_conntrack_replication_lag_seconds", ())] == 0.012


def test_config_sync_age_and_takeover_steps_since_the_start() -> None:
    got = _read(metrics.from_info({"sync_state": "synchronized", "last_sync": {"when": 100.0}}, 160.0))
    assert got[("hacore_config_sync_last_success_age_seconds", ())] == 60
    history = [{"when": 10.0, "steps": {"to_traffic_ms": 0.8}},  # before this daemon started: not counted
               {"when": 50.0, "steps": {"to_traffic_ms": 0.6, "vips_ms": 3.0}},
               {"when": 60.0, "steps": {"to_traffic_ms": 1.5}}]
    steps = _read([metrics.takeover_steps(history, 20.0)])
    assert steps[("hacore_takeover_step_seconds_count", (("step", "to_traffic"),))] == 2
    assert steps[("hacore_takeover_step_seconds_bucket", (("le", "0.001"), ("step", "to_traffic")))] == 1
    assert steps[("hacore_takeover_step_seconds_count", (("step", "vips"),))] == 1
