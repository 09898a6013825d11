"""The election machine over a fake wire with a fake clock: the seed's tables
row for row, preemption, resignation, maintenance, fallback, anti-flap, stalls."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hacore.vrrp.machine import (
    DAMP_CALM_US,
    Advert,
    Announce,
    Announced,
    Carrier,
    Delay,
    Enable,
    Machine,
    Maintenance,
    Note,
    Params,
    Ping,
    Refused,
    Role,
    Send,
    Shutdown,
    SplitBrain,
    SyncState,
    Tick,
    Transition,
)
from hacore.vrrp.rank import Rank, decode
from tests.unit.sim import IPS, LINKS, MS, WIRE_LATENCY_US, S, Sim, formed


def test_the_high_node_is_elected() -> None:
    sim = Sim()
    sim.run(3 * S)
    assert sim.roles() == ("master", "backup")
    assert sim.transitions("n1")[-1].reason == "no peer heard within the delay"


# The seed's "Table, behavior in the cluster, example two HA interfaces"; UTM 1 = n1 (High).
# (HA1 n1, HA1 n2, HA2 n1, HA2 n2) carrier -> (n1, n2) role; split brain where both are active.
SEED_TABLE = [
    ((True, True, True, True), ("master", "backup"), False),
    ((False, True, True, True), ("backup", "master"), False),
    ((False, False, True, True), ("master", "backup"), False),
    ((False, False, True, False), ("master", "master"), True),
    ((False, False, False, False), ("master", "master"), True),
]


@pytest.mark.parametrize(("carrier", "roles", "split"), SEED_TABLE, ids=[f"row{i + 1}" for i in range(5)])
def test_seed_switching_table(carrier: tuple[bool, ...], roles: tuple[str, str], split: bool) -> None:
    sim = formed()
    for (node, link), up in zip([("n1", "lan1"), ("n2", "lan1"), ("n1", "lan2"), ("n2", "lan2")], carrier,
                                strict=True):
        if not up:
            sim.set_carrier(node, link, False)
    sim.run(3 * sim.utd_us)
    assert sim.roles() == roles
    assert bool(sim.of(SplitBrain)) == split
    # Links back: exactly one master again, the High one, and any split brain is declared over.
    for node, link in [("n1", "lan1"), ("n2", "lan1"), ("n1", "lan2"), ("n2", "lan2")]:
        sim.set_carrier(node, link, True)
    sim.run(sim.hold_us + 3 * sim.utd_us)
    assert sim.roles() == ("master", "backup")
    for node in ("n1", "n2"):  # each node detects it, and declares it over
        assert [e.action.active for e in sim.of(SplitBrain, node)] == ([True, False] if split else [])


def test_row2_reasons_name_the_link() -> None:
    sim = formed()
    sim.set_carrier("n1", "lan1", False)
    sim.run(3 * sim.utd_us)
    assert sim.transitions("n2")[-1].reason == "preempt: peer priority 28 < ours 51 on lan2"
    assert sim.transitions("n1")[-1].reason == "link down lan1: peer priority 51 > ours 28 on lan2"


def test_both_links_down_on_the_spare_reports_link_down() -> None:
    sim = formed()
    sim.set_carrier("n2", "lan1", False)
    sim.set_carrier("n2", "lan2", False)
    sim.run(sim.utd_us)
    assert sim.transitions("n2")[-1].reason == "link down lan1, lan2"


def test_vrrp_lost_with_links_up_is_split_brain_via_the_hotwire() -> None:
    sim = formed()
    sim.blocked |= set(LINKS)
    sim.run(3 * sim.utd_us)
    assert sim.roles() == ("master", "master")
    assert sim.transitions("n2")[-1].reason == "peer timeout"
    assert len(sim.of(SplitBrain, "n1")) == 1 and len(sim.of(SplitBrain, "n2")) == 1
    healed = sim.now
    sim.blocked.clear()
    sim.run(3 * sim.utd_us)
    assert sim.roles() == ("master", "backup")
    # n2 took the neighbours while it was master: n1, the one left, re-announces after n2 yielded.
    n2_yield = sim.last_transition("n2").at_us
    assert n2_yield >= healed
    assert [e for e in sim.of(Announce, "n1") if e.at_us >= n2_yield]


def test_a_healed_split_brain_is_re_announced_whichever_advert_crosses_first() -> None:
    for offset_ms in range(0, 700, 50):  # heal at every phase of the two advert schedules
        sim = formed()
        sim.blocked |= set(LINKS)
        sim.run(3 * sim.utd_us + offset_ms * MS)
        assert sim.roles() == ("master", "master")
        sim.blocked.clear()
        sim.run(2 * sim.utd_us)
        assert sim.roles() == ("master", "backup")
        n2_yield = sim.last_transition("n2").at_us
        assert [e for e in sim.of(Announce, "n1") if e.at_us >= n2_yield], offset_ms


def test_master_crash_takes_over_within_the_delay_of_the_last_advert() -> None:
    sim = formed()
    crash_at = sim.now
    last_advert = max(e.at_us for e in sim.of(Send, "n1"))
    sim.crash("n1")
    sim.run(3 * sim.utd_us)
    takeover = sim.last_transition("n2")
    assert sim.roles() == ("down", "master")
    assert takeover.action.reason == "peer timeout"
    assert takeover.at_us == last_advert + 100 + sim.utd_us  # arrival + master-down, to the microsecond
    assert takeover.at_us <= crash_at + WIRE_LATENCY_US + sim.utd_us  # an advert may leave as it crashes
    assert sim.of(SplitBrain) == []  # the dead master's last status said "master": not a split brain


def test_the_high_node_takes_back_after_the_hold() -> None:
    sim = formed()
    sim.crash("n1")
    sim.run(3 * sim.utd_us)
    restart = sim.now
    sim.start("n1")
    sim.run(sim.hold_us - 1)
    assert sim.roles() == ("backup", "master")  # not before the hold: its state must sync first
    sim.run(sim.utd_us)
    assert sim.roles() == ("master", "backup")
    assert sim.last_transition("n1").at_us == restart + sim.hold_us
    assert sim.transitions("n2")[-1].reason == "peer priority 52 > ours 51 on lan1"
    assert sim.of(SplitBrain) == []


def test_a_preemption_whose_first_advert_is_late_is_no_split_brain() -> None:
    sim = formed()
    sim.crash("n1")
    sim.run(3 * sim.utd_us)
    sim.start("n1")
    sim.run(sim.hold_us - 1)
    # n1 preempts, but its adverts wait (VIPs and GARP first) while its status says master.
    sim.blocked |= set(LINKS)
    sim.run(sim.utd_us // 3 + 10 * MS)
    assert sim.roles() == ("master", "master")
    sim.blocked.clear()
    sim.run(sim.utd_us)
    assert sim.roles() == ("master", "backup")
    assert sim.of(SplitBrain) == []


def test_priority_zero_resign_hands_over_at_once_and_hitless() -> None:
    sim = formed()
    t0 = sim.now
    sim.deliver("n1", Shutdown())
    sim.run(10 * MS)
    assert sim.roles() == ("backup", "master")
    assert sim.last_transition("n2").action.reason == "priority 0 received"
    assert sim.last_transition("n2").at_us == t0 + 100  # one wire latency, not the master-down interval
    # n1 kept its addresses until n2 announced itself.
    assert sim.last_transition("n1").at_us == t0 + 200
    assert sim.last_transition("n1").action.reason == "shutdown: peer took over on lan1"
    assert sim.nodes["n1"].done


def test_maintenance_switches_over_stays_and_returns() -> None:
    sim = formed()
    sim.deliver("n1", Maintenance(True))
    sim.run(sim.hold_us + 3 * sim.utd_us)
    assert sim.roles() == ("backup", "master")
    assert sim.transitions("n1")[-1].reason == "maintenance: peer took over on lan1"
    assert sim.nodes["n1"].priority() == 0
    sim.deliver("n1", Maintenance(False))
    sim.run(sim.hold_us + sim.utd_us)
    assert sim.roles() == ("master", "backup")


def test_maintenance_without_a_taker_keeps_the_vips_and_hands_over_when_one_returns() -> None:
    sim = formed()
    sim.crash("n2")
    t0 = sim.now
    sim.deliver("n1", Maintenance(True))
    sim.run(3 * sim.utd_us)
    assert sim.roles() == ("master", "down")  # nobody took them: they stay where they are
    notes = sim.of(Note, "n1")
    assert [(n.at_us, n.action.reason) for n in notes] == [
        (t0 + sim.utd_us, "maintenance: no peer took over within the delay; keeping the VIPs")]
    assert {e.action.priority for e in sim.of(Send, "n1") if e.at_us > t0} == {0}  # still offered (t0's own may not)
    sim.start("n2")
    sim.run(2 * sim.utd_us)
    assert sim.roles() == ("backup", "master")
    assert sim.transitions("n1")[-1].reason == "maintenance: peer took over on lan1"


def test_a_spare_in_maintenance_takes_the_vips_back_when_the_master_dies() -> None:
    sim = formed()
    sim.deliver("n2", Maintenance(True))
    sim.run(sim.utd_us)
    sim.crash("n1")
    sim.run(3 * sim.utd_us)
    assert sim.roles() == ("down", "master")
    assert sim.transitions("n2")[-1].reason == "maintenance: no peer holds the VIPs; taking them back"
    sim.start("n1")  # the High node returns and takes them, the maintenance node yields at once
    sim.run(sim.hold_us + 2 * sim.utd_us)
    assert sim.roles() == ("master", "backup")


def test_both_nodes_in_maintenance_leave_exactly_one_master() -> None:
    sim = formed()
    sim.deliver("n2", Maintenance(True))
    sim.deliver("n1", Maintenance(True))
    sim.run(4 * sim.utd_us)
    assert sim.roles() == ("master", "backup")
    assert sim.of(SplitBrain) == []


def test_maintenance_persisted_keeps_a_restarted_node_backup() -> None:
    sim = formed()
    sim.crash("n1")
    sim.run(sim.utd_us + MS)
    restart = sim.now
    sim.start("n1", maintenance=True)
    sim.run(sim.hold_us + 3 * sim.utd_us)
    assert sim.roles() == ("backup", "master")
    assert [e for e in sim.of(Send, "n1") if e.at_us >= restart] == []  # not one advert


def test_fallback_ping_check() -> None:
    sim = formed()
    for _ in range(3):
        sim.deliver("n1", Ping(False, "198.19.0.10"))
    sim.run(sim.utd_us)
    assert sim.roles() == ("backup", "master")
    assert sim.transitions("n1")[-1].reason.startswith("ping check failed 198.19.0.10: ")
    # Seed: the spare's check fails too -> both equally affected, the priority decides.
    for _ in range(3):
        sim.deliver("n2", Ping(False, "198.19.0.10"))
    sim.run(sim.hold_us + sim.utd_us)
    assert sim.roles() == ("master", "backup")


def test_one_lost_ping_is_not_a_failed_check() -> None:
    sim = formed()
    sim.deliver("n1", Ping(False, "198.19.0.10"))
    sim.deliver("n1", Ping(True, "198.19.0.10"))
    sim.deliver("n1", Ping(False, "198.19.0.10"))
    sim.run(sim.utd_us)
    assert sim.roles() == ("master", "backup")


def test_a_flapping_link_switches_once_and_back_once() -> None:
    sim = formed()
    before = len(sim.transitions("n2"))
    for _ in range(20):
        sim.set_carrier("n1", "lan1", False)
        sim.run(50 * MS)
        sim.set_carrier("n1", "lan1", True)
        sim.run(50 * MS)
    sim.run(sim.hold_us + sim.utd_us)
    assert sim.roles() == ("master", "backup")
    assert [t.new for t in sim.transitions("n2")[before:]] == ["master", "backup"]  # not 40 switches


def test_stalled_master_resumes_into_exactly_one_master_without_a_garp_burst() -> None:
    sim = formed()
    sim.stalled.add("n1")
    sim.run(3 * sim.utd_us)
    assert sim.roles()[1] == "master"
    queued = len(sim._held)
    assert queued > 5
    t_resume = sim.now
    sim.resume("n1")
    sim.run(10 * MS)
    assert sim.roles() == ("master", "backup")
    announces = [e for e in sim.of(Announce, "n1") if e.at_us >= t_resume]
    assert len(announces) == 1  # one re-announce, not one per queued advert
    sim.run(3 * sim.utd_us)
    assert sim.roles() == ("master", "backup")


def test_a_better_master_already_in_charge_is_obeyed_at_once() -> None:
    sim = formed()
    sim.crash("n1")
    sim.run(sim.utd_us + MS)
    sim.stalled.add("n2")  # n2 master, stalls; n1 comes back and takes over after its hold
    sim.start("n1")
    sim.run(sim.hold_us + sim.utd_us)
    t_resume = sim.now
    sim.resume("n2")
    sim.run(MS)
    assert sim.roles() == ("master", "backup")
    assert sim.last_transition("n2").at_us == t_resume


def test_cluster_off_on_the_master_resigns_and_the_spare_takes_over() -> None:
    sim = formed()
    sim.deliver("n1", Enable(False))
    sim.run(10 * MS)
    assert sim.roles() == ("none", "master")
    assert sim.transitions("n2")[-1].reason == "priority 0 received"


def test_rank_round_trips_through_the_priority_byte() -> None:
    for links in range(11):
        for ping in (True, False):
            for high in (True, False):
                assert decode(Rank(links, ping, high).priority()) == Rank(links, ping, high)
    assert decode(0) is None
    assert Rank(10, True, True).priority() == 244


def _machine() -> Machine:
    return Machine(Params(LINKS, True, 2 * S, 5 * S, local_ips={("lan1", 4): IPS["n1"]}), 0)


def test_nonsense_from_peers_is_dropped_and_counted() -> None:
    m = _machine()
    m.handle(Advert("eth9", IPS["n2"], 200, S, 0), 0)
    m.handle(Advert("lan1", IPS["n1"], 200, S, 0), 0)  # our own advert looped back
    m.handle(Advert("lan1", IPS["n2"], 200, S, 500), 500)
    m.handle(Advert("lan1", IPS["n2"], 200, S, 400), 600)  # arrived before the one we have
    assert m.counters["drops_unknown_link"] == 1
    assert m.counters["drops_own_advert"] == 1
    assert m.counters["drops_stale_advert"] == 1
    assert m.counters["adverts_rx"] == 2


def test_local_misuse_raises() -> None:
    m = _machine()
    with pytest.raises(ValueError, match="unknown HA link"):
        m.handle(Carrier("eth9", False), 0)
    with pytest.raises(ValueError, match="at least 3 microseconds"):
        m.handle(Delay(0), 0)
    with pytest.raises(ValueError, match="at least one HA link"):
        Machine(Params((), True, S, S), 0)


def test_a_new_delay_changes_the_advert_interval_live() -> None:
    m = _machine()
    m.handle(Tick(), 0)
    m.handle(Tick(), 2 * S)
    assert m.role == "master"
    m.handle(Announced(), 2 * S)
    m.handle(Delay(600 * MS), 2 * S)
    sends = [t for t in range(2 * S, 4 * S, MS) if any(isinstance(a, Send) for a in m.handle(Tick(), t))]
    assert sends[1] - sends[0] == 150 * MS  # a quarter of the new delay


def test_a_new_master_advertises_only_once_its_vips_and_first_announcement_are_out() -> None:
    """Its first advert before that would make the peer yield while the neighbours still point at the peer."""
    m = _machine()
    m.handle(Tick(), 0)
    acts = m.handle(Tick(), 2 * S)
    assert m.role == "master" and not [a for a in acts if isinstance(a, Send)]
    assert m.deadline_us() is None or m.deadline_us() > 2 * S  # holding does not spin the timer
    assert not [a for a in m.handle(Tick(), 2 * S + 600 * MS) if isinstance(a, Send)]  # an interval later: still
    assert [a for a in m.handle(Announced(), 2 * S + 700 * MS) if isinstance(a, Send)] == [Send(m.priority())]
    assert m.deadline_us() == 2 * S + 700 * MS + m.advert_interval_us


def test_a_competing_master_does_not_make_a_holding_master_speak_early() -> None:
    m = _machine()
    m.handle(Tick(), 0)
    m.handle(Tick(), 2 * S)
    assert m.role == "master" and m.holding
    acts = m.handle(Advert("lan1", b"\xc6\x33\x64\x67", 51, 600 * MS, 2 * S + 10 * MS), 2 * S + 10 * MS)
    assert not [a for a in acts if isinstance(a, Send)]


def test_the_takeover_time_delays_the_first_advert_and_nothing_else() -> None:
    sim = Sim(takeover_us=300 * MS)
    sim.crash("n1")
    sim.run(3 * S)
    became = next(e.at_us for e in sim.log if e.node == "n2" and isinstance(e.action, Transition)
                  and e.action.new == Role.MASTER)
    first = min(e.at_us for e in sim.of(Send, "n2") if e.at_us >= became)
    assert first == became + 300 * MS


def test_maintenance_is_refused_unless_the_peer_is_a_fresh_healthy_backup() -> None:
    """One freshness rule for the peer's status: the machine's (within the delay)."""
    sim = Sim()
    sim.run(10 * S)
    n1 = sim.nodes["n1"]
    assert n1.role == "master" and n1.maintenance_refusal(sim.now) == ""
    sim.hotwire_up = False
    sim.run(sim.utd_us)
    assert n1.maintenance_refusal(sim.now).startswith("the peer is not a healthy backup (no status on the hotwire")
    sim.hotwire_up = True
    sim.deliver("n2", Maintenance(True))
    sim.run(S)
    assert n1.maintenance_refusal(sim.now) == "the peer is not a healthy backup (backup, priority 0, in maintenance)"
    assert sim.nodes["n2"].maintenance_refusal(sim.now) == ""  # a backup may always step aside


def test_a_deadline_due_while_the_caller_was_busy_is_not_skipped() -> None:
    """Found in the lab: the peer's adverts on two links arrive 131 us apart, so their master-down
    deadlines are 131 us apart. The Tick for the first finds the peer still alive on the second; the
    next deadline must be the second's even when the caller's clock has already passed it, or the
    takeover waits for an unrelated timer (or, with none left, forever)."""
    m = Machine(Params(LINKS, high=False, update_trigger_delay_us=2 * S, min_hold_us=1 * S,
                       local_ips={(lk, 4): IPS["n2"] for lk in LINKS}), 0)
    m.handle(Tick(), 0)
    t = 3 * S
    m.handle(Advert("lan1", IPS["n1"], 52, 670 * MS, t), t)
    m.handle(Advert("lan2", IPS["n1"], 52, 670 * MS, t + 131), t + 131)
    first = m.deadline_us()
    assert first == t + 2010 * MS
    assert m.handle(Tick(), first) == []  # still heard on lan2
    assert m.deadline_us() == t + 131 + 2010 * MS  # not skipped, however late the caller asks
    takeover = m.handle(Tick(), t + 131 + 2010 * MS)
    assert [a.new for a in takeover if isinstance(a, Transition)] == [Role.MASTER]


def test_the_demotion_text_says_only_what_is_true_now() -> None:
    sim = formed()
    sim.set_carrier("n1", "lan2", False)
    assert sim.nodes["n1"].demotion() == "link down lan2"
    for _ in range(3):
        sim.deliver("n1", Ping(False, "198.19.0.10"))
    assert sim.nodes["n1"].demotion() == "link down lan2; ping check failed 198.19.0.10"
    sim.set_carrier("n1", "lan2", True)
    sim.deliver("n1", Ping(True, "198.19.0.10"))
    assert sim.nodes["n1"].demotion() == ""
    sim.deliver("n1", Maintenance(True))
    assert sim.nodes["n1"].demotion() == "maintenance"


def test_a_backup_that_refuses_a_live_masters_adverts_holds_back_and_says_why() -> None:
    # Another passphrase on n1: its adverts arrive and fail authentication, but the hotwire says it is
    # a working master. Taking its VIPs would make two masters.
    sim = formed()
    sim.wrong_key.add("n1")
    sim.run(5 * sim.utd_us)
    assert sim.roles() == ("master", "backup")
    assert "adverts fail authentication" in sim.nodes["n2"].held_back
    assert sim.nodes["n2"].counters["takeovers_held_back"] == 1 and not sim.of(SplitBrain)
    # The master really dies: its status and its refused adverts stop, and n2 takes over.
    sim.crash("n1")
    sim.run(2 * sim.utd_us)
    assert sim.roles() == ("down", "master") and sim.nodes["n2"].held_back == ""


def test_refused_adverts_without_the_hotwire_are_a_dead_master() -> None:
    sim = formed()
    sim.wrong_key.add("n1")
    sim.hotwire_up = False
    sim.run(3 * sim.utd_us)
    assert sim.roles() == ("master", "master")  # nothing says the peer lives: as without adverts at all


@pytest.mark.parametrize("forever", [True, False], ids=["default", "preempt_incomplete"])
def test_a_returning_high_node_preempts_only_with_the_whole_table(forever: bool) -> None:
    sim = formed()
    sim.crash("n1")
    sim.run(2 * sim.utd_us)
    assert sim.roles() == ("down", "master")
    sim.start("n1")
    sim.nodes["n1"].p = replace(sim.nodes["n1"].p, sync_hold_us=10 * S, sync_hold_forever=forever)
    sim.run(sim.hold_us + 2 * S)  # no table yet: no preemption, and it says what it waits for
    assert sim.roles() == ("backup", "master")
    assert "complete copy of the master's connection table" in sim.nodes["n1"].held_back
    sim.run(10 * S)
    if forever:
        assert sim.roles() == ("backup", "master")  # a healthy master keeps the traffic
        sim.deliver("n1", SyncState(True))  # the copy is complete
        sim.run(sim.utd_us)
    assert sim.roles() == ("master", "backup")


def test_a_backup_gives_the_peer_a_whole_wait_from_when_it_yielded() -> None:
    """An advert read late (its kernel time nearly a delay old) makes a master yield; the peer is not timed
    out again until a whole delay after the yield - one late advert, one flap, not hundreds."""
    d = 10 * MS
    high = Machine(Params(LINKS, True, d, 0), 0)
    m = Machine(Params(LINKS, False, d, 0, local_ips={(lk, 4): IPS["n2"] for lk in LINKS}), 0)
    m.handle(Tick(), 0)
    t = 5 * d
    m.handle(Tick(), t)
    assert m.role == Role.MASTER  # nobody heard
    late = [Advert(lk, IPS["n1"], high.priority(), d, t - d + MS) for lk in LINKS]
    for advert in late:
        m.handle(advert, t)
    assert m.role == Role.BACKUP
    assert not [a for a in m.handle(Tick(), t + 3 * MS) if isinstance(a, Transition)]
    assert m.deadline_us() == t + d
    assert [a.reason for a in m.handle(Tick(), t + d) if isinstance(a, Transition)] == ["peer timeout"]


def test_a_spare_that_keeps_yielding_at_once_waits_longer_and_calms_down() -> None:
    """Each takeover for a peer timeout that yields to the live peer within a few delays doubles the wait
    (at most DAMP_MAX delays); a calm spell restores it. A storm of late adverts costs a few flaps."""
    d = 10 * MS
    high = Machine(Params(LINKS, True, d, 0), 0)
    m = Machine(Params(LINKS, False, d, 0, local_ips={(lk, 4): IPS["n2"] for lk in LINKS}), 0)
    m.handle(Tick(), 0)
    t = 0
    waits = []
    for _ in range(5):
        for lk in LINKS:  # the peer is heard, then falls silent: the spare takes over when its wait ends
            m.handle(Advert(lk, IPS["n1"], high.priority(), d, t), t)
        deadline = m.deadline_us()
        assert deadline is not None
        waits.append(deadline - t)
        acts = m.handle(Tick(), deadline)
        assert [a.reason for a in acts if isinstance(a, Transition)] == ["peer timeout"]
        t = deadline + MS  # the live peer's next advert: yield at once
        m.handle(Advert("lan1", IPS["n1"], high.priority(), d, t), t)
        assert m.role == Role.BACKUP
    assert waits == [d, 2 * d, 4 * d, 8 * d, 8 * d] and m.counters["flaps"] == 5
    calm = t + DAMP_CALM_US
    m.handle(Advert("lan1", IPS["n1"], high.priority(), d, calm), calm)
    assert m.deadline_us() == calm + d


def test_an_advert_read_late_is_no_takeover_while_newer_ones_wait_unread() -> None:
    """Found in the lab at 0.01 s: a spare's loop busy with its start read the peer's adverts 17 ms late,
    the oldest first; on that one alone the peer looked dead, and the spare took the VIPs for a moment
    beside a live master. An advert decides no takeover for silence: the Tick due at once does, after
    the caller has read what waits."""
    d = 10 * MS
    m = Machine(Params(LINKS, False, d, 0, local_ips={(lk, 4): IPS["n2"] for lk in LINKS}), 0)
    m.handle(Tick(), 0)
    for lk in LINKS:
        m.handle(Advert(lk, IPS["n1"], 52, d, MS), MS)
    now = 20 * MS  # the loop comes back; adverts sent every 2.5 ms sit queued, the oldest read first
    queued = [Advert(lk, IPS["n1"], 52, d, MS + k * 2500) for k in range(1, 8) for lk in LINKS]
    assert not [a for a in m.handle(queued[0], now) if isinstance(a, Transition)]
    assert m.deadline_us() == now  # the decision is due at once, not skipped
    for advert in queued[1:]:
        assert not [a for a in m.handle(advert, now) if isinstance(a, Transition)]
    assert not [a for a in m.handle(Tick(), now) if isinstance(a, Transition)]  # the newest is 1.5 ms old
    assert m.role == Role.BACKUP
    silent = m.deadline_us()
    assert silent == queued[-1].arrival_us + d
    assert [a.reason for a in m.handle(Tick(), silent) if isinstance(a, Transition)] == ["peer timeout"]


def test_a_late_advert_alone_is_still_a_takeover_on_the_tick_that_follows() -> None:
    """The deferral costs one loop turn, never the takeover: with nothing newer waiting, the Tick due at
    once takes over; a resignation (priority 0) is acted on at the advert itself."""
    d = 10 * MS
    m = Machine(Params(LINKS, False, d, 0, local_ips={(lk, 4): IPS["n2"] for lk in LINKS}), 0)
    m.handle(Tick(), 0)
    for lk in LINKS:
        m.handle(Advert(lk, IPS["n1"], 52, d, MS), MS)
    m.handle(Advert("lan1", IPS["n1"], 52, d, 2 * MS), 30 * MS)
    assert m.role == Role.BACKUP and m.deadline_us() == 30 * MS
    assert [a.reason for a in m.handle(Tick(), 30 * MS) if isinstance(a, Transition)] == ["peer timeout"]
    p0 = Machine(Params(LINKS, False, d, 0, local_ips={(lk, 4): IPS["n2"] for lk in LINKS}), 0)
    p0.handle(Tick(), 0)
    p0.handle(Advert("lan1", IPS["n1"], 52, d, 20 * MS), 20 * MS)
    acts = p0.handle(Advert("lan1", IPS["n1"], 0, d, 22 * MS), 22 * MS)
    assert [a.reason for a in acts if isinstance(a, Transition)] == ["priority 0 received"]


def test_a_refused_advert_read_late_does_not_pick_the_moment_of_a_takeover() -> None:
    """A forged advert (refused for its authentication) read while the genuine ones wait unread behind it
    must not time the live peer out; the Tick after them decides."""
    d = 10 * MS
    m = Machine(Params(LINKS, False, d, 0, local_ips={(lk, 4): IPS["n2"] for lk in LINKS}), 0)
    m.handle(Tick(), 0)
    for lk in LINKS:
        m.handle(Advert(lk, IPS["n1"], 52, d, MS), MS)
    assert not [a for a in m.handle(Refused("lan1", 19 * MS), 20 * MS) if isinstance(a, Transition)]
    assert m.deadline_us() == 20 * MS
    m.handle(Advert("lan2", IPS["n1"], 52, d, 18 * MS), 20 * MS)  # the genuine one that waited
    assert not [a for a in m.handle(Tick(), 20 * MS) if isinstance(a, Transition)]
    assert m.role == Role.BACKUP
