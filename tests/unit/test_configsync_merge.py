"""What a node takes from its peer's configuration: shared settings yes,
node-local ones never, the opposite priority; diffs that hide secrets."""

from __future__ import annotations

from dataclasses import replace

from hacore.config.model import Interface, NatKind, NatRule
from hacore.config.parse import digest, parse
from hacore.config.validate import check
from hacore.configsync.merge import diff, merge, sections
from tests.unit.lab_config import NODE1, NODE2

N1, N2 = parse(NODE1), parse(NODE2)


def test_the_receiver_keeps_its_own_and_takes_the_rest() -> None:
    sender = replace(N1, cluster=replace(N1.cluster, update_trigger_delay_s=3.0),
                     interfaces=(*N1.interfaces, Interface("lan9", addresses=("192.0.2.201/24",))))
    text, kept = merge(sender, N2)
    got, _ = check(text)
    assert got.cluster.update_trigger_delay_s == 3.0  # shared: taken
    assert digest(got) == digest(sender)  # every shared setting equal: synchronized
    assert got.node.name == "node2" and got.node.directory_account == "fw-node2"  # node-local: kept
    assert got.node.priority.value == "low"  # the opposite of the High sender
    assert got.interface("lan1").addresses == N2.interface("lan1").addresses  # type: ignore[union-attr]
    assert got.interface("lan9").addresses == ()  # type: ignore[union-attr]  # new: arrives without addresses
    assert got.cluster.hotwire.local_address == N2.cluster.hotwire.local_address
    assert got.cluster.hotwire.remote_address == N2.cluster.hotwire.remote_address
    assert {"node.name", "interfaces[lan1].addresses", "cluster.hotwire.local_address"} <= set(kept)


def test_a_high_spare_that_sends_makes_the_receiver_low_and_the_other_way() -> None:
    spare_high = replace(N2, node=replace(N2.node, priority=N1.node.priority))
    text, _ = merge(spare_high, N1)
    assert check(text)[0].node.priority.value == "low"
    text, _ = merge(replace(N2), N1)  # a Low sender makes the receiver High
    assert check(text)[0].node.priority.value == "high"


def test_a_diff_shows_changes_masks_secrets_and_marks_what_stays() -> None:
    sender = replace(N1, cluster=replace(N1.cluster, passphrase="new secret words", update_trigger_delay_s=3.0))
    text, kept = merge(sender, N2)
    out = diff(N2, check(text)[0], kept, "node2", "after sync")
    assert "insecure" not in out and "new secret words" not in out
    assert '-cluster.passphrase = "<secret ' in out and '+cluster.passphrase = "<secret ' in out
    assert "+cluster.update_trigger_delay_s = 3.0" in out
    kept_part = out.split("# node-local, kept as they are here:\n")[1]
    assert '  node.directory_account = "fw-node2"' in kept_part and "node.priority" not in kept_part
    assert sections(N2, sender) == ["cluster.passphrase", "cluster.update_trigger_delay_s"]
    assert sections(N2, N1) == []  # differ only in node-local settings: synchronized


def test_the_receiver_takes_the_senders_text_with_its_comments() -> None:
    commented = NODE1.replace("min_hold_s = 5.0", "min_hold_s = 5.0  # the core switch needs 4 s")
    text, _ = merge(parse(commented), N2, commented)
    assert "min_hold_s = 5.0  # the core switch needs 4 s" in text
    got, _ = check(text)
    assert got.node == N2.node.__class__(**{**vars(N2.node)}) and got.interfaces == N2.interfaces
    assert digest(got) == digest(N1)


def test_a_diff_names_an_added_port_forward_as_added() -> None:
    forward = NatRule(kind=NatKind.DNAT, interface="lan1", to="ha-external-ip", port=443, target="internal-net")
    sender = replace(N1, nat=(*N1.nat, forward))
    text, kept = merge(sender, N2)
    out = diff(N2, check(text)[0], kept, "node2", "after sync")
    changed = [line for line in out.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed and all(line.startswith("+nat[dnat lan1 tcp/443].") for line in changed), changed
    assert "+nat[dnat lan1 tcp/443].port = 443" in changed


def test_a_synchronize_is_refused_only_when_it_would_lose_a_change_the_sender_has_not_seen() -> None:
    from hacore.configsync.conflict import refusal

    assert refusal("node2", "node1", "b", "b", [], [], True) == ""  # equal content is never a conflict
    assert refusal("node2", "node1", "b", "c", ["b"], [], True) == ""  # the sender had ours: it is newer
    assert refusal("node2", "node1", "b", "c", [], [], False) == ""  # never synchronized: nothing to lose
    assert refusal("node2", "node1", "b", "a", ["a"], ["a"], True).startswith(
        "node2 has a newer configuration than node1")
    assert refusal("node2", "node1", "b", "c", ["a"], ["a"], True).startswith("conflict: both nodes changed")
