"""The only module that imports bcc. Decides which advert receive path the
daemon uses: eBPF when bcc, kernel headers and the kernel allow it, else a
raw socket, with the reason, so `cluster info` can say which and why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BPF_DIR = Path(os.environ.get("HACORE_BPF_DIR", Path(__file__).resolve().parents[2] / "bpf"))


@dataclass(frozen=True)
class RxPath:
    kind: str  # "bpf" | "raw-socket"
    reason: str


def probe() -> RxPath:
    """Compile and load the probe program; any failure selects the raw socket."""
    try:
        from bcc import BPF  # Debian's python3-bpfcc
    except ImportError:
        return RxPath("raw-socket", "bcc is not installed (python3-bpfcc)")
    headers = Path(f"/lib/modules/{os.uname().release}/build")
    if not headers.exists():
        return RxPath("raw-socket", f"no kernel headers at {headers}")
    src = BPF_DIR / "hacore_probe.c"
    if not src.exists():
        return RxPath("raw-socket", f"BPF sources not found at {BPF_DIR}")
    try:
        b = BPF(src_file=str(src).encode(), cflags=[f"-I{BPF_DIR}"])
        b.load_func(b"hacore_probe", BPF.SCHED_CLS)
        b.cleanup()
    except Exception as exc:  # bcc raises bare Exception for compile and load errors
        return RxPath("raw-socket", f"BPF load failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    return RxPath("bpf", "probe program compiled and loaded")
