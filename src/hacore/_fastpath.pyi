"""Type stub for the compiled fast path (see _fastpath.pyx)."""

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
