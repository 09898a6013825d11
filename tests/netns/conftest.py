"""Fixtures for tests against the real kernel: a lab per test, a cleanup
registry that runs even when a test fails, and the CLI as a user runs it."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hacore.control.protocol import ControlError, request
from hacore_lab import netns
from hacore_lab.topology import NODES, Lab
from hacore_lab.wait import wait_until
from tests.conftest import is_root, need

_ids = itertools.count()
_CALL = pytest.StashKey[pytest.TestReport]()
LOG_TAIL = 80  # lines of each daemon's log shown when a test fails


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL] = report
    return report


class Cleanup:
    """Undo steps run last-in first-out; one failing does not stop the rest."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], object]]] = []

    def add(self, what: str, step: Callable[[], object]) -> None:
        self._steps.append((what, step))

    def run(self) -> list[str]:
        errors = []
        while self._steps:
            what, step = self._steps.pop()
            try:
                step()
            except Exception as exc:
                errors.append(f"{what}: {exc}")
        return errors


@pytest.fixture
def cleanup() -> Iterator[Cleanup]:
    c = Cleanup()
    yield c
    errors = c.run()
    assert not errors, f"cleanup failed: {errors}"


def _show_logs(item: pytest.Item, lab: Lab) -> None:
    """A failed test's daemon logs, before the lab (and they) go: a flake in CI explains itself."""
    report = item.stash.get(_CALL, None)
    if report is None or not report.failed:
        return
    for node in NODES:
        path = lab.node_dir(node) / "daemon.log"
        if path.exists():
            tail = path.read_text(errors="replace").splitlines()[-LOG_TAIL:]
            print(f"--- {node}: last {len(tail)} lines of {path} ---", *tail, sep="\n")


@pytest.fixture
def lab(cleanup: Cleanup, request: pytest.FixtureRequest) -> Lab:
    """A freshly built lab with a unique name, removed after the test whatever happens."""
    need(is_root(), "network namespace tests need root")
    need(shutil.which("ip") is not None, "iproute2 is not installed")
    the_lab = _new_lab(cleanup, request.node)
    netns.up(the_lab)
    return the_lab


def _new_lab(cleanup: Cleanup, item: pytest.Item) -> Lab:
    """A unique name; torn down last, its daemon logs shown first if the test failed."""
    the_lab = Lab(f"t{os.getpid()}x{next(_ids)}")
    cleanup.add(f"lab {the_lab.name}", lambda: netns.down(the_lab))
    cleanup.add("daemon logs", lambda: _show_logs(item, the_lab))
    return the_lab


def hacore(lab: Lab, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the hacore CLI against node's daemon, as an operator would."""
    proc = subprocess.run([sys.executable, "-m", "hacore", "--socket", str(lab.socket(node)), *args],
                          capture_output=True, text=True, timeout=30, check=False)
    if check and proc.returncode:
        raise AssertionError(f"hacore {' '.join(args)} failed: {proc.stderr}")
    return proc


def config_path(lab: Lab, node: str) -> Path:
    return lab.node_dir(node) / "hacore.toml"


# Short delays keep the suite quick; the behaviour is the same at any delay.
FAST = {"delay_s": 0.6, "min_hold_s": 1.0}


def info(lab: Lab, node: str) -> dict:
    return request(lab.socket(node), "info")


def drops_seen(lab: Lab, node: str, link: str) -> dict[str, int]:
    """Adverts dropped on link, by reason: by the tc program before the socket, and by the daemon after it.
    Needs the tc program: the classic socket filter drops without counting."""
    data = info(lab, node)
    rx = data["advert_rx"]
    need(rx["path"] == "bpf", f"the BPF receive filter is not in force: {rx['reason']}")
    out = dict(data["drops"].get(link, {}))
    for where, n in rx["dropped"].items():
        name, _, reason = where.rpartition(" ")
        if name.startswith(f"{link} "):
            out[reason] = out.get(reason, 0) + n
    return out


def roles(lab: Lab) -> tuple[str, str]:
    out = []
    for node in ("node1", "node2"):
        try:
            out.append(info(lab, node)["cluster_state"])
        except ControlError:
            out.append("down")
    return out[0], out[1]


@pytest.fixture
def make_cluster(cleanup: Cleanup, request: pytest.FixtureRequest) -> Callable[..., Lab]:
    """Build a lab with a config variant, start both daemons, wait until node1 is master."""

    def make(**variant: object) -> Lab:
        need(is_root(), "network namespace tests need root")
        the_lab = _new_lab(cleanup, request.node)
        netns.up(the_lab, **(FAST | variant))
        for node in ("node1", "node2"):
            netns.start_daemon(the_lab, node)
        wait_until(lambda: roles(the_lab) == ("master", "backup"), 15, what="node1 master, node2 backup")
        return the_lab

    return make
