"""A BPF hash map held by file descriptor, read and written with the bpf(2) system call.

Rules: this is how the daemon touches its receive filter's maps without bcc.
bcc (libbcc with its LLVM) stays mapped in whatever process imports it, about
100 MiB of resident memory for good; the program is compiled in a short-lived
child (hacore.vrrp.bpf) that hands the daemon the program's and the maps'
descriptors, and four map commands are all the daemon needs after that.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from collections.abc import Iterator

# The bpf(2) system call number, by architecture (glibc has no wrapper).
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351, "riscv64": 280}
_LOOKUP, _UPDATE, _DELETE, _NEXT_KEY = 1, 2, 3, 4
_libc = ctypes.CDLL(None, use_errno=True)


class _ElemAttr(ctypes.Structure):
    """union bpf_attr, as the map element commands read it."""

    _fields_ = [("map_fd", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("key", ctypes.c_uint64),
                ("value", ctypes.c_uint64), ("flags", ctypes.c_uint64)]


def _addr(buf: ctypes.Array[ctypes.c_char] | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


class HashMap:
    """Keys and values are the C structures' bytes, packed by the caller."""

    def __init__(self, fd: int, key_size: int, value_size: int):
        if platform.machine() not in _SYS_BPF:
            raise OSError(f"bpf(2) system call number unknown on {platform.machine()}")
        self.fd, self.key_size, self.value_size = fd, key_size, value_size
        self._nr = _SYS_BPF[platform.machine()]

    def _call(self, cmd: int, key: ctypes.Array[ctypes.c_char] | None,
              value: ctypes.Array[ctypes.c_char] | None) -> None:
        attr = _ElemAttr(map_fd=self.fd, key=_addr(key), value=_addr(value))
        if _libc.syscall(self._nr, cmd, ctypes.byref(attr), ctypes.sizeof(attr)) < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def _key(self, key: bytes) -> ctypes.Array[ctypes.c_char]:
        if len(key) != self.key_size:
            raise ValueError(f"key of {len(key)} bytes, map wants {self.key_size}")
        return ctypes.create_string_buffer(key, self.key_size)

    def put(self, key: bytes, value: bytes) -> None:
        if len(value) != self.value_size:
            raise ValueError(f"value of {len(value)} bytes, map wants {self.value_size}")
        self._call(_UPDATE, self._key(key), ctypes.create_string_buffer(value, self.value_size))

    def delete(self, key: bytes) -> bool:
        """False where the key was not there."""
        try:
            self._call(_DELETE, self._key(key), None)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise
        return True

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every entry present while walking (the program may add keys meanwhile; those may be missed)."""
        key: ctypes.Array[ctypes.c_char] | None = None
        nxt = ctypes.create_string_buffer(self.key_size)
        value = ctypes.create_string_buffer(self.value_size)
        while True:
            try:
                self._call(_NEXT_KEY, key, nxt)
            except OSError as exc:
                if exc.errno == errno.ENOENT:  # past the last key
                    return
                raise
            key = ctypes.create_string_buffer(nxt.raw, self.key_size)
            try:
                self._call(_LOOKUP, key, value)
            except OSError as exc:
                if exc.errno == errno.ENOENT:  # deleted between the two calls
                    continue
                raise
            yield key.raw, value.raw

    def close(self) -> None:
        os.close(self.fd)
