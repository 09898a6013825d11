"""The seed's set-up, end to end in the lab: the wizard on node1 driven in a terminal (one wrong answer
refused and asked again), the spare's wizard by flags, the keys exchanged as the wizard says, one
synchronize, the cluster switched on on both - and the pair forms without a hand-written line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pexpect

from hacore_lab import netns
from hacore_lab.topology import Lab
from hacore_lab.wait import wait_until
from tests.netns.conftest import hacore, info


def _wizard_argv(lab: Lab, node: str, *args: str) -> list[str]:
    d = lab.node_dir(node)
    return netns.exec_argv(lab, node, [sys.executable, "-m", "hacore", "--socket", str(lab.socket(node)), "cluster",
                                       "wizard", "-c", str(d / "hacore.toml"), "--state-dir", str(d / "state"),
                                       "--node", node, *args])


def _by_flags(lab: Lab, node: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The wizard as a script runs it: no terminal."""
    return subprocess.run(_wizard_argv(lab, node, *args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, check=False)


def _master_in_a_terminal(lab: Lab) -> str:
    argv = _wizard_argv(lab, "node1")
    child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", timeout=60)
    try:
        for prompt, answer in [("Step 1 of 5", None), ("hotwire interface", "eth9"), ("local address", "198.18.0.2/24"),
                               ("spare's address", "198.18.0.3"), ("refused: hotwire interface 'eth9' does not exist",
                                                                   None),
                               ("hotwire interface", "lan3"), ("local address on lan3", ""), ("spare's address", ""),
                               ("Step 2 of 5", None), ("HA interface", "lan1"), ("virtual IPs on lan1",
                                                                                   "198.51.100.101/24"),
                               ("empty: done", "lan2"), ("virtual IPs on lan2", "203.0.113.1/24"),
                               ("empty: done", ""), ("Step 3 of 5", None), ("disabled while in backup", ""),
                               ("Step 4 of 5", None), ("applications disabled while in backup", ""),
                               ("Step 5 of 5", None), ("priority", ""), ("passphrase", "insecure"),
                               ("confirmation", "insecure"), ("will hold", None), ("Save it to", "y")]:
            child.expect_exact(prompt)
            if answer is not None:
                child.sendline(answer)
        child.expect(r"public SSH key: (ssh-ed25519 \S+ \S+)")
        key = child.match.group(1)
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    return key


def test_the_seeds_wizard_then_its_spare_make_a_pair_that_forms(lab: Lab) -> None:
    for node in ("node1", "node2"):
        (lab.node_dir(node) / "hacore.toml").unlink()  # hosts with no configuration yet
    master_key = _master_in_a_terminal(lab)
    cfg1 = (lab.node_dir("node1") / "hacore.toml").read_text()
    assert 'interface = "lan3"' in cfg1 and '"203.0.113.1/24"' in cfg1 and 'priority = "high"' in cfg1

    answers = lab.node_dir("node2") / "answers.toml"  # a script's answers file, flags beside it
    answers.write_text('hotwire = "lan3"\nlocal = "198.18.0.3/24"\nremote = "198.18.0.2"\n')
    spare = _by_flags(lab, "node2", "--spare", "--answers", str(answers), "--master-key", master_key, "--yes",
                      "--json")
    assert spare.returncode == 0, spare.stderr
    out = json.loads(spare.stdout)
    assert out["next"][0].startswith("on the master: hacore cluster ssh-key set-remote ssh-ed25519")

    for node in ("node1", "node2"):
        netns.start_daemon(lab, node)
    hacore(lab, "node1", "cluster", "ssh-key", "set-remote", *out["public_key"].split())
    hacore(lab, "node1", "system", "config", "synchronize")
    for node in ("node1", "node2"):
        hacore(lab, node, "cluster", "on")
    wait_until(lambda: (info(lab, "node1")["cluster_state"], info(lab, "node2")["cluster_state"]) == (
        "master", "backup"), 20, what="node1 master, node2 backup")
    assert info(lab, "node2")["priority"] == "low"
    assert re.search(r'"203\.0\.113\.1/24"', (lab.node_dir("node2") / "hacore.toml").read_text())


def test_a_wrong_answer_by_flag_is_refused_in_one_line_and_nothing_is_written(lab: Lab) -> None:
    before = (lab.node_dir("node1") / "hacore.toml").read_text()
    done = _by_flags(lab, "node1", "--hotwire", "lan3", "--local", "198.18.0.2/24", "--remote", "198.18.0.3",
                     "--ha", "lan3=198.18.0.9/24", "--priority", "high", "--passphrase", "x", "--yes")
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("hacore: error: step 2 (ha interfaces): ") and "'lan3' is the hotwire" in line
    assert not (lab.node_dir("node1") / "state" / "ssh").exists()
    assert (lab.node_dir("node1") / "hacore.toml").read_text() == before
