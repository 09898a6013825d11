"""The lab nodes are firewalls: hacore's own table, rendered from each node's
configuration (a stateful forward filter that drops and counts invalid
packets, source NAT of the inside network to the external VIP), plus strict
TCP tracking - so a connection survives a failover only if its conntrack
entry crossed too.

Rules: the table is applied by hacore's reconciler (`python -m
hacore_lab.firewall apply CONFIG` run by `ip netns exec`: the nftables
binding acts on the namespace of the process that calls it) before any
daemon runs, so the lab is a firewall from the start; the daemon finds it
as it wants it. The lab writes no rules of its own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hacore.config.validate import check
from hacore.effects import ruleset
from hacore.effects.nft import NftReconciler

# Strict TCP tracking: a mid-stream packet of a flow the kernel does not know is invalid, not a new flow.
SYSCTLS = ["net.netfilter.nf_conntrack_tcp_loose=0", "net.netfilter.nf_conntrack_tcp_be_liberal=0"]


def apply(config: Path) -> None:
    cfg, _warnings = check(config.read_text())
    NftReconciler(cfg).apply_sync(master=False)


def invalid_dropped() -> int:
    """Packets the forward filter dropped as invalid (the counter of that rule)."""
    import nftables  # Debian's python3-nftables, reached through the venv's system site packages

    nft = nftables.Nftables()
    rc, out, err = nft.json_cmd({"nftables": [{"list": {"chain": {"family": ruleset.FAMILY, "table": ruleset.TABLE,
                                                                  "name": "forward"}}}]})
    if rc:
        raise SystemExit(f"nftables: {err.strip()}")
    for item in out["nftables"]:
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                return int(expr["counter"]["packets"])
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["apply"] and len(sys.argv) == 3:
        apply(Path(sys.argv[2]))
    elif sys.argv[1:] == ["invalid"]:
        print(json.dumps(invalid_dropped()))
    else:
        raise SystemExit("usage: python -m hacore_lab.firewall apply CONFIG | invalid")
