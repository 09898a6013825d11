"""The election machine of one node: one VRRP group over all its HA links.

Rules: pure. Imports nothing from asyncio, socket, pyroute2 or bcc and reads
no clock: handle(event, now_us) returns actions, deadline_us() says when to
send the next Tick, counted from the instant of the last event handled (a
caller that asked with a later reading of its clock would skip a deadline
that fell due while it was busy, and the peer's death would wait for an
unrelated timer). Time is integer microseconds; an advert carries its
kernel arrival time, so master-down is measured from arrival. Every role
change goes through _enter(), which checks TRANSITIONS, counts and explains
it. Peer input that makes no sense is dropped and counted; local misuse raises.

The group rule (seed, "Switching the cluster"): the node is BACKUP while it
hears, on at least one HA link with carrier, a peer that outranks it within
the master-down interval, and MASTER otherwise; all links move together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hacore.support.counters import Schema, Spec
from hacore.vrrp import timing
from hacore.vrrp.rank import Rank

# Flap damping: a spare that took over and yielded to the peer within FLAP_WITHIN delays did so on a
# late advert, not a dead master; each such flap doubles its wait (at most DAMP_MAX times the delay),
# and DAMP_CALM_US without one restores the configured wait. Under a load the box cannot carry at the
# configured delay the spare flaps a few times, not hundreds, and a real failure then is seen at most
# DAMP_MAX delays late.
PEER_TIMEOUT = "peer timeout"
FLAP_WITHIN = 4
DAMP_MAX = 8
DAMP_CALM_US = 10_000_000

# The history's words for a split brain's start and end (the console draws the episode between them).
SPLIT_BRAIN = "split brain: both nodes master, no advert from the peer on any HA link"
SPLIT_BRAIN_OVER = "split brain over"

COUNTERS = Schema(
    "election",
    Spec("to_master", "role changes to master (failovers, preemptions, take-backs)"),
    Spec("to_backup", "role changes to backup"),
    Spec("to_none", "role changes to none (cluster off)"),
    Spec("adverts_rx", "adverts from the peer handled by the election"),
    Spec("adverts_refused", "adverts that decoded but failed authentication (a wrong key)"),
    Spec("drops_unknown_link", "adverts for a link that is not an HA link"),
    Spec("drops_own_advert", "our own adverts heard back"),
    Spec("drops_stale_advert", "adverts reordered behind a newer one"),
    Spec("flaps", "takeovers for a peer timeout that yielded to the peer at once (each doubles the wait)"),
    Spec("resign_maintenance", "hand-overs started by maintenance"),
    Spec("resign_shutdown", "hand-overs started by a shutdown"),
    Spec("takeovers_held_back", "takeovers not made because a live master's adverts fail authentication here"),
    Spec("announce_again", "GARP/NA rounds repeated to win the neighbours back in a conflict"),
    Spec("split_brains", "split brains seen (both master, no advert between them)"),
)


class Role(StrEnum):
    NONE = "none"  # cluster off
    BACKUP = "backup"
    MASTER = "master"


TRANSITIONS = {
    (Role.NONE, Role.BACKUP),  # cluster on: listen first (RFC 5798 Initialize -> Backup)
    (Role.BACKUP, Role.MASTER),
    (Role.MASTER, Role.BACKUP),
    (Role.BACKUP, Role.NONE),
    (Role.MASTER, Role.NONE),
}


# -- events -------------------------------------------------------------------

@dataclass(frozen=True)
class Advert:
    link: str
    src: bytes  # packed sender address (4 or 16 bytes)
    priority: int
    interval_us: int  # the sender's advert interval
    arrival_us: int  # kernel receive time on our monotonic clock


@dataclass(frozen=True)
class Carrier:
    link: str
    up: bool


@dataclass(frozen=True)
class Tick:
    pass


@dataclass(frozen=True)
class Enable:
    on: bool


@dataclass(frozen=True)
class Maintenance:
    on: bool


@dataclass(frozen=True)
class Ping:
    ok: bool
    target: str = ""


@dataclass(frozen=True)
class Delay:
    update_trigger_delay_us: int


@dataclass(frozen=True)
class Shutdown:
    pass


@dataclass(frozen=True)
class PeerStatus:
    """The peer's own report over the hotwire (not VRRP): what it thinks it is."""

    role: Role
    arrival_us: int
    priority: int = -1  # the rank it reports (-1: unknown)
    maintenance: bool = False


@dataclass(frozen=True)
class Announced:
    """The takeover has the VIPs up and its first GARP/NA round out: a new master may speak now. Its first
    advert before that would make the peer yield while the neighbours still point at it."""


@dataclass(frozen=True)
class Refused:
    """An advert that arrived on an HA link and decoded, but failed authentication (a wrong key)."""

    link: str
    arrival_us: int


@dataclass(frozen=True)
class SyncState:
    """Whether this node holds a complete copy of the master's conntrack table."""

    complete: bool


Event = (Advert | Carrier | Tick | Enable | Maintenance | Ping | Delay | Shutdown | PeerStatus | SyncState | Refused
         | Announced)


# -- actions ------------------------------------------------------------------

@dataclass(frozen=True)
class Send:
    priority: int  # one advert on every HA link with carrier


@dataclass(frozen=True)
class Transition:
    old: Role
    new: Role
    reason: str


@dataclass(frozen=True)
class Announce:
    """Gratuitous ARP / unsolicited NA again, without a role change."""

    reason: str


@dataclass(frozen=True)
class SplitBrain:
    active: bool
    reason: str


@dataclass(frozen=True)
class Note:
    """A decision worth a line in the history without a role change."""

    reason: str


Action = Send | Transition | Announce | SplitBrain | Note


@dataclass
class _Heard:
    link: str
    src: bytes
    priority: int
    interval_us: int
    arrival_us: int


@dataclass
class Params:
    links: tuple[str, ...]
    high: bool
    update_trigger_delay_us: int
    min_hold_us: int  # anti-flap: no voluntary change sooner than this after the last one
    ping_failures: int = 3
    local_ips: dict[tuple[str, int], bytes] = field(default_factory=dict)  # (link, 4|16) -> our source
    # A preempting node waits for a complete copy of the master's conntrack table, at most this
    # long after it became backup (0: no sync, nothing to wait for).
    sync_hold_us: int = 0
    sync_hold_forever: bool = False  # no preemption at all without the complete table


class Machine:
    def __init__(self, params: Params, now_us: int, enabled: bool = True, maintenance: bool = False):
        if not params.links:
            raise ValueError("a group needs at least one HA link")
        self.p = params
        self.role = Role.NONE
        self.enabled = enabled
        self.maintenance = maintenance
        self.shutting_down = False
        self.carrier = dict.fromkeys(params.links, True)
        self.heard: dict[str, _Heard] = {}
        self.ping_ok = True
        self._ping_streak = 0
        self._ping_failed = ""  # the target that failed last
        self.peer_status: PeerStatus | None = None
        self._peer_master_since_us: int | None = None  # start of the peer's current run of "master" reports
        self.split_brain = False
        self.sync_complete = False
        self._conflict_at_us: int | None = None  # newest sign, while master, that the peer was master too
        self.counters = COUNTERS.new()
        self.last_change_us = now_us
        self.handled_us = now_us  # the instant of the last event handled: deadlines count from here
        self._listen_until_us = now_us
        self._next_send_us = now_us
        self._resign_started_us: int | None = None
        self._kept_vips = False  # a maintenance hand-over found no taker: we keep the VIPs
        self._last_announce_us: int | None = None
        self._last_p0 = False  # the newest advert we heard was a resignation
        self._sent_priority = -1
        self._refused_us: int | None = None  # the newest advert refused for its authentication
        self.held_back = ""  # why this backup does not take over although it hears no valid advert
        self.holding = False  # a new master's adverts wait for Announced (its VIPs and first announcement)
        self._took_over_us: int | None = None  # when this master took over for a peer timeout
        self._damp, self._damped_at_us = 1, 0  # flap damping: delays a backup waits, and since when
        self._on_packet = False  # the event in hand is a packet read (not a resignation): more may wait unread
        self._timeout_due = False  # a takeover for silence was left to the Tick that follows

    # -- derived values ---------------------------------------------------------

    @property
    def advert_interval_us(self) -> int:
        """How often we send (hacore.vrrp.timing: a quarter of the delay)."""
        return timing.advert_interval_us(self.p.update_trigger_delay_us)

    def rank(self) -> Rank:
        return Rank(sum(self.carrier.values()), self.ping_ok, self.p.high)

    def priority(self) -> int:
        if not self.enabled or self.maintenance or self.shutting_down:
            return 0
        return self.rank().priority()

    def demotion(self) -> str:
        """What lowers our rank now ('' at full rank): derived, so it never outlives its cause."""
        causes = [why for why, on in (("cluster off", not self.enabled), ("shutdown", self.shutting_down),
                                      ("maintenance", self.maintenance)) if on]
        down = [lk for lk, up in self.carrier.items() if not up]
        if down:
            causes.append("link down " + ", ".join(down))
        if not self.ping_ok:
            causes.append(f"ping check failed {self._ping_failed}".rstrip())
        return "; ".join(causes)

    def _master_down_us(self, h: _Heard) -> int:
        return timing.master_down_us(self.p.update_trigger_delay_us, h.interval_us)

    def _recent(self, link: str, now_us: int) -> _Heard | None:
        """The peer's latest advert on link, if the link has carrier and it is not stale."""
        h = self.heard.get(link)
        if h is None or not self.carrier[link] or now_us >= self._stale_at_us(h):
            return None
        return h

    def _damping(self, now_us: int) -> int:
        """How many delays a backup waits now (1 unless it has been flapping)."""
        if self._damp > 1 and now_us - self._damped_at_us >= DAMP_CALM_US:
            self._damp = 1
        return self._damp

    def _stale_at_us(self, h: _Heard) -> int:
        """When the peer counts as gone if nothing newer than h comes. A backup gives it a whole wait from
        the moment it became backup too (RFC 5798 6.4.2 sets Master_Down_Timer on entering Backup): an
        advert that made a master yield but was read late must not time the peer out again at once - under
        load that turned one late advert into hundreds of flaps, each one costing the load that made the
        next advert late."""
        if self.role != Role.BACKUP:
            return h.arrival_us + self._master_down_us(h)
        return max(h.arrival_us, self.last_change_us) + self._master_down_us(h) * self._damping(self.handled_us)

    def _peer(self, now_us: int) -> _Heard | None:
        """The peer acting as master: heard recently on a link with carrier, and
        not resigned. Its rank is its newest advert on any link: an older advert
        on another link is history, not a second opinion."""
        if not any(self._recent(lk, now_us) for lk in self.p.links):
            return None
        newest = max(self.heard.values(), key=lambda h: h.arrival_us)
        return newest if newest.priority > 0 else None

    def _outranks_us(self, h: _Heard, prio: int) -> bool:
        return h.priority > prio or (h.priority == prio and h.src > self.p.local_ips.get((h.link, len(h.src)), b""))

    @property
    def done(self) -> bool:
        """After Shutdown: nothing left to hand over, the daemon may exit."""
        return self.shutting_down and self.role != Role.MASTER

    # -- the one place that changes state ------------------------------------

    def _enter(self, new: Role, reason: str, now_us: int) -> list[Action]:
        old = self.role
        if (old, new) not in TRANSITIONS:
            raise RuntimeError(f"illegal transition {old} -> {new} ({reason})")
        if old == Role.MASTER and new == Role.BACKUP and self._took_over_us is not None and (
                now_us - self._took_over_us < FLAP_WITHIN * self.p.update_trigger_delay_us):
            self._damp, self._damped_at_us = min(self._damp * 2, DAMP_MAX), now_us
            self.counters.inc("flaps")
        self._took_over_us = now_us if new == Role.MASTER and reason == PEER_TIMEOUT else None
        self.role = new
        self.last_change_us = now_us
        self.counters.inc(f"to_{new}")
        acts: list[Action] = [Transition(old, new, reason)]
        self.holding = new == Role.MASTER  # silent until Announced: the first advert follows the VIPs
        if self.holding:
            self._sent_priority = -1
        if new == Role.BACKUP and old == Role.NONE:
            self._listen_until_us = now_us + self.p.update_trigger_delay_us
        self._resign_started_us = None
        self._kept_vips = False
        self._conflict_at_us = None
        return acts

    # -- events -------------------------------------------------------------------

    def handle(self, event: Event, now_us: int) -> list[Action]:
        self.handled_us = now_us
        self._on_packet = isinstance(event, Refused) or (isinstance(event, Advert) and event.priority > 0)
        self._timeout_due = False
        acts: list[Action] = []
        match event:
            case Advert():
                acts += self._on_advert(event, now_us)
            case Carrier(link, up):
                if link not in self.carrier:
                    raise ValueError(f"unknown HA link {link!r}")
                self.carrier[link] = up
            case Enable(on):
                self.enabled = on
            case Maintenance(on):
                self._set_resigning(on, "maintenance", now_us)
                self.maintenance = on
            case Ping(ok, target):
                self._ping_streak = 0 if ok else self._ping_streak + 1
                self._ping_failed = self._ping_failed if ok else target
                self.ping_ok = ok or self._ping_streak < self.p.ping_failures
            case Delay(us):
                if us < 3:
                    raise ValueError("the delay must be at least 3 microseconds")
                self.p.update_trigger_delay_us = us
                self._next_send_us = min(self._next_send_us, now_us + self.advert_interval_us)
            case Shutdown():
                self._set_resigning(True, "shutdown", now_us)
                self.shutting_down = True
            case SyncState(complete):
                self.sync_complete = complete
            case Refused(_link, arrival_us):
                self._refused_us = arrival_us
                self.counters.inc("adverts_refused")
            case PeerStatus(role, arrival_us):
                was_master = self.peer_status is not None and self.peer_status.role == Role.MASTER
                if role != Role.MASTER:
                    self._peer_master_since_us = None
                elif not was_master or self._peer_master_since_us is None:
                    self._peer_master_since_us = arrival_us
                self.peer_status = event
            case Announced():
                self.holding = False
            case Tick():
                pass
        return acts + self._evaluate(now_us)

    def _set_resigning(self, on: bool, why: str, now_us: int) -> None:
        if not on:
            if not self.shutting_down:
                self._resign_started_us = None  # maintenance cancelled before the hand-over
                self._kept_vips = False
        elif self.role == Role.MASTER and self._resign_started_us is None:
            self._resign_started_us = now_us
            self.counters.inc(f"resign_{why}")

    def _on_advert(self, a: Advert, now_us: int) -> list[Action]:
        if a.link not in self.carrier:
            self.counters.inc("drops_unknown_link")
            return []
        if a.src == self.p.local_ips.get((a.link, len(a.src))):
            self.counters.inc("drops_own_advert")
            return []
        self.counters.inc("adverts_rx")
        prev = self.heard.get(a.link)
        if prev is not None and a.arrival_us < prev.arrival_us:
            self.counters.inc("drops_stale_advert")  # reordered behind a newer one: the newer state wins
            return []
        self.heard[a.link] = _Heard(a.link, a.src, a.priority, a.interval_us, a.arrival_us)
        self._last_p0 = a.priority == 0
        prio = self.priority()
        if self.role == Role.MASTER and a.priority > 0 and not self._outranks_us(self.heard[a.link], prio):
            # Another master that we outrank: assert at once, and re-announce the
            # addresses it may have taken while we could not be heard.
            acts: list[Action] = [self._send(prio)] if prio and not self.holding else []
            self._conflict_at_us = a.arrival_us
            last = self._last_announce_us
            if prio and (last is None or now_us - last >= self.p.update_trigger_delay_us):
                acts.append(self._announce(f"competing master with priority {a.priority} on {a.link}", now_us))
            return acts
        return []

    # -- the decision ----------------------------------------------------------------

    def _evaluate(self, now_us: int) -> list[Action]:
        acts: list[Action] = []
        if not self.enabled:
            if self.role == Role.MASTER:
                acts.append(self._send(0))
            if self.role != Role.NONE:
                acts += self._enter(Role.NONE, "cluster off", now_us)
            return acts + self._check_split_brain(now_us)
        if self.role == Role.NONE:
            acts += self._enter(Role.BACKUP, "cluster on", now_us)
        prio = self.priority()
        if self.role == Role.MASTER:
            acts += self._as_master(prio, now_us)
        elif self.role == Role.BACKUP and prio > 0:
            acts += self._as_backup(prio, now_us)
        elif self.role == Role.BACKUP and self.maintenance and not self.shutting_down:
            acts += self._as_spare_in_maintenance(now_us)
        return acts + self._check_split_brain(now_us)

    def _as_master(self, prio: int, now_us: int) -> list[Action]:
        acts: list[Action] = []
        peer = self._peer(now_us)
        if self._resign_started_us is not None:
            # Hitless hand-over: keep the addresses until the peer announces itself.
            why = "shutdown" if self.shutting_down else "maintenance"
            if peer is not None and peer.arrival_us >= self._resign_started_us:
                return self._enter(Role.BACKUP, f"{why}: peer took over on {peer.link}", now_us)
            if now_us >= self._resign_started_us + self.p.update_trigger_delay_us:
                if self.shutting_down:
                    return self._enter(Role.BACKUP, f"{why}: no peer took over within the delay", now_us)
                if not self._kept_vips:
                    # Maintenance must not strand the VIPs: keep them, still offering them (priority 0)
                    # to any peer that can take over later.
                    self._kept_vips = True
                    acts.append(Note("maintenance: no peer took over within the delay; keeping the VIPs"))
        elif peer is not None and self._outranks_us(peer, prio):
            cause = f"{self.demotion()}: " if self.demotion() else ""
            return self._enter(Role.BACKUP, f"{cause}peer priority {peer.priority} > ours {prio} on {peer.link}",
                               now_us)
        if self.holding:
            return acts
        # A changed rank goes out at once, so the peer can act within milliseconds.
        due = now_us >= self._next_send_us
        if due or prio != self._sent_priority:
            acts.append(self._send(prio))
            base = self._next_send_us if due else now_us  # a rank change restarts the schedule
            self._next_send_us = base + self.advert_interval_us
            if self._next_send_us <= now_us:  # after a stall: one advert now, no burst
                self._next_send_us = now_us + self.advert_interval_us
        return acts

    def _send(self, prio: int) -> Send:
        self._sent_priority = prio
        return Send(prio)

    def _as_backup(self, prio: int, now_us: int) -> list[Action]:
        was_held, self.held_back = self.held_back, ""
        peer = self._peer(now_us)
        if peer is not None:
            if self._outranks_us(peer, prio):
                return []
            # A live master that we outrank: preempt, but not sooner than the hold, and not before
            # we hold its connections (unless told to give up waiting after sync_hold_us).
            if now_us - self.last_change_us < self.p.min_hold_us:
                return []
            waiting = self.p.sync_hold_us > 0 and (self.p.sync_hold_forever
                                                   or now_us - self.last_change_us < self.p.sync_hold_us)
            if not self.sync_complete and waiting:
                self.held_back = ("preemption waits for a complete copy of the master's connection table"
                                  + ("" if self.p.sync_hold_forever else
                                     f" (at most {self.p.sync_hold_us / 1e6:g} s)"))
                return []
            return self._enter(Role.MASTER, f"preempt: peer priority {peer.priority} < ours {prio} on {peer.link}",
                               now_us)
        if now_us < self._listen_until_us:
            return []
        if self._refuses_live_master(now_us):
            if not was_held:
                self.counters.inc("takeovers_held_back")
            self.held_back = ("the peer is master on the hotwire but its adverts fail authentication here "
                              "(do the passphrases differ?): not taking the VIPs from it")
            return []
        if self._silence_decided_later():
            return []
        return self._enter(Role.MASTER, self._why_no_peer(), now_us)

    def _silence_decided_later(self) -> bool:
        """A packet read is no moment to declare the peer dead: an advert read late (the loop was away) is
        older than the wait while newer ones still sit unread behind it - taking over on it made every
        spare at 0.01 s take the VIPs for a moment at its start - and a forged one must not get to pick
        the moment either. The Tick due at once decides, after the caller has read every queued advert.
        A resignation (priority 0) is acted on at once: it says the peer is leaving."""
        self._timeout_due = self._on_packet
        return self._timeout_due

    def _refuses_live_master(self, now_us: int) -> bool:
        """The peer says on the hotwire, within the delay, that it is a working master, and its adverts arrive
        but fail authentication: a key mismatch, not a dead master. Taking over would make two masters."""
        s = self._peer_status_fresh(now_us)
        return (s is not None and s.role == Role.MASTER and s.priority > 0 and self._refused_us is not None
                and now_us < self._refused_us + self.p.update_trigger_delay_us)

    def _as_spare_in_maintenance(self, now_us: int) -> list[Action]:
        """Maintenance hands the VIPs over; it never leaves them nowhere. A master that resigns
        (priority 0) still holds them, so only silence on every link makes us take them back."""
        if now_us < self._listen_until_us or any(self._recent(lk, now_us) for lk in self.p.links):
            return []
        if self._peer_claims_master(now_us):
            return []  # VRRP lost but the peer holds them: a second master would split the brain
        if self._silence_decided_later():
            return []
        return self._enter(Role.MASTER, "maintenance: no peer holds the VIPs; taking them back", now_us)

    def _why_no_peer(self) -> str:
        if not self.heard:
            return "no peer heard within the delay"
        if self._last_p0:
            return "priority 0 received"
        dark = [lk for lk in self.heard if not self.carrier[lk]]
        if dark and all(not self.carrier[lk] for lk in self.heard):
            return "link down " + ", ".join(dark)
        return PEER_TIMEOUT

    def _peer_status_fresh(self, now_us: int) -> PeerStatus | None:
        """The peer's status on the hotwire if it came within the delay: the one freshness rule for it."""
        s = self.peer_status
        return s if s is not None and now_us < s.arrival_us + self.p.update_trigger_delay_us else None

    def maintenance_refusal(self, now_us: int) -> str:
        """Why this node must not go into maintenance now ("" when it may): a master hands the VIPs over
        only to a healthy backup, one that says so on the hotwire within the delay."""
        if self.maintenance or self.role != Role.MASTER:
            return ""
        s = self._peer_status_fresh(now_us)
        if s is not None and s.role == Role.BACKUP and not s.maintenance and s.priority > 0:
            return ""
        what = (f"no status on the hotwire within {self.p.update_trigger_delay_us / 1e3:.0f} ms" if s is None else
                f"{s.role}, priority {s.priority}" + (", in maintenance" if s.maintenance else ""))
        return f"the peer is not a healthy backup ({what})"

    def _peer_claims_master(self, now_us: int) -> bool:
        """The hotwire says the peer is master now. It must say so after our last change: the last
        word of a peer that just died was "master" too, and that is a takeover, not a conflict."""
        s = self._peer_status_fresh(now_us)
        return s is not None and s.role == Role.MASTER and s.arrival_us > self.last_change_us

    def _announce(self, reason: str, now_us: int) -> Announce:
        self._last_announce_us = now_us
        self.counters.inc("announce_again")
        return Announce(reason)

    def _check_split_brain(self, now_us: int) -> list[Action]:
        acts: list[Action] = []
        peer_master = self._peer_claims_master(now_us)
        s = self.peer_status
        if self.role != Role.MASTER:
            self._conflict_at_us = None
        elif peer_master and s is not None:
            self._conflict_at_us = max(self._conflict_at_us or 0, s.arrival_us)
            # Both master (VRRP lost between us): the one that outranks keeps claiming the neighbours,
            # so traffic - and its conntrack state - stays on one node and the heal costs nothing.
            last = self._last_announce_us
            if s.priority < self.priority() and (last is None or now_us - last >= self.p.update_trigger_delay_us):
                acts.append(self._announce(f"conflict: the peer is master too, with priority {s.priority}", now_us))
        elif (self._conflict_at_us is not None and s is not None and s.role != Role.MASTER
              and s.arrival_us > self._conflict_at_us):
            # The peer says it is no longer master, after the conflict: we are the only one left,
            # and the neighbours may still point at the peer's MAC.
            self._conflict_at_us = None
            acts.append(self._announce("conflict over: the peer is backup", now_us))
        # Split brain is a conflict that lasts: both master, and no advert from the peer, now or
        # when it said so, for a whole delay after it began saying so. A hand-over (the new
        # master's first advert follows its status within milliseconds) is not one.
        since = self._peer_master_since_us
        heard_any = any(self._recent(lk, now_us) or (s is not None and self._recent(lk, s.arrival_us))
                        for lk in self.p.links)
        active = (self.role == Role.MASTER and peer_master and not heard_any and since is not None
                  and now_us >= max(since, self.last_change_us) + self.p.update_trigger_delay_us)
        if active == self.split_brain:
            return acts
        self.split_brain = active
        if active:
            self.counters.inc("split_brains")
            return [*acts, SplitBrain(True, SPLIT_BRAIN)]
        return [*acts, SplitBrain(False, SPLIT_BRAIN_OVER)]

    # -- timers ------------------------------------------------------------------------

    def deadline_us(self) -> int | None:
        """When the next Tick must come (None: only an event can change anything). It may already be
        past the caller's clock: then the Tick is due at once."""
        now_us = self.handled_us
        if self._timeout_due:
            return now_us
        times: list[int] = []
        if self.role == Role.MASTER and not self.holding:
            times.append(self._next_send_us)
            if self._resign_started_us is not None:
                times.append(self._resign_started_us + self.p.update_trigger_delay_us)
        if self.role == Role.BACKUP:
            times.append(self._listen_until_us)
            times.append(self.last_change_us + self.p.min_hold_us)
            if not self.sync_complete:
                times.append(self.last_change_us + self.p.sync_hold_us)
        for lk, h in self.heard.items():
            if self.carrier[lk]:
                times.append(self._stale_at_us(h))
        if self.peer_status is not None:
            times.append(self.peer_status.arrival_us + self.p.update_trigger_delay_us)
        if self._refused_us is not None:
            times.append(self._refused_us + self.p.update_trigger_delay_us)
        if self._peer_master_since_us is not None:
            times.append(max(self._peer_master_since_us, self.last_change_us) + self.p.update_trigger_delay_us)
        if self._conflict_at_us is not None and self._last_announce_us is not None:
            times.append(self._last_announce_us + self.p.update_trigger_delay_us)
        future = [t for t in times if t > now_us]
        return min(future) if future else None
