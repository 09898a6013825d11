"""Type stub for the compiled fast path (see _fastpath.pyx)."""

from typing import Any

import numpy as np
import numpy.typing as npt

DROP_VALUES: dict[str, int]
DROP_COUNT: int
F_VERSION: int
F_VRID: int
F_PRIORITY: int
F_INTERVAL_CS: int
F_COUNT: int
F_ADDR_OFFSET: int
F_AUTH_TYPE: int
F_SRC_OFFSET: int
FIELDS_LEN: int

def decode_advert(
    data: bytes, src: bytes, dst: bytes, ttl: int, version: int, vrid: int, mode: int,
    auth_type: int, key8: bytes, trailer_len: int, out: npt.NDArray[np.uint32],
) -> int: ...
def decode_ipv4(
    pkt: bytes, version: int, vrid: int, mode: int, auth_type: int, key8: bytes, trailer_len: int,
    out: npt.NDArray[np.uint32],
) -> int: ...
def encode_advert(
    out: bytearray, version: int, vrid: int, priority: int, interval_cs: int, addrs: bytes,
    src: bytes, dst: bytes, mode: int, auth_type: int, key8: bytes, trailer: bytes,
) -> int: ...

# -- conntrack (_fastpath_ct.pxi) --
FLOW_SIZE: int
KIND_NEW: int
KIND_UPDATE: int
KIND_DESTROY: int
P_MARK: int
P_ZONE: int
P_OZONE: int
P_RZONE: int
P_TCP: int
OP_FULL: int
OP_DELTA: int
OP_DESTROY: int
DECODE_ERRORS: dict[int, str]
PARSE_DONE: int
PARSE_ERROR: int

class FlowTable:
    epoch: int
    def __init__(self, capacity: int = 1024) -> None: ...
    def __len__(self) -> int: ...
    def clear(self) -> None: ...
    def export(self) -> bytes: ...
    def sweep(self, out: npt.NDArray[np.uint8], remove: bool) -> int: ...

def ct_parse(buf: bytes | bytearray, n: int, out: npt.NDArray[np.uint8], start: int) -> tuple[int, int, int, int]: ...
def ct_encode(flows: npt.NDArray[np.uint8], start: int, n: int, known: FlowTable, out: bytearray,
              max_len: int) -> tuple[int, int, int]: ...
def ct_encode_all(known: FlowTable, cursor: int, out: bytearray, max_len: int) -> tuple[int, int]: ...
def table_capacity(known: FlowTable) -> int: ...
def ct_decode(payload: bytes, table: FlowTable, out: npt.NDArray[np.uint8], start: int) -> tuple[int, int]: ...
def ct_build(flows: npt.NDArray[np.uint8], start: int, n: int, update_only: int, out: bytearray,
             seq0: int) -> tuple[int, int]: ...

class AdvertSender:
    """The advert sender thread (see _fastpath_sender.pxi)."""

    counter_last: int
    tid: int
    def set_targets(self, targets: list[tuple[int, bytes, bytes, bytes, int, bytes]]) -> None: ...
    def set_hmac(self, key: bytes, base: int, mono0_us: int, last: int) -> None: ...
    def set_counter_limit(self, limit: int) -> None: ...
    def start(self) -> None: ...
    def go(self, priority: int, period_ns: int, lease_ns: int) -> bool: ...
    def quiet(self) -> None: ...
    def stop(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...

def lock_memory() -> int: ...
