# Included by _fastpath.pyx: the conntrack fast path.
#
# ctnetlink messages (events and dumps) are parsed straight into flow_t
# records held in numpy arrays; a flow table keyed by the master's conntrack
# id remembers what the backup knows, so the encoder sends a known flow as
# its id plus the fields that changed; the decoder applies datagrams to the
# backup's table; ct_build turns records into batched ctnetlink requests.
# No Python object is made per flow on any of these paths.
#
# Wire format of the records inside a sync datagram (big-endian):
#   FULL    op=1 id:u32 family:u8 proto:u8 present:u8 reply_form:u8
#           o_src o_dst (4 or 16 bytes each) o_sport:u16 o_dport:u16
#           [reply_form bit0 (SNAT): r_dst r_dport:u16] [bit1 (DNAT): r_src r_sport:u16]
#           status:u32 timeout:u32
#           [present&MARK: mark:u32] [ZONE: zone:u16] [O_ZONE: u16] [R_ZONE: u16]
#           [TCP: state wscale_o wscale_r flags_o flags_r (u8 each)]
#   DELTA   op=2 id:u32 changed:u8 [status:u32] [timeout:u32] [mark:u32] [TCP: 5 x u8]
#   DESTROY op=3 id:u32
# The reply tuple is the inverse of the original one except where NAT
# rewrote it, so only the rewritten half travels.

from libc.stdlib cimport malloc, free, calloc

cdef packed struct flow_t:
    uint32_t id
    uint8_t kind        # KIND_NEW / KIND_UPDATE / KIND_DESTROY
    uint8_t family      # AF_INET 2 / AF_INET6 10
    uint8_t proto
    uint8_t tcp_state
    uint8_t o_src[16]
    uint8_t o_dst[16]
    uint16_t o_sport    # host order; ICMP: id
    uint16_t o_dport    # ICMP: type << 8 | code
    uint8_t r_src[16]
    uint8_t r_dst[16]
    uint16_t r_sport
    uint16_t r_dport
    uint32_t status
    uint32_t mark
    uint32_t timeout
    uint16_t zone
    uint16_t o_zone
    uint16_t r_zone
    uint8_t wscale_o
    uint8_t wscale_r
    uint8_t flags_o
    uint8_t flags_r
    uint8_t present     # P_* bits: which optional fields the kernel reported
    uint8_t epoch       # the flow table's mark-and-sweep generation

cdef enum:
    KIND_NEW_ = 1
    KIND_UPDATE_ = 2
    KIND_DESTROY_ = 3
    P_MARK_ = 1
    P_ZONE_ = 2
    P_OZONE_ = 4
    P_RZONE_ = 8
    P_TCP_ = 16
    OP_FULL_ = 1
    OP_DELTA_ = 2
    OP_DESTROY_ = 3
    D_STATUS_ = 1
    D_TIMEOUT_ = 2
    D_MARK_ = 4
    D_TCP_ = 8
    DEC_TRUNCATED_ = -1
    DEC_BAD_OP_ = -2
    DEC_BAD_FAMILY_ = -3
    DEC_FULL_ = -5
    NLMSG_HDR = 16
    NFGEN_HDR = 4
    NLMSG_ERROR = 2
    NLMSG_DONE = 3
    NLM_F_REQUEST = 0x1
    NLM_F_MULTI = 0x2
    NLM_F_EXCL = 0x200
    NLM_F_CREATE = 0x400
    CT_NEW = 0x100
    CT_DELETE = 0x102
    NLA_F_NESTED = 0x8000
    NLA_TYPE_MASK = 0x3FFF
    # Status bits a request carries: the kernel refuses (EBUSY) any that would clear CONFIRMED, which
    # ctnetlink sets on a create before it applies CTA_STATUS; NAT and the rest it owns itself.
    SETTABLE_STATUS = 0x2 | 0x4  # IPS_SEEN_REPLY | IPS_ASSURED
    IPS_CONFIRMED = 0x8
    MAX_CT_MSG = 400  # one request is at most this long

FLOW_SIZE = sizeof(flow_t)
KIND_NEW, KIND_UPDATE, KIND_DESTROY = KIND_NEW_, KIND_UPDATE_, KIND_DESTROY_
P_MARK, P_ZONE, P_OZONE, P_RZONE, P_TCP = P_MARK_, P_ZONE_, P_OZONE_, P_RZONE_, P_TCP_
OP_FULL, OP_DELTA, OP_DESTROY = OP_FULL_, OP_DELTA_, OP_DESTROY_
# Decoder results (negative): why a payload is refused as a whole.
DECODE_ERRORS = {DEC_TRUNCATED_: "truncated", DEC_BAD_OP_: "bad_record", DEC_BAD_FAMILY_: "bad_family",
                 DEC_FULL_: "batch_full"}
# ct_parse flags
PARSE_DONE, PARSE_ERROR = 1, 2


cdef inline uint16_t _be16(const uint8_t* p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t _be32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline void _put16(uint8_t* p, uint16_t v) noexcept nogil:
    p[0] = v >> 8
    p[1] = v & 0xFF


cdef inline void _put32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = v >> 24
    p[1] = (v >> 16) & 0xFF
    p[2] = (v >> 8) & 0xFF
    p[3] = v & 0xFF


cdef inline uint32_t _le32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[3] << 24) | (<uint32_t>p[2] << 16) | (<uint32_t>p[1] << 8) | p[0]


cdef inline uint16_t _le16(const uint8_t* p) noexcept nogil:
    return (<uint16_t>p[1] << 8) | p[0]


# -- parsing ctnetlink --------------------------------------------------------------

cdef void _parse_tuple(const uint8_t* p, Py_ssize_t n, uint8_t* src, uint8_t* dst, uint16_t* sport,
                       uint16_t* dport, uint16_t* zone, uint8_t* proto, uint8_t* present, uint8_t zbit) noexcept nogil:
    cdef Py_ssize_t off = 0, ioff, poff
    cdef uint16_t alen, atype, ilen, itype, plen, ptype
    cdef uint8_t icmp_type = 0, icmp_code = 0
    cdef bint icmp = False
    while off + 4 <= n:
        alen = _le16(p + off)
        atype = _le16(p + off + 2) & NLA_TYPE_MASK
        if alen < 4 or off + alen > n:
            return
        if atype == 1:  # CTA_TUPLE_IP
            ioff = off + 4
            while ioff + 4 <= off + alen:
                ilen = _le16(p + ioff)
                itype = _le16(p + ioff + 2) & NLA_TYPE_MASK
                if ilen < 4 or ioff + ilen > off + alen:
                    break
                if (itype == 1 or itype == 2) and ilen >= 8:
                    memcpy(src if itype == 1 else dst, p + ioff + 4, 4)
                elif (itype == 3 or itype == 4) and ilen >= 20:
                    memcpy(src if itype == 3 else dst, p + ioff + 4, 16)
                ioff += (ilen + 3) & ~3
        elif atype == 2:  # CTA_TUPLE_PROTO
            poff = off + 4
            while poff + 4 <= off + alen:
                plen = _le16(p + poff)
                ptype = _le16(p + poff + 2) & NLA_TYPE_MASK
                if plen < 4 or poff + plen > off + alen:
                    break
                if ptype == 1 and plen >= 5:
                    proto[0] = p[poff + 4]
                elif (ptype == 2 or ptype == 4 or ptype == 7) and plen >= 6:  # port / ICMP(v6) id
                    sport[0] = _be16(p + poff + 4)
                elif ptype == 3 and plen >= 6:
                    dport[0] = _be16(p + poff + 4)
                elif (ptype == 5 or ptype == 8) and plen >= 5:
                    icmp_type = p[poff + 4]
                    icmp = True
                elif (ptype == 6 or ptype == 9) and plen >= 5:
                    icmp_code = p[poff + 4]
                    icmp = True
                poff += (plen + 3) & ~3
            if icmp:
                dport[0] = (<uint16_t>icmp_type << 8) | icmp_code
        elif atype == 3 and alen >= 6:  # CTA_TUPLE_ZONE
            zone[0] = _be16(p + off + 4)
            present[0] |= zbit
        off += (alen + 3) & ~3


cdef void _parse_protoinfo(const uint8_t* p, Py_ssize_t n, flow_t* f) noexcept nogil:
    cdef Py_ssize_t off = 0, toff
    cdef uint16_t alen, atype, tlen, ttype
    while off + 4 <= n:
        alen = _le16(p + off)
        atype = _le16(p + off + 2) & NLA_TYPE_MASK
        if alen < 4 or off + alen > n:
            return
        if atype == 1:  # CTA_PROTOINFO_TCP
            f.present |= P_TCP_
            toff = off + 4
            while toff + 4 <= off + alen:
                tlen = _le16(p + toff)
                ttype = _le16(p + toff + 2) & NLA_TYPE_MASK
                if tlen < 5 or toff + tlen > off + alen:
                    break
                if ttype == 1:
                    f.tcp_state = p[toff + 4]
                elif ttype == 2:
                    f.wscale_o = p[toff + 4]
                elif ttype == 3:
                    f.wscale_r = p[toff + 4]
                elif ttype == 4:
                    f.flags_o = p[toff + 4]
                elif ttype == 5:
                    f.flags_r = p[toff + 4]
                toff += (tlen + 3) & ~3
        off += (alen + 3) & ~3


cdef int _parse_ct(const uint8_t* m, Py_ssize_t n, int kind, flow_t* f) noexcept nogil:
    """One conntrack message body (after nlmsghdr) into f; 0 when it had an original tuple."""
    cdef Py_ssize_t off = NFGEN_HDR
    cdef uint16_t alen, atype
    cdef bint has_orig = False
    if n < NFGEN_HDR:
        return -1
    memset(f, 0, sizeof(flow_t))
    f.kind = kind
    f.family = m[0]
    f.tcp_state = 255
    while off + 4 <= n:
        alen = _le16(m + off)
        atype = _le16(m + off + 2) & NLA_TYPE_MASK
        if alen < 4 or off + alen > n:
            break
        if atype == 1:  # CTA_TUPLE_ORIG
            _parse_tuple(m + off + 4, alen - 4, f.o_src, f.o_dst, &f.o_sport, &f.o_dport, &f.o_zone,
                         &f.proto, &f.present, P_OZONE_)
            has_orig = True
        elif atype == 2:  # CTA_TUPLE_REPLY
            _parse_tuple(m + off + 4, alen - 4, f.r_src, f.r_dst, &f.r_sport, &f.r_dport, &f.r_zone,
                         &f.proto, &f.present, P_RZONE_)
        elif atype == 3 and alen >= 8:  # CTA_STATUS
            f.status = _be32(m + off + 4)
        elif atype == 4:  # CTA_PROTOINFO
            _parse_protoinfo(m + off + 4, alen - 4, f)
        elif atype == 7 and alen >= 8:  # CTA_TIMEOUT
            f.timeout = _be32(m + off + 4)
        elif atype == 8 and alen >= 8:  # CTA_MARK
            f.mark = _be32(m + off + 4)
            f.present |= P_MARK_
        elif atype == 12 and alen >= 8:  # CTA_ID
            f.id = _be32(m + off + 4)
        elif atype == 18 and alen >= 6:  # CTA_ZONE
            f.zone = _be16(m + off + 4)
            f.present |= P_ZONE_
        off += (alen + 3) & ~3
    return 0 if has_orig and (f.family == 2 or f.family == 10) else -1


def ct_parse(const unsigned char[::1] buf, Py_ssize_t n, unsigned char[::1] out, Py_ssize_t start):
    """Parse n bytes of ctnetlink messages into out (flow_t records) from index start.

    Returns (next index, bytes consumed, flags, errno): flags has PARSE_DONE at the end of a
    dump and PARSE_ERROR with the errno of an NLMSG_ERROR. Parsing stops early when out is full."""
    cdef Py_ssize_t cap = out.shape[0] // sizeof(flow_t), idx = start, off = 0
    cdef uint32_t mlen
    cdef uint16_t mtype, mflags
    cdef int flags = 0, err = 0, kind
    cdef flow_t* flows = <flow_t*>&out[0] if out.shape[0] else NULL
    cdef const uint8_t* p = _ptr(buf)
    if n > buf.shape[0]:
        raise ValueError("n is larger than the buffer")
    while off + NLMSG_HDR <= n:
        mlen = _le32(p + off)
        mtype = _le16(p + off + 4)
        mflags = _le16(p + off + 6)
        if mlen < NLMSG_HDR or off + mlen > n:
            break
        if mtype == NLMSG_DONE:
            flags |= PARSE_DONE
        elif mtype == NLMSG_ERROR:
            if mlen >= NLMSG_HDR + 4:
                err = -(<int>_le32(p + off + NLMSG_HDR))
                if err:
                    flags |= PARSE_ERROR
        elif mtype == CT_NEW or mtype == CT_DELETE:
            if idx >= cap:
                break
            if mtype == CT_DELETE:
                kind = KIND_DESTROY_
            elif (mflags & (NLM_F_CREATE | NLM_F_EXCL)) == (NLM_F_CREATE | NLM_F_EXCL) or (mflags & NLM_F_MULTI):
                kind = KIND_NEW_  # an event for a new flow, or a dump entry: the whole flow
            else:
                kind = KIND_UPDATE_
            if _parse_ct(p + off + NLMSG_HDR, mlen - NLMSG_HDR, kind, &flows[idx]) == 0:
                idx += 1
        off += (mlen + 3) & ~3
    return idx, off, flags, err


# -- the flow table: what the peer knows, by the master's conntrack id ------------------

cdef class FlowTable:
    """Open addressing on the id (linear probing, backward-shift deletion) over flow_t slots."""
    cdef flow_t* slots
    cdef uint8_t* used
    cdef Py_ssize_t cap, count
    cdef public uint8_t epoch

    def __cinit__(self, Py_ssize_t capacity=1024):
        self.cap = 16
        while self.cap < capacity * 2:
            self.cap <<= 1
        self.slots = <flow_t*>calloc(self.cap, sizeof(flow_t))
        self.used = <uint8_t*>calloc(self.cap, 1)
        if self.slots == NULL or self.used == NULL:
            raise MemoryError()
        self.count = 0
        self.epoch = 0

    def __dealloc__(self):
        free(self.slots)
        free(self.used)

    def __len__(self):
        return self.count

    cdef inline Py_ssize_t _home(self, uint32_t key) noexcept nogil:
        cdef uint32_t h = key * 2654435761u
        return (h ^ (h >> 16)) & (self.cap - 1)

    cdef Py_ssize_t find(self, uint32_t key) noexcept nogil:
        cdef Py_ssize_t i = self._home(key)
        while self.used[i]:
            if self.slots[i].id == key:
                return i
            i = (i + 1) & (self.cap - 1)
        return -1

    cdef int _grow(self) except -1:
        cdef flow_t* old = self.slots
        cdef uint8_t* old_used = self.used
        cdef Py_ssize_t old_cap = self.cap, i
        self.cap <<= 1
        self.slots = <flow_t*>calloc(self.cap, sizeof(flow_t))
        self.used = <uint8_t*>calloc(self.cap, 1)
        if self.slots == NULL or self.used == NULL:
            raise MemoryError()
        self.count = 0
        for i in range(old_cap):
            if old_used[i]:
                self.put(&old[i])
        free(old)
        free(old_used)
        return 0

    cdef flow_t* put(self, const flow_t* f) except NULL:
        cdef Py_ssize_t i
        if (self.count + 1) * 2 > self.cap:
            self._grow()
        i = self._home(f.id)
        while self.used[i] and self.slots[i].id != f.id:
            i = (i + 1) & (self.cap - 1)
        if not self.used[i]:
            self.used[i] = 1
            self.count += 1
        memcpy(&self.slots[i], f, sizeof(flow_t))
        self.slots[i].epoch = self.epoch
        return &self.slots[i]

    cdef void remove_at(self, Py_ssize_t i) noexcept nogil:
        cdef Py_ssize_t j = i, home
        self.used[i] = 0
        self.count -= 1
        while True:  # backward shift: close the hole so every probe chain stays unbroken
            j = (j + 1) & (self.cap - 1)
            if not self.used[j]:
                return
            home = self._home(self.slots[j].id)
            if (j > i and (home <= i or home > j)) or (j < i and (home <= i and home > j)):
                memcpy(&self.slots[i], &self.slots[j], sizeof(flow_t))
                self.used[i] = 1
                self.used[j] = 0
                i = j

    def clear(self) -> None:
        memset(self.used, 0, self.cap)
        self.count = 0

    def export(self) -> bytes:
        """Every flow as flow_t records (for tests and the bench)."""
        cdef Py_ssize_t i, k = 0
        out = bytearray(self.count * sizeof(flow_t))
        cdef unsigned char[::1] o = out
        for i in range(self.cap):
            if self.used[i]:
                memcpy(&o[k * sizeof(flow_t)], &self.slots[i], sizeof(flow_t))
                k += 1
        return bytes(out)

    def sweep(self, unsigned char[::1] out, bint remove) -> int:
        """The flows not marked in the current epoch (gone from the master's kernel during a
        dump, or from its table during a resync) as KIND_DESTROY records in out; removed from
        the table too if remove. Returns how many (at most what out holds)."""
        cdef Py_ssize_t cap = out.shape[0] // sizeof(flow_t), k = 0, i = 0
        cdef flow_t* o = <flow_t*>&out[0] if out.shape[0] else NULL
        while i < self.cap and k < cap:
            if self.used[i] and self.slots[i].epoch != self.epoch:
                memcpy(&o[k], &self.slots[i], sizeof(flow_t))
                o[k].kind = KIND_DESTROY_
                k += 1
                if remove:
                    self.remove_at(i)  # the slot may now hold a shifted entry: look at it again
                    continue
            i += 1
        return k


# -- encoding: records into datagram payloads -----------------------------------------

cdef inline int _alen(uint8_t family) noexcept nogil:
    return 4 if family == 2 else 16


cdef inline bint _icmp(const flow_t* f) noexcept nogil:
    return f.proto == 1 or f.proto == 58


cdef inline bint _snat(const flow_t* f) noexcept nogil:
    """The reply's destination is not the original source: source NAT rewrote it."""
    if _icmp(f):  # one id field for both directions: the addresses tell
        return memcmp(f.r_dst, f.o_src, _alen(f.family)) != 0
    return memcmp(f.r_dst, f.o_src, _alen(f.family)) != 0 or f.r_dport != f.o_sport


cdef inline bint _dnat(const flow_t* f) noexcept nogil:
    if _icmp(f):
        return memcmp(f.r_src, f.o_dst, _alen(f.family)) != 0
    return memcmp(f.r_src, f.o_dst, _alen(f.family)) != 0 or f.r_sport != f.o_dport


cdef int _full_len(const flow_t* f, int* form) noexcept nogil:
    cdef int a = _alen(f.family), n = 1 + 4 + 4 + 2 * a + 4 + 8
    # ICMP's reply is no mirror of its original (echo -> echo reply): it travels whole.
    form[0] = 3 if _icmp(f) else (1 if _snat(f) else 0) | (2 if _dnat(f) else 0)
    if form[0] & 1:
        n += a + 2
    if form[0] & 2:
        n += a + 2
    if f.present & P_MARK_:
        n += 4
    if f.present & P_ZONE_:
        n += 2
    if f.present & P_OZONE_:
        n += 2
    if f.present & P_RZONE_:
        n += 2
    if f.present & P_TCP_:
        n += 5
    return n


cdef int _write_full(uint8_t* o, const flow_t* f, int form) noexcept nogil:
    cdef int a = _alen(f.family), k = 0
    o[0] = OP_FULL_
    _put32(o + 1, f.id)
    o[5] = f.family
    o[6] = f.proto
    o[7] = f.present & (P_MARK_ | P_ZONE_ | P_OZONE_ | P_RZONE_ | P_TCP_)
    o[8] = form
    k = 9
    memcpy(o + k, f.o_src, a)
    memcpy(o + k + a, f.o_dst, a)
    k += 2 * a
    _put16(o + k, f.o_sport)
    _put16(o + k + 2, f.o_dport)
    k += 4
    if form & 1:
        memcpy(o + k, f.r_dst, a)
        _put16(o + k + a, f.r_dport)
        k += a + 2
    if form & 2:
        memcpy(o + k, f.r_src, a)
        _put16(o + k + a, f.r_sport)
        k += a + 2
    _put32(o + k, f.status)
    _put32(o + k + 4, f.timeout)
    k += 8
    if f.present & P_MARK_:
        _put32(o + k, f.mark)
        k += 4
    if f.present & P_ZONE_:
        _put16(o + k, f.zone)
        k += 2
    if f.present & P_OZONE_:
        _put16(o + k, f.o_zone)
        k += 2
    if f.present & P_RZONE_:
        _put16(o + k, f.r_zone)
        k += 2
    if f.present & P_TCP_:
        o[k] = f.tcp_state
        o[k + 1] = f.wscale_o
        o[k + 2] = f.wscale_r
        o[k + 3] = f.flags_o
        o[k + 4] = f.flags_r
        k += 5
    return k


cdef inline bint _same_flow(const flow_t* a, const flow_t* b) noexcept nogil:
    return (a.family == b.family and a.proto == b.proto and memcmp(a.o_src, b.o_src, 16) == 0
            and memcmp(a.o_dst, b.o_dst, 16) == 0 and a.o_sport == b.o_sport and a.o_dport == b.o_dport
            and memcmp(a.r_src, b.r_src, 16) == 0 and memcmp(a.r_dst, b.r_dst, 16) == 0
            and a.r_sport == b.r_sport and a.r_dport == b.r_dport and a.zone == b.zone
            and a.o_zone == b.o_zone and a.r_zone == b.r_zone
            and (a.present & (P_ZONE_ | P_OZONE_ | P_RZONE_)) == (b.present & (P_ZONE_ | P_OZONE_ | P_RZONE_)))


cdef int _changed(const flow_t* old, const flow_t* new) noexcept nogil:
    cdef int c = 0
    if old.status != new.status:
        c |= D_STATUS_
    if old.timeout != new.timeout:
        c |= D_TIMEOUT_
    if old.mark != new.mark or (old.present & P_MARK_) != (new.present & P_MARK_):
        c |= D_MARK_
    if (new.present & P_TCP_) and (old.tcp_state != new.tcp_state or old.wscale_o != new.wscale_o
                                  or old.wscale_r != new.wscale_r or old.flags_o != new.flags_o
                                  or old.flags_r != new.flags_r or not (old.present & P_TCP_)):
        c |= D_TCP_
    return c


cdef int _delta_len(int changed) noexcept nogil:
    return (6 + (4 if changed & D_STATUS_ else 0) + (4 if changed & D_TIMEOUT_ else 0)
            + (4 if changed & D_MARK_ else 0) + (5 if changed & D_TCP_ else 0))


cdef int _write_delta(uint8_t* o, const flow_t* f, int changed) noexcept nogil:
    cdef int k = 6
    o[0] = OP_DELTA_
    _put32(o + 1, f.id)
    o[5] = changed
    if changed & D_STATUS_:
        _put32(o + k, f.status)
        k += 4
    if changed & D_TIMEOUT_:
        _put32(o + k, f.timeout)
        k += 4
    if changed & D_MARK_:
        _put32(o + k, f.mark)
        k += 4
    if changed & D_TCP_:
        o[k] = f.tcp_state
        o[k + 1] = f.wscale_o
        o[k + 2] = f.wscale_r
        o[k + 3] = f.flags_o
        o[k + 4] = f.flags_r
        k += 5
    return k


def ct_encode(const unsigned char[::1] flows, Py_ssize_t start, Py_ssize_t n, FlowTable known,
              unsigned char[::1] out, Py_ssize_t max_len):
    """Encode flows[start:n] against what the peer knows (updating it) into out, at most
    max_len bytes: one datagram payload. Returns (next index, bytes written, records written).
    A flow the peer knows travels as a delta; one it does not as a whole; nothing that did not
    change travels at all."""
    cdef const flow_t* fs = <const flow_t*>&flows[0] if flows.shape[0] else NULL
    cdef Py_ssize_t i = start, w = 0, slot, recs = 0
    cdef const flow_t* f
    cdef flow_t* old
    cdef int need, form = 0, changed
    cdef uint8_t* o = &out[0]
    if max_len > out.shape[0] or n * sizeof(flow_t) > flows.shape[0]:
        raise ValueError("max_len beyond out, or n beyond flows")
    while i < n:
        f = &fs[i]
        slot = known.find(f.id)
        if f.kind == KIND_DESTROY_:
            if slot < 0:
                i += 1
                continue
            if w + 5 > max_len:
                break
            o[w] = OP_DESTROY_
            _put32(o + w + 1, f.id)
            w += 5
            known.remove_at(slot)
        elif slot >= 0 and _same_flow(&known.slots[slot], f):
            old = &known.slots[slot]
            old.epoch = known.epoch
            changed = _changed(old, f)
            if changed == 0:
                i += 1
                continue
            need = _delta_len(changed)
            if w + need > max_len:
                break
            w += _write_delta(o + w, f, changed)
            known.put(f)
        else:
            need = _full_len(f, &form)
            if w + need > max_len:
                if w == 0:
                    raise ValueError("max_len cannot hold one record")
                break
            w += _write_full(o + w, f, form)
            known.put(f)
        recs += 1
        i += 1
    return i, w, recs


def ct_encode_all(FlowTable known, Py_ssize_t cursor, unsigned char[::1] out, Py_ssize_t max_len):
    """The whole table as FULL records (a resync), from slot cursor on, into one payload.
    Returns (next cursor, bytes written); the cursor is past the end when done."""
    cdef Py_ssize_t i = cursor, w = 0
    cdef int form = 0, need
    cdef uint8_t* o = &out[0]
    if max_len > out.shape[0]:
        raise ValueError("max_len beyond out")
    while i < known.cap:
        if known.used[i]:
            need = _full_len(&known.slots[i], &form)
            if w + need > max_len:
                break
            w += _write_full(o + w, &known.slots[i], form)
        i += 1
    return i, w


def table_capacity(FlowTable known) -> int:
    return known.cap


# -- decoding: a payload applied to the backup's table -----------------------------------

cdef int _read_full(const uint8_t* p, Py_ssize_t n, flow_t* f) noexcept nogil:
    """Bytes used by one FULL record at p, or a DEC_* code."""
    cdef int a, k, form, present
    if n < 9:
        return DEC_TRUNCATED_
    memset(f, 0, sizeof(flow_t))
    f.id = _be32(p + 1)
    f.family = p[5]
    if f.family != 2 and f.family != 10:
        return DEC_BAD_FAMILY_
    a = _alen(f.family)
    f.proto = p[6]
    present = p[7]
    form = p[8]
    f.present = present
    f.tcp_state = 255
    k = 9
    if n < k + 2 * a + 4:
        return DEC_TRUNCATED_
    memcpy(f.o_src, p + k, a)
    memcpy(f.o_dst, p + k + a, a)
    k += 2 * a
    f.o_sport = _be16(p + k)
    f.o_dport = _be16(p + k + 2)
    k += 4
    memcpy(f.r_src, f.o_dst, a)  # the inverse, then what NAT rewrote
    memcpy(f.r_dst, f.o_src, a)
    f.r_sport = f.o_dport
    f.r_dport = f.o_sport
    if form & 1:
        if n < k + a + 2:
            return DEC_TRUNCATED_
        memcpy(f.r_dst, p + k, a)
        f.r_dport = _be16(p + k + a)
        k += a + 2
    if form & 2:
        if n < k + a + 2:
            return DEC_TRUNCATED_
        memcpy(f.r_src, p + k, a)
        f.r_sport = _be16(p + k + a)
        k += a + 2
    if n < k + 8 + (4 if present & P_MARK_ else 0) + (2 if present & P_ZONE_ else 0) \
            + (2 if present & P_OZONE_ else 0) + (2 if present & P_RZONE_ else 0) + (5 if present & P_TCP_ else 0):
        return DEC_TRUNCATED_
    f.status = _be32(p + k)
    f.timeout = _be32(p + k + 4)
    k += 8
    if present & P_MARK_:
        f.mark = _be32(p + k)
        k += 4
    if present & P_ZONE_:
        f.zone = _be16(p + k)
        k += 2
    if present & P_OZONE_:
        f.o_zone = _be16(p + k)
        k += 2
    if present & P_RZONE_:
        f.r_zone = _be16(p + k)
        k += 2
    if present & P_TCP_:
        f.tcp_state = p[k]
        f.wscale_o = p[k + 1]
        f.wscale_r = p[k + 2]
        f.flags_o = p[k + 3]
        f.flags_r = p[k + 4]
        k += 5
    return k


cdef int _check(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """Walk a payload without applying it: the record count, or a DEC_* code."""
    cdef Py_ssize_t off = 0
    cdef int used, changed, recs = 0
    cdef flow_t scratch
    while off < n:
        if p[off] == OP_FULL_:
            used = _read_full(p + off, n - off, &scratch)
            if used < 0:
                return used
        elif p[off] == OP_DELTA_:
            if n - off < 6:
                return DEC_TRUNCATED_
            changed = p[off + 5]
            used = _delta_len(changed)
            if changed & ~(D_STATUS_ | D_TIMEOUT_ | D_MARK_ | D_TCP_):
                return DEC_BAD_OP_
            if n - off < used:
                return DEC_TRUNCATED_
        elif p[off] == OP_DESTROY_:
            used = 5
            if n - off < used:
                return DEC_TRUNCATED_
        else:
            return DEC_BAD_OP_
        off += used
        recs += 1
    return recs


def ct_decode(const unsigned char[::1] payload, FlowTable table, unsigned char[::1] out, Py_ssize_t start):
    """Apply one payload to the backup's table; each applied flow goes to out (from index start)
    as a whole record for the kernel: KIND_NEW for a flow it did not hold (create), KIND_UPDATE
    for one it did, KIND_DESTROY for one to delete. Returns the next index, or a DEC_* code (< 0) when the
    payload is refused as a whole (nothing applied). A delta for an unknown flow is counted
    in the result's second value and skipped: only a resync can repair it."""
    cdef Py_ssize_t n = payload.shape[0], off = 0, idx = start, cap = out.shape[0] // sizeof(flow_t), slot
    cdef const uint8_t* p = _ptr(payload)
    cdef flow_t* o = <flow_t*>&out[0] if out.shape[0] else NULL
    cdef flow_t* cur
    cdef int used, changed, k, recs, unknown = 0
    cdef uint32_t fid
    recs = _check(p, n)
    if recs < 0:
        return recs, 0
    if start + recs > cap:
        return DEC_FULL_, 0
    while off < n:
        if p[off] == OP_FULL_:
            used = _read_full(p + off, n - off, &o[idx])
            # A flow this table already holds is in the kernel already: an update, not a create.
            slot = table.find(o[idx].id)
            o[idx].kind = KIND_UPDATE_ if slot >= 0 and _same_flow(&table.slots[slot], &o[idx]) else KIND_NEW_
            table.put(&o[idx])
            idx += 1
        elif p[off] == OP_DELTA_:
            fid = _be32(p + off + 1)
            changed = p[off + 5]
            used = _delta_len(changed)
            slot = table.find(fid)
            if slot < 0:
                unknown += 1
            else:
                cur = &table.slots[slot]
                k = off + 6
                if changed & D_STATUS_:
                    cur.status = _be32(p + k)
                    k += 4
                if changed & D_TIMEOUT_:
                    cur.timeout = _be32(p + k)
                    k += 4
                if changed & D_MARK_:
                    cur.mark = _be32(p + k)
                    cur.present |= P_MARK_
                    k += 4
                if changed & D_TCP_:
                    cur.tcp_state = p[k]
                    cur.wscale_o = p[k + 1]
                    cur.wscale_r = p[k + 2]
                    cur.flags_o = p[k + 3]
                    cur.flags_r = p[k + 4]
                    cur.present |= P_TCP_
                cur.epoch = table.epoch
                memcpy(&o[idx], cur, sizeof(flow_t))
                o[idx].kind = KIND_UPDATE_
                idx += 1
        else:  # OP_DESTROY_
            used = 5
            slot = table.find(_be32(p + off + 1))
            if slot >= 0:
                memcpy(&o[idx], &table.slots[slot], sizeof(flow_t))
                o[idx].kind = KIND_DESTROY_
                idx += 1
                table.remove_at(slot)
        off += used
    return idx, unknown


# -- building ctnetlink requests ------------------------------------------------------------

cdef inline int _nla(uint8_t* o, uint16_t atype, const uint8_t* data, int dlen) noexcept nogil:
    cdef int total = 4 + dlen
    o[0] = total & 0xFF
    o[1] = total >> 8
    o[2] = atype & 0xFF
    o[3] = atype >> 8
    if dlen:
        memcpy(o + 4, data, dlen)
    memset(o + total, 0, ((total + 3) & ~3) - total)
    return (total + 3) & ~3


cdef inline void _close_nest(uint8_t* start, int length) noexcept nogil:
    start[0] = length & 0xFF
    start[1] = length >> 8


cdef inline int _nla_u8(uint8_t* o, uint16_t t, uint8_t v) noexcept nogil:
    return _nla(o, t, &v, 1)


cdef inline int _nla_be16(uint8_t* o, uint16_t t, uint16_t v) noexcept nogil:
    cdef uint8_t b[2]
    _put16(b, v)
    return _nla(o, t, b, 2)


cdef inline int _nla_be32(uint8_t* o, uint16_t t, uint32_t v) noexcept nogil:
    cdef uint8_t b[4]
    _put32(b, v)
    return _nla(o, t, b, 4)


cdef int _tuple(uint8_t* o, uint16_t which, uint8_t family, uint8_t proto, const uint8_t* src,
                const uint8_t* dst, uint16_t sport, uint16_t dport, bint has_zone,
                uint16_t zone) noexcept nogil:
    cdef int k = 4, ip0, pr0, a = _alen(family)
    ip0 = k
    k += 4
    k += _nla(o + k, 1 if family == 2 else 3, src, a)
    k += _nla(o + k, 2 if family == 2 else 4, dst, a)
    _close_nest(o + ip0, k - ip0)
    o[ip0 + 2] = 1
    o[ip0 + 3] = NLA_F_NESTED >> 8
    pr0 = k
    k += 4
    k += _nla_u8(o + k, 1, proto)
    if proto == 1 or proto == 58:  # ICMP / ICMPv6: id, type, code
        k += _nla_be16(o + k, 4 if proto == 1 else 7, sport)
        k += _nla_u8(o + k, 5 if proto == 1 else 8, dport >> 8)
        k += _nla_u8(o + k, 6 if proto == 1 else 9, dport & 0xFF)
    else:
        k += _nla_be16(o + k, 2, sport)
        k += _nla_be16(o + k, 3, dport)
    _close_nest(o + pr0, k - pr0)
    o[pr0 + 2] = 2
    o[pr0 + 3] = NLA_F_NESTED >> 8
    if has_zone:
        k += _nla_be16(o + k, 3, zone)
    _close_nest(o, k)
    o[2] = which
    o[3] = NLA_F_NESTED >> 8
    return k


cdef int _nat(uint8_t* o, uint16_t which, uint8_t family, const uint8_t* addr, uint16_t port,
              bint with_port) noexcept nogil:
    cdef int k = 4, p0, a = _alen(family)
    k += _nla(o + k, 1 if family == 2 else 4, addr, a)  # CTA_NAT_V4_MINIP / CTA_NAT_V6_MINIP
    k += _nla(o + k, 2 if family == 2 else 5, addr, a)  # ..._MAXIP
    if with_port:
        p0 = k
        k += 4
        k += _nla_be16(o + k, 1, port)  # CTA_PROTONAT_PORT_MIN
        k += _nla_be16(o + k, 2, port)  # CTA_PROTONAT_PORT_MAX
        _close_nest(o + p0, k - p0)
        o[p0 + 2] = 3  # CTA_NAT_PROTO
        o[p0 + 3] = NLA_F_NESTED >> 8
    _close_nest(o, k)
    o[2] = which
    o[3] = NLA_F_NESTED >> 8
    return k




cdef int _ct_msg(uint8_t* o, const flow_t* f, int mode, uint32_t seq) noexcept nogil:
    """mode 0: create (with NAT); 1: update (no NAT, no reply tuple); 2: delete."""
    cdef int k = NLMSG_HDR, pi, pt
    cdef uint16_t mtype = CT_DELETE if mode == 2 else CT_NEW
    cdef uint16_t flags = NLM_F_REQUEST | (NLM_F_CREATE | NLM_F_EXCL if mode == 0 else 0)
    cdef uint8_t fl[2]
    fl[1] = 0xFF
    cdef bint ports = f.proto == 6 or f.proto == 17 or f.proto == 132 or f.proto == 33 or f.proto == 136
    o[k] = f.family
    o[k + 1] = 0  # NFNETLINK_V0
    o[k + 2] = 0
    o[k + 3] = 0
    k += NFGEN_HDR
    k += _tuple(o + k, 1, f.family, f.proto, f.o_src, f.o_dst, f.o_sport, f.o_dport,
                (f.present & P_OZONE_) != 0, f.o_zone)
    if f.present & P_ZONE_:
        k += _nla_be16(o + k, 18, f.zone)
    if mode == 0:
        # The reply as it was before NAT: the NAT binding below rewrites it, and only a binding that
        # rewrites sets IPS_SRC_NAT / IPS_DST_NAT, without which no packet of the flow is translated.
        if _icmp(f):
            k += _tuple(o + k, 2, f.family, f.proto, f.o_dst, f.o_src, f.r_sport, f.r_dport,
                        (f.present & P_RZONE_) != 0, f.r_zone)
        else:
            k += _tuple(o + k, 2, f.family, f.proto, f.o_dst, f.o_src, f.o_dport, f.o_sport,
                        (f.present & P_RZONE_) != 0, f.r_zone)
        # NAT as a binding to exactly the translated address and port the master chose.
        if _snat(f):
            k += _nat(o + k, 6, f.family, f.r_dst, f.r_dport, ports)  # CTA_NAT_SRC
        if _dnat(f):
            k += _nat(o + k, 13, f.family, f.r_src, f.r_sport, ports)  # CTA_NAT_DST
    if mode != 2:
        k += _nla_be32(o + k, 3, (f.status & SETTABLE_STATUS) | IPS_CONFIRMED)
        k += _nla_be32(o + k, 7, f.timeout if f.timeout else 1)
        if f.present & P_MARK_:
            k += _nla_be32(o + k, 8, f.mark)
        if (f.present & P_TCP_) and f.proto == 6:
            pi = k
            k += 4
            pt = k
            k += 4
            k += _nla_u8(o + k, 1, f.tcp_state)
            k += _nla_u8(o + k, 2, f.wscale_o)
            k += _nla_u8(o + k, 3, f.wscale_r)
            # nf_ct_tcp_flags {flags, mask}: set exactly the master's flags
            fl[0] = f.flags_o
            k += _nla(o + k, 4, fl, 2)
            fl[0] = f.flags_r
            k += _nla(o + k, 5, fl, 2)
            _close_nest(o + pt, k - pt)
            o[pt + 2] = 1
            o[pt + 3] = NLA_F_NESTED >> 8
            _close_nest(o + pi, k - pi)
            o[pi + 2] = 4
            o[pi + 3] = NLA_F_NESTED >> 8
    o[0] = k & 0xFF
    o[1] = (k >> 8) & 0xFF
    o[2] = 0
    o[3] = 0
    o[4] = mtype & 0xFF
    o[5] = mtype >> 8
    o[6] = flags & 0xFF
    o[7] = flags >> 8
    o[8] = seq & 0xFF
    o[9] = (seq >> 8) & 0xFF
    o[10] = (seq >> 16) & 0xFF
    o[11] = seq >> 24
    memset(o + 12, 0, 4)
    return k


def ct_build(const unsigned char[::1] flows, Py_ssize_t start, Py_ssize_t n, int update_only,
             unsigned char[::1] out, uint32_t seq0):
    """ctnetlink requests for flows[start:n] into out, as many as fit: NEW records as creates
    (with their NAT binding; update_only=1 makes them updates), UPDATE records as updates,
    DESTROY records as deletes. Request i carries sequence number seq0 + i.
    Returns (next index, bytes written)."""
    cdef const flow_t* fs = <const flow_t*>&flows[0] if flows.shape[0] else NULL
    cdef Py_ssize_t i = start, w = 0, cap = out.shape[0]
    cdef int mode
    cdef uint8_t* o = &out[0]
    if n * sizeof(flow_t) > flows.shape[0]:
        raise ValueError("n beyond flows")
    while i < n and w + MAX_CT_MSG <= cap:
        if fs[i].kind == KIND_DESTROY_:
            mode = 2
        elif fs[i].kind == KIND_NEW_ and not update_only:
            mode = 0
        else:
            mode = 1
        w += _ct_msg(o + w, &fs[i], mode, seq0 + <uint32_t>(i - start))
        i += 1
    return i, w
