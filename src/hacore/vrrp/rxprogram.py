"""The receive filter's tc program, compiled in a child and held here by descriptor.

Rules: bcc never enters the daemon (see hacore.vrrp.bpfmap); the child
loads the program and its maps, sends their descriptors and exits; they
live on as long as this holds them. Attaching the program to a link's tc
ingress is hacore.vrrp.rxfilter's (netlink, on the loop).
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys

from hacore.vrrp.bpfmap import HashMap

_CONF = struct.Struct("=BB2x4s4s")  # struct hacore_rx_conf (bpf/hacore_vrrp.h)
_KEY = struct.Struct("=IBB2x")  # struct hacore_rx_key
_COUNT = struct.Struct("=Q")


class RxProgram:
    """Compiling takes about a second (clang): construct it on a thread. OSError says why it failed."""

    def __init__(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with parent, child:
            try:
                done = subprocess.run([sys.executable, "-m", "hacore.vrrp.bpf", str(child.fileno())],
                                      pass_fds=(child.fileno(),), capture_output=True, text=True, timeout=120)
            except subprocess.TimeoutExpired:
                raise OSError("BPF compiler did not finish in 120 s") from None
            if done.returncode != 0:
                lines = done.stderr.strip().splitlines()
                raise OSError(lines[-1] if lines else f"BPF compiler exited with {done.returncode}")
            parent.setblocking(False)
            msg, fds, _, _ = socket.recv_fds(parent, 4096, 3)
        if len(fds) != 3:
            for fd in fds:
                socket.close(fd)
            raise OSError("BPF compiler sent no program")
        meta = json.loads(msg)
        self.fd = fds[0]
        self.name: str = meta["name"]
        self.conf = HashMap(fds[1], *meta["conf"])
        self.counts_map = HashMap(fds[2], *meta["counts"])
        if (self.conf.value_size, self.counts_map.key_size) != (_CONF.size, _KEY.size):
            self.close()
            raise OSError("BPF maps do not match hacore_vrrp.h")

    def configure(self, ifindex: int, version: int, vrid: int, net4: bytes, mask4: bytes) -> None:
        """What the program admits on this link (a map update: takes effect at the next packet)."""
        self.conf.put(struct.pack("=I", ifindex), _CONF.pack(version, vrid, net4, mask4))

    def forget(self, ifindex: int) -> None:
        """A deleted link: its settings and counters go (a link made again gets a new ifindex)."""
        self.conf.delete(struct.pack("=I", ifindex))
        for key, _ in list(self.counts_map.items()):
            if _KEY.unpack(key)[0] == ifindex:
                self.counts_map.delete(key)

    def counts(self) -> dict[tuple[int, int, int], int]:
        """(ifindex, vrid, reason) -> adverts; reason 0 passed."""
        return {_KEY.unpack(k): _COUNT.unpack(v)[0] for k, v in self.counts_map.items()}

    def close(self) -> None:
        self.conf.close()
        self.counts_map.close()
        socket.close(self.fd)
