"""The only module that imports bcc: where the BPF sources and the kernel
headers are, and whether bcc can compile and load a program here.

Rules: bcc is imported inside functions only, so a process that never loads
BPF never pays for it (importing bcc and compiling costs about 200 ms and
120 MiB of resident memory for good). Headers: the running kernel's own
(/lib/modules/<release>/build), else the tree tools/setup.sh merged into the
venv from Debian's nearest headers, handed to bcc through its own
BCC_KERNEL_SOURCE; nothing is ever written under /lib/modules.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "bpf_src"  # a wheel install (setup.py copies bpf/ there)
_CHECKOUT = Path(__file__).resolve().parents[2] / "bpf"  # an editable install runs from the checkout


def sources_dir() -> Path | None:
    """Where the BPF C sources are: HACORE_BPF_DIR, the installed package, or the checkout."""
    for candidate in (os.environ.get("HACORE_BPF_DIR"), _PACKAGED, _CHECKOUT):
        if candidate and (Path(candidate) / "hacore_vrrp.h").is_file():
            return Path(candidate)
    return None


def headers_dir() -> Path | None:
    """The kernel headers bcc will use, or None where there are none."""
    if os.environ.get("BCC_KERNEL_SOURCE"):
        return Path(os.environ["BCC_KERNEL_SOURCE"])
    own = Path(f"/lib/modules/{os.uname().release}/build")
    if own.is_dir():
        return own
    merged = Path(sys.prefix) / "share" / "hacore" / "kernel-headers"
    return merged if (merged / "include" / "linux" / "kconfig.h").is_file() else None


@dataclass(frozen=True)
class Probe:
    usable: bool
    reason: str


def probe() -> Probe:
    """Compile and load the probe program (a tc classifier); any failure says why."""
    src_dir = sources_dir()
    if src_dir is None:
        return Probe(False, "BPF sources not found (HACORE_BPF_DIR, package or checkout)")
    headers = headers_dir()
    if headers is None:
        return Probe(False, f"no kernel headers for {os.uname().release} (run tools/setup.sh)")
    if headers != Path(f"/lib/modules/{os.uname().release}/build"):
        os.environ["BCC_KERNEL_SOURCE"] = str(headers)  # bcc's own setting: read at compile time
    try:
        from bcc import BPF  # Debian's python3-bpfcc
    except ImportError:
        return Probe(False, "bcc is not installed (python3-bpfcc)")
    try:
        b = BPF(src_file=str(src_dir / "hacore_probe.c").encode(), cflags=[f"-I{src_dir}"])
        b.load_func(b"hacore_probe", BPF.SCHED_CLS)
        b.cleanup()
    except Exception as exc:  # bcc raises bare Exception for compile and load errors
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Probe(False, f"BPF load failed: {first}")
    return Probe(True, f"probe program compiled against {headers} and loaded")
