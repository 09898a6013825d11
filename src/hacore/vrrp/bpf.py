"""The only module that imports bcc: where the BPF sources and the kernel
headers are, and whether bcc can compile and load a program here.

Rules: bcc is imported inside functions only, and the daemon never calls
them: importing bcc and compiling costs about 200 ms and 130 MiB of
resident memory for good, so the daemon runs this module as a short-lived
child (`python -m hacore.vrrp.bpf FD`, from hacore.vrrp.rxprogram) that
hands back descriptors and exits. Headers: the running kernel's own
(/lib/modules/<release>/build), else the tree tools/setup.sh merged into the
venv from Debian's nearest headers, handed to bcc through its own
BCC_KERNEL_SOURCE; nothing is ever written under /lib/modules.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PACKAGED = Path(__file__).resolve().parents[1] / "bpf_src"  # a wheel install (setup.py copies bpf/ there)
_CHECKOUT = Path(__file__).resolve().parents[3] / "bpf"  # an editable install runs from the checkout


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
    try:
        b, _ = _load("hacore_probe")
    except OSError as exc:
        return Probe(False, str(exc))
    b.cleanup()
    return Probe(True, f"probe program compiled against {headers_dir()} and loaded")


def _load(name: str) -> tuple[Any, Any]:
    """bpf/NAME.c compiled and its function NAME loaded as a tc classifier: (the BPF object, the function);
    OSError says why not."""
    found = probe_sources()
    if isinstance(found, str):
        raise OSError(found)
    from bcc import BPF  # Debian's python3-bpfcc

    try:
        b = BPF(src_file=str(found / f"{name}.c").encode(), cflags=[f"-I{found}"])
        return b, b.load_func(name.encode(), BPF.SCHED_CLS)
    except Exception as exc:  # bcc raises bare Exception for compile and load errors
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OSError(f"BPF load failed: {first}") from None


def emit_rx(sock: socket.socket) -> None:
    """Compile and load bpf/hacore_rx.c, then hand its program's and maps' descriptors over SOCK with
    their sizes (the daemon runs this in a child: see hacore.vrrp.bpfmap)."""
    b, fn = _load("hacore_rx")
    conf, counts = b[b"rx_conf"], b[b"rx_counts"]
    meta = {"name": fn.name.decode(),
            "conf": [ctypes.sizeof(conf.Key), ctypes.sizeof(conf.Leaf)],
            "counts": [ctypes.sizeof(counts.Key), ctypes.sizeof(counts.Leaf)]}
    socket.send_fds(sock, [json.dumps(meta).encode()], [fn.fd, conf.map_fd, counts.map_fd])


def probe_sources() -> Path | str:
    """The BPF sources directory, with bcc pointed at the headers; or why BPF cannot compile here."""
    src_dir = sources_dir()
    if src_dir is None:
        return "BPF sources not found (HACORE_BPF_DIR, package or checkout)"
    headers = headers_dir()
    if headers is None:
        return f"no kernel headers for {os.uname().release} (run tools/setup.sh)"
    if headers != Path(f"/lib/modules/{os.uname().release}/build"):
        os.environ["BCC_KERNEL_SOURCE"] = str(headers)  # bcc's own setting: read at compile time
    try:
        import bcc  # noqa: F401
    except ImportError:
        return "bcc is not installed (python3-bpfcc)"
    return src_dir


if __name__ == "__main__":  # python -m hacore.vrrp.bpf FD: the child hacore.vrrp.rxprogram starts
    try:
        emit_rx(socket.socket(fileno=int(sys.argv[1])))
    except OSError as exc:
        sys.exit(str(exc))
