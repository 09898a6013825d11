"""The sync messages, a channel of the hotwire (UDP/3780) beside the peer
status: what each carries. The hotwire's envelope seals them and refuses
replays (hacore.hotwire.envelope); these are the bodies inside it.

    magic "HCT" | version:u8 | type:u8 | fields

    DATA       session:u64 seq:u32 base:u32 flags:u8 payload (records: _fastpath_ct.pxi)
    KEEPALIVE  session:u64 next:u32 base:u32
    REQUEST    session:u64 first:u32 end:u32   (first == end == 0: a full resync)
    REPORT     session:u64 applied:u32 complete:u8

Big-endian. The magic differs from the status's, so a status can never pass
for a sync message or back; a replayed or reordered datagram is refused by
the envelope, and loss repair fetches it again.

Rules: pure; decode returns a reason string on bad input, never raises.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"HCT"
VERSION = 1
HEAD = struct.Struct("!3sBB")
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
    msg: Message = cls(*fmt.unpack(rest))
    return msg
