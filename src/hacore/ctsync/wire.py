"""The sync messages on UDP/3780, beside the peer status (which starts with
its own magic): what each carries, and how it is sealed.

    magic "HCT" | version:u8 | type:u8 | body | counter:u64 | mac:16

    DATA       session:u64 seq:u32 base:u32 flags:u8 payload (records: _fastpath_ct.pxi)
    KEEPALIVE  session:u64 next:u32 base:u32
    REQUEST    session:u64 first:u32 end:u32   (first == end == 0: a full resync)
    REPORT     session:u64 applied:u32 complete:u8

Big-endian. The MAC is HMAC-SHA256 (truncated) over everything before it,
keyed with the hotwire subkey; the magic differs from the status's, so a
status can never pass for a sync message or back. The counter comes from
the node's CounterSource and is checked by a ReplayWindow: a replayed or
reordered datagram is refused, and loss repair fetches it again.

Rules: pure; unseal returns a reason string on bad input, never raises.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

MAGIC = b"HCT"
VERSION = 1
MAC_LEN = 16
TRAILER = struct.Struct("!Q")
HEAD = struct.Struct("!3sBB")
OVERHEAD = HEAD.size + TRAILER.size + MAC_LEN  # beside the body
DATA_HEAD = struct.Struct("!QIIB")
FLAG_BEGIN, FLAG_END = 1, 2  # first / last datagram of a full resync


@dataclass(frozen=True)
class Data:
    session: int
    seq: int
    base: int  # the seq at which the resync this stream builds on began
    flags: int
    payload: bytes


@dataclass(frozen=True)
class Keepalive:
    session: int
    next: int  # the seq the next DATA will carry
    base: int


@dataclass(frozen=True)
class Request:
    session: int
    first: int
    end: int  # exclusive; first == end == 0 asks for a full resync

    @property
    def resync(self) -> bool:
        return self.first == self.end == 0


@dataclass(frozen=True)
class Report:
    session: int
    applied: int  # the next seq the backup expects: everything before it is applied
    complete: bool


Message = Data | Keepalive | Request | Report
_FORMATS: dict[type, tuple[int, struct.Struct]] = {
    Keepalive: (2, struct.Struct("!QII")),
    Request: (3, struct.Struct("!QII")),
    Report: (4, struct.Struct("!QI?")),
}
_BY_TYPE = {t: (cls, fmt) for cls, (t, fmt) in _FORMATS.items()}
DATA_TYPE = 1
MAX_LEN = 65507


def is_sync(datagram: bytes) -> bool:
    return datagram[:3] == MAGIC


def encode(msg: Message) -> bytes:
    if isinstance(msg, Data):
        return HEAD.pack(MAGIC, VERSION, DATA_TYPE) + DATA_HEAD.pack(msg.session, msg.seq, msg.base,
                                                                     msg.flags) + msg.payload
    t, fmt = _FORMATS[type(msg)]
    return HEAD.pack(MAGIC, VERSION, t) + fmt.pack(*(getattr(msg, f) for f in msg.__dataclass_fields__))


def decode(body: bytes) -> Message | str:
    """A message from its unsealed bytes, or why not: short, bad_version, bad_type, malformed."""
    if len(body) < HEAD.size:
        return "short"
    magic, version, t = HEAD.unpack_from(body)
    if magic != MAGIC:
        return "bad_magic"
    if version != VERSION:
        return "bad_version"
    rest = body[HEAD.size:]
    if t == DATA_TYPE:
        if len(rest) < DATA_HEAD.size:
            return "short"
        session, seq, base, flags = DATA_HEAD.unpack_from(rest)
        if flags & ~(FLAG_BEGIN | FLAG_END):
            return "malformed"
        return Data(session, seq, base, flags, rest[DATA_HEAD.size:])
    if t not in _BY_TYPE:
        return "bad_type"
    cls, fmt = _BY_TYPE[t]
    if len(rest) != fmt.size:
        return "malformed"
    return cls(*fmt.unpack(rest))


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()[:MAC_LEN]


def seal(key: bytes, msg: Message, counter: int) -> bytes:
    data = encode(msg) + TRAILER.pack(counter)
    return data + _mac(key, data)


def unseal(key: bytes, datagram: bytes) -> tuple[Message, int] | str:
    """(message, counter) if the MAC holds, else why not."""
    if len(datagram) < OVERHEAD:
        return "short"
    if len(datagram) > MAX_LEN:
        return "too_long"
    data, mac = datagram[:-MAC_LEN], datagram[-MAC_LEN:]
    if not hmac.compare_digest(mac, _mac(key, data)):
        return "bad_auth"
    msg = decode(data[:-TRAILER.size])
    if isinstance(msg, str):
        return msg
    return msg, TRAILER.unpack(data[-TRAILER.size:])[0]
