"""The classic receive filter (SO_ATTACH_FILTER) for the raw VRRP sockets:
where the tc program (bpf/hacore_rx.c) cannot load, the kernel still drops
junk before it is queued to the daemon, with no compiler and no headers.

It admits what the tc program admits - TTL / hop limit 255, this link's
version, type and VRID, a source from the link's IPv4 subnet or an IPv6
link-local one - but counts nothing (classic BPF has no maps). Hand
assembled: a dozen instructions, each commented; the raw IPv4 socket sees the
IP header at offset 0, the IPv6 one the VRRP header (the IPv6 header is
reached through SKF_NET_OFF).

Rules: building is pure; attach() is the one syscall.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from ipaddress import IPv4Network

SO_ATTACH_FILTER = 26
SKF_NET_OFF = -0x100000
# Opcodes (linux/filter.h).
LD_W_ABS, LD_H_ABS, LD_B_ABS, LD_B_IND = 0x20, 0x28, 0x30, 0x50
LDX_B_MSH = 0xB1
ALU_AND_K = 0x54
JEQ_K = 0x15
RET_K = 0x06
ACCEPT = 0x40000  # up to 256 KiB of the packet: all of it
Insn = tuple[int, int, int, int]


def _check(load: Insn, value: int) -> list[Insn]:
    """load; if A != value: drop (the drop is patched in by _finish)."""
    return [load, (JEQ_K, 0, -1, value)]


def _finish(body: list[Insn]) -> list[Insn]:
    """Append accept and drop, and point every -1 false branch at the drop."""
    prog = [*body, (RET_K, 0, 0, ACCEPT), (RET_K, 0, 0, 0)]
    drop = len(prog) - 1
    return [(c, jt, drop - i - 1 if jf == -1 else jf, k) for i, (c, jt, jf, k) in enumerate(prog)]


def ipv4(version: int, vrid: int, subnet: IPv4Network | None) -> list[Insn]:
    body = _check((LD_B_ABS, 0, 0, 8), 255)  # TTL
    body.append((LDX_B_MSH, 0, 0, 0))  # X = IP header length
    body += _check((LD_B_IND, 0, 0, 0), (version << 4) | 1)  # version and type ADVERTISEMENT
    body += _check((LD_B_IND, 0, 0, 1), vrid)
    if subnet is not None and subnet.prefixlen:
        body += [(LD_W_ABS, 0, 0, 12), (ALU_AND_K, 0, 0, int(subnet.netmask))]  # source & mask
        body.append((JEQ_K, 0, -1, int(subnet.network_address)))
    return _finish(body)


def ipv6(version: int, vrid: int) -> list[Insn]:
    body = _check((LD_B_ABS, 0, 0, (SKF_NET_OFF + 7) & 0xFFFFFFFF), 255)  # hop limit
    body += _check((LD_B_ABS, 0, 0, 0), (version << 4) | 1)
    body += _check((LD_B_ABS, 0, 0, 1), vrid)
    body += [(LD_H_ABS, 0, 0, (SKF_NET_OFF + 8) & 0xFFFFFFFF), (ALU_AND_K, 0, 0, 0xFFC0)]  # source, fe80::/10
    body.append((JEQ_K, 0, -1, 0xFE80))
    return _finish(body)


def attach(sock: socket.socket, prog: list[Insn]) -> None:
    """OSError if the kernel refuses it."""
    code = ctypes.create_string_buffer(b"".join(struct.pack("@HBBI", *i) for i in prog))
    fprog = struct.pack("@HxxxxxxQ", len(prog), ctypes.addressof(code))  # struct sock_fprog, copied by the kernel
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
