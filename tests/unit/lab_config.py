"""A valid configuration to start tests from: the lab's node1 (the seed's External router example)."""

from __future__ import annotations

import tomllib
from typing import Any

from hacore_lab.topology import Lab, node_config

NODE1 = node_config(Lab("unit"), "node1")
NODE2 = node_config(Lab("unit"), "node2")


def node1_data() -> dict[str, Any]:
    return tomllib.loads(NODE1)
