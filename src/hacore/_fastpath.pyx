# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled fast path: the VRRP advert codec, twin of hacore/vrrp/codec.py.

Rules: only hot loops live here; inputs are contiguous byte buffers, outputs
go to caller-provided buffers. Decoding never raises on peer input: it
returns a drop reason from bpf/hacore_vrrp.h, which this file includes so C,
BPF and Cython share one enum.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

cdef extern from "hacore_vrrp.h":
    enum hacore_drop:
        HACORE_DROP_OK
        HACORE_DROP_SHORT
        HACORE_DROP_BAD_IP_HEADER
        HACORE_DROP_BAD_PROTO
        HACORE_DROP_BAD_TTL
        HACORE_DROP_BAD_VERSION
        HACORE_DROP_BAD_TYPE
        HACORE_DROP_BAD_ADDR_COUNT
        HACORE_DROP_BAD_CHECKSUM
        HACORE_DROP_WRONG_VRID
        HACORE_DROP_BAD_INTERVAL
        HACORE_DROP_BAD_AUTH
        HACORE_DROP_REPLAY
        HACORE_DROP_STRANGER
        HACORE_DROP__COUNT
    enum hacore_csum:
        HACORE_CSUM_PSEUDO
        HACORE_CSUM_NO_PSEUDO
    int HACORE_IPPROTO_VRRP
    int HACORE_VRRP_TTL
    int HACORE_VRRP_HDR_LEN
    int HACORE_VRRP2_AUTH_LEN
    int HACORE_VRRP3_MAX_INTERVAL_CS

# The header's values, for the test that keeps Python's Drop equal to them.
DROP_VALUES = {
    "OK": HACORE_DROP_OK, "SHORT": HACORE_DROP_SHORT,
    "BAD_IP_HEADER": HACORE_DROP_BAD_IP_HEADER, "BAD_PROTO": HACORE_DROP_BAD_PROTO,
    "BAD_TTL": HACORE_DROP_BAD_TTL, "BAD_VERSION": HACORE_DROP_BAD_VERSION,
    "BAD_TYPE": HACORE_DROP_BAD_TYPE, "BAD_ADDR_COUNT": HACORE_DROP_BAD_ADDR_COUNT,
    "BAD_CHECKSUM": HACORE_DROP_BAD_CHECKSUM, "WRONG_VRID": HACORE_DROP_WRONG_VRID,
    "BAD_INTERVAL": HACORE_DROP_BAD_INTERVAL, "BAD_AUTH": HACORE_DROP_BAD_AUTH,
    "REPLAY": HACORE_DROP_REPLAY, "STRANGER": HACORE_DROP_STRANGER,
}
DROP_COUNT = HACORE_DROP__COUNT

# Indices into the caller's uint32 "fields" array filled by the decoders.
F_VERSION, F_VRID, F_PRIORITY, F_INTERVAL_CS, F_COUNT, F_ADDR_OFFSET, F_AUTH_TYPE, F_SRC_OFFSET = range(8)
FIELDS_LEN = 8


cdef uint64_t _sum(const uint8_t* p, Py_ssize_t n, uint64_t acc) noexcept nogil:
    """RFC 1071 one's complement sum of n bytes, big-endian words, odd byte padded."""
    cdef Py_ssize_t i = 0
    while i + 1 < n:
        acc += (<uint64_t>p[i] << 8) | p[i + 1]
        i += 2
    if i < n:
        acc += <uint64_t>p[i] << 8
    return acc


cdef uint16_t _fold(uint64_t acc) noexcept nogil:
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    return <uint16_t>(~acc & 0xFFFF)


cdef inline uint64_t _base(int version, const uint8_t* src, const uint8_t* dst, int alen,
                           Py_ssize_t length, int mode) noexcept nogil:
    """Pseudo-header sum: none for v2 and for v3/IPv4 in the no-pseudo mode."""
    cdef uint64_t acc
    if version == 2 or (alen == 4 and mode == HACORE_CSUM_NO_PSEUDO):
        return 0
    acc = _sum(src, alen, 0)
    acc = _sum(dst, alen, acc)
    # IPv4: zero, protocol, 16-bit length. IPv6: 32-bit length, zeros, next header.
    return acc + <uint64_t>length + HACORE_IPPROTO_VRRP


cdef int _decode(const uint8_t* data, Py_ssize_t n, const uint8_t* src, const uint8_t* dst,
                 int alen, int ttl, int exp_version, int exp_vrid, int mode, int exp_auth,
                 const uint8_t* key8, int trailer_len, uint32_t* out) noexcept nogil:
    cdef int version, count, trailer, interval_cs
    if n < HACORE_VRRP_HDR_LEN:
        return HACORE_DROP_SHORT
    if ttl != HACORE_VRRP_TTL:
        return HACORE_DROP_BAD_TTL
    version = data[0] >> 4
    if version != exp_version or (version == 2 and alen != 4):
        return HACORE_DROP_BAD_VERSION
    if (data[0] & 0x0F) != 1:
        return HACORE_DROP_BAD_TYPE
    count = data[3]
    trailer = HACORE_VRRP2_AUTH_LEN if version == 2 else trailer_len
    if count == 0 or n != HACORE_VRRP_HDR_LEN + count * alen + trailer:
        return HACORE_DROP_BAD_ADDR_COUNT
    if _fold(_sum(data, n, _base(version, src, dst, alen, n, mode))) != 0:
        return HACORE_DROP_BAD_CHECKSUM
    if exp_vrid >= 0 and data[1] != exp_vrid:
        return HACORE_DROP_WRONG_VRID
    if version == 3:
        interval_cs = ((data[4] & 0x0F) << 8) | data[5]
    else:
        interval_cs = data[5] * 100
        if data[4] != exp_auth or (exp_auth == 1 and memcmp(data + n - 8, key8, 8) != 0):
            return HACORE_DROP_BAD_AUTH
    if interval_cs == 0:
        return HACORE_DROP_BAD_INTERVAL
    out[0] = version
    out[1] = data[1]
    out[2] = data[2]
    out[3] = interval_cs
    out[4] = count
    out[5] = HACORE_VRRP_HDR_LEN
    out[6] = data[4] if version == 2 else 0
    return HACORE_DROP_OK


cdef const uint8_t* _ptr(const unsigned char[::1] buf) noexcept nogil:
    return &buf[0] if buf.shape[0] > 0 else NULL


def decode_advert(const unsigned char[::1] data, const unsigned char[::1] src,
                  const unsigned char[::1] dst, int ttl, int version, int vrid, int mode,
                  int auth_type, const unsigned char[::1] key8, int trailer_len,
                  unsigned int[::1] out) -> int:
    """Decode one VRRP message; fields go to out (FIELDS_LEN long). Returns a drop reason."""
    cdef int alen = src.shape[0]
    if (alen != 4 and alen != 16) or dst.shape[0] != alen or key8.shape[0] != 8 or out.shape[0] < FIELDS_LEN:
        raise ValueError("src/dst must be 4 or 16 bytes, key8 8 bytes, out FIELDS_LEN long")
    # The GIL stays held: releasing it costs more than a decode.
    return _decode(_ptr(data), data.shape[0], &src[0], &dst[0], alen, ttl, version, vrid,
                   mode, auth_type, &key8[0], trailer_len, &out[0])


def decode_ipv4(const unsigned char[::1] pkt, int version, int vrid, int mode, int auth_type,
                const unsigned char[::1] key8, int trailer_len, unsigned int[::1] out) -> int:
    """Decode an IPv4 packet (header included). Address offset in out is into pkt."""
    cdef Py_ssize_t n = pkt.shape[0]
    cdef int ihl, total, rc
    cdef const uint8_t* p = _ptr(pkt)
    if key8.shape[0] != 8 or out.shape[0] < FIELDS_LEN:
        raise ValueError("key8 must be 8 bytes and out FIELDS_LEN long")
    if n < 20:
        return HACORE_DROP_SHORT
    ihl = (p[0] & 0x0F) * 4
    total = (p[2] << 8) | p[3]
    if (p[0] >> 4) != 4 or ihl < 20 or total < ihl or n < total:
        return HACORE_DROP_BAD_IP_HEADER
    if p[9] != HACORE_IPPROTO_VRRP:
        return HACORE_DROP_BAD_PROTO
    rc = _decode(p + ihl, total - ihl, p + 12, p + 16, 4, p[8], version, vrid, mode,
                 auth_type, &key8[0], trailer_len, &out[0])
    if rc == HACORE_DROP_OK:
        out[5] += ihl
        out[7] = 12
    return rc


def encode_advert(unsigned char[::1] out, int version, int vrid, int priority, int interval_cs,
                  const unsigned char[::1] addrs, const unsigned char[::1] src,
                  const unsigned char[::1] dst, int mode, int auth_type,
                  const unsigned char[::1] key8, const unsigned char[::1] trailer_in) -> int:
    """Write a VRRP message into out; returns its length. addrs is the packed list;
    trailer (v3 only) follows the addresses, inside the checksum."""
    cdef int alen = src.shape[0]
    cdef Py_ssize_t naddr_bytes = addrs.shape[0]
    cdef int count, seconds = 0, trailer, n
    cdef uint16_t csum
    cdef uint8_t* o
    if (alen != 4 and alen != 16) or dst.shape[0] != alen or key8.shape[0] != 8:
        raise ValueError("src and dst must both be 4 or 16 packed bytes")
    if naddr_bytes == 0 or naddr_bytes % alen or naddr_bytes // alen > 255:
        raise ValueError("an advert carries 1..255 addresses of src's family")
    if not (1 <= vrid <= 255 and 0 <= priority <= 255):
        raise ValueError("vrid must be 1..255 and priority 0..255")
    count = naddr_bytes // alen
    if version == 3:
        if not 1 <= interval_cs <= HACORE_VRRP3_MAX_INTERVAL_CS:
            raise ValueError("v3 interval must be 1..4095 centiseconds")
        trailer = trailer_in.shape[0]
    elif version == 2:
        seconds = interval_cs // 100
        if alen != 4 or interval_cs % 100 or not 1 <= seconds <= 255 or trailer_in.shape[0]:
            raise ValueError("v2 is IPv4 only, with 1..255 whole seconds and no trailer")
        trailer = HACORE_VRRP2_AUTH_LEN
    else:
        raise ValueError("version must be 2 or 3")
    n = HACORE_VRRP_HDR_LEN + naddr_bytes + trailer
    if out.shape[0] < n:
        raise ValueError("output buffer too small")
    o = &out[0]
    o[0] = (version << 4) | 1
    o[1] = vrid
    o[2] = priority
    o[3] = count
    if version == 3:
        o[4] = (interval_cs >> 8) & 0x0F
        o[5] = interval_cs & 0xFF
    else:
        o[4] = auth_type
        o[5] = seconds
    o[6] = 0
    o[7] = 0
    memcpy(o + 8, &addrs[0], naddr_bytes)
    if version == 3 and trailer:
        memcpy(o + 8 + naddr_bytes, &trailer_in[0], trailer)
    elif trailer:
        if auth_type == 1:
            memcpy(o + 8 + naddr_bytes, &key8[0], 8)
        else:
            memset(o + 8 + naddr_bytes, 0, 8)
    csum = _fold(_sum(o, n, _base(version, &src[0], &dst[0], alen, n, mode)))
    o[6] = csum >> 8
    o[7] = csum & 0xFF
    return n
include "_fastpath_ct.pxi"
include "_fastpath_sender.pxi"
