"""The Prometheus endpoint of a lab pair, scraped from inside each node's namespace and read with
prometheus-client's own parser."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from hacore import __version__
from hacore_lab import netns
from hacore_lab.topology import Lab
from hacore_lab.wait import wait_until
from tests.netns.conftest import info

DASHBOARD = Path(__file__).resolve().parents[2] / "tools" / "grafana-dashboard.json"
FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"


def _text(lab: Lab, node: str) -> str:
    return netns.run_in(lab, node, [sys.executable, "-c", FETCH, info(lab, node)["metrics"]["url"]]).stdout


def scrape(lab: Lab, node: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(_text(lab, node)) for s in family.samples}


def test_each_node_serves_its_role_lag_and_counters_on_its_management_address(
        make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    assert info(lab, "node1")["metrics"] == {"url": "http://127.0.0.1:9780/metrics", "state": "serving"}
    wait_until(lambda: scrape(lab, "node2").get(("hacore_conntrack_complete", ())) == 1, 15,
               what="node2's copy complete, in its metrics")
    m1, m2 = scrape(lab, "node1"), scrape(lab, "node2")
    assert m1[("hacore_role", (("hacore_role", "master"),))] == 1
    assert m1[("hacore_role", (("hacore_role", "backup"),))] == 0
    assert m2[("hacore_role", (("hacore_role", "backup"),))] == 1
    assert ("hacore_conntrack_replication_lag_seconds", ()) in m1
    assert m1[("hacore_priority", ())] > m2[("hacore_priority", ())]  # high beats low
    assert m1[("hacore_adverts_sent_total", ())] > 0
    assert m2[("hacore_election_adverts_rx_total", ())] > 0
    assert m1[("hacore_role_changes_total", (("reason", "no peer heard within the delay"), ("to", "master")))] == 1
    assert m1[("hacore_election_split_brains_total", ())] == 0
    assert m1[("hacore_takeover_step_seconds_count", (("step", "to_traffic"),))] == 1
    assert m1[("hacore_node_info", (("node", "node1"), ("version", __version__)))] == 1


def test_the_grafana_dashboard_asks_only_for_series_the_pair_serves(make_cluster: Callable[..., Lab]) -> None:
    lab = make_cluster()
    families = [f for node in ("node1", "node2") for f in text_string_to_metric_families(_text(lab, node))]
    served = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    served |= {s.name for f in families for s in f.samples}
    served.add("hacore_config_sync_last_success_age_seconds")  # only once a synchronize succeeded
    asked = set(re.findall(r"hacore_[a-z_]+", DASHBOARD.read_text()))
    assert asked and asked <= served, asked - served
