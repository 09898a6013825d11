"""The lab nodes are firewalls: a stateful forward filter, strict TCP
tracking and source NAT of the inside network to the external VIP - so a
connection survives a failover only if its conntrack entry crossed too.

Rules: the ruleset is nftables JSON, applied through nftables' own Python
binding inside the node's namespace (`python -m hacore.lab.firewall` run by
`ip netns exec`): the binding acts on the namespace of the process that
calls it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from hacore.lab.topology import EXT_VIP

TABLE_FILTER = "hacore_lab_fw"
TABLE_NAT = "hacore_lab_nat"
INSIDE, OUTSIDE, INSIDE_NET = "lan2", "lan1", ("203.0.113.0", 24)
# Strict TCP tracking: a mid-stream packet of a flow the kernel does not know is invalid, not a new flow.
SYSCTLS = ["net.netfilter.nf_conntrack_tcp_loose=0", "net.netfilter.nf_conntrack_tcp_be_liberal=0"]


def _ct_state(*states: str) -> dict[str, Any]:
    return {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": list(states)}}


def _meta(key: str, value: str) -> dict[str, Any]:
    return {"match": {"op": "==", "left": {"meta": {"key": key}}, "right": value}}


def ruleset() -> dict[str, Any]:
    """Forward: established/related, new from the inside; invalid dropped and counted. SNAT inside -> VIP."""
    fw = {"family": "inet", "table": TABLE_FILTER}
    nat = {"family": "ip", "table": TABLE_NAT}
    vip = EXT_VIP.split("/")[0]
    inside = {"prefix": {"addr": INSIDE_NET[0], "len": INSIDE_NET[1]}}
    cmds: list[dict[str, Any]] = [
        {"add": {"table": {"family": "inet", "name": TABLE_FILTER}}},
        {"add": {"chain": {**fw, "name": "forward", "type": "filter", "hook": "forward", "prio": 0,
                           "policy": "drop"}}},
        {"add": {"rule": {**fw, "chain": "forward", "expr": [_ct_state("invalid"), {"counter": None},
                                                             {"drop": None}]}}},
        {"add": {"rule": {**fw, "chain": "forward", "expr": [_ct_state("established", "related"),
                                                             {"accept": None}]}}},
        {"add": {"rule": {**fw, "chain": "forward", "expr": [_meta("iifname", INSIDE), _ct_state("new"),
                                                             {"accept": None}]}}},
        {"add": {"table": {"family": "ip", "name": TABLE_NAT}}},
        # Both NAT hooks are registered, so entries replicated with a NAT binding are translated here too.
        {"add": {"chain": {**nat, "name": "prerouting", "type": "nat", "hook": "prerouting", "prio": -100,
                           "policy": "accept"}}},
        {"add": {"chain": {**nat, "name": "postrouting", "type": "nat", "hook": "postrouting", "prio": 100,
                           "policy": "accept"}}},
        {"add": {"rule": {**nat, "chain": "postrouting", "expr": [
            _meta("oifname", OUTSIDE),
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": inside}},
            {"snat": {"addr": vip}}]}}},
    ]
    return {"nftables": [{"metainfo": {"json_schema_version": 1}}, *cmds]}


def apply() -> None:
    import nftables  # Debian's python3-nftables, reached through the venv's system site packages

    nft = nftables.Nftables()
    rc, _out, err = nft.json_cmd(ruleset())
    if rc:
        raise SystemExit(f"nftables: {err.strip()}")


def invalid_dropped() -> int:
    """Packets the forward filter dropped as invalid (the counter of that rule)."""
    import nftables

    nft = nftables.Nftables()
    rc, out, err = nft.json_cmd({"nftables": [{"list": {"chain": {"family": "inet", "table": TABLE_FILTER,
                                                                  "name": "forward"}}}]})
    if rc:
        raise SystemExit(f"nftables: {err.strip()}")
    for item in out["nftables"]:
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                return int(expr["counter"]["packets"])
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["apply"]:
        apply()
    elif sys.argv[1:] == ["invalid"]:
        print(json.dumps(invalid_dropped()))
    else:
        raise SystemExit("usage: python -m hacore.lab.firewall apply|invalid")
