"""The flows bench's reading of one run: both ends' retransmissions per TCP
flow, stalls beyond what one retransmission explains, NAT ports kept."""

from __future__ import annotations

from hacore_lab.flowbench import RTO_MIN_MS, summarise


def test_a_run_is_read_per_flow_from_both_ends() -> None:
    client = {"tcp": {"flows": 3, "stall_ms": [0.4, RTO_MIN_MS + 10.0, RTO_MIN_MS + 30.0],
                      "retrans": [0, 1, 1], "survived": [True, True, False], "errors": ["ECONNRESET"]},
              "udp": {"flows": 2, "longest_gap_ms": 15.0, "lost": [3, 2]}}
    # The server retransmitted flow 2's echo once too; it saw UDP flow 1 from two ports (a new NAT mapping).
    server = {"tcp": {"0": {"retrans": 0}, "1": {"retrans": 0}, "2": {"retrans": 1}},
              "udp_ports": {"0": 1, "1": 2}}
    run = summarise(client, server, invalid=7)
    assert run["retrans"] == [0, 1, 2] and run["over_one_retrans"] == 1
    assert run["over_one_at_one_end"] == 0  # flow 2: once at each end, no end retransmitted twice
    assert run["beyond_rto"] == 1  # 230 ms is more than RTO_min + the 15 ms outage; 210 ms is not
    assert (run["tcp_survived"], run["tcp_errors"], run["invalid"]) == (2, ["ECONNRESET"], 7)
    assert (run["udp_lost"], run["udp_seen"], run["udp_port_kept"]) == (5, 2, 1)
