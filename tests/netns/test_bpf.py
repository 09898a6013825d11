"""bcc compiles and loads a tc program here, with the headers tools/setup.sh provides through
BCC_KERNEL_SOURCE (never /lib/modules of another kernel). Where HACORE_NO_SKIP=1 (CI) it must."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import is_root, need


def test_bcc_compiles_and_loads_our_programs_without_touching_lib_modules() -> None:
    need(is_root(), "loading BPF needs root")
    release = os.uname().release
    own_before = os.path.exists(f"/lib/modules/{release}")
    # In a child process: bcc stays resident in whoever imports it, and the test run should not carry it.
    out = subprocess.run([sys.executable, "-c", "from hacore.vrrp import bpf; p = bpf.probe(); print(p.usable); "
                          "print(p.reason)"], capture_output=True, text=True, timeout=120, check=True).stdout
    usable, reason = out.splitlines()[:2]
    need(usable == "True", f"BPF unusable here: {reason}")
    assert os.path.exists(f"/lib/modules/{release}") == own_before
