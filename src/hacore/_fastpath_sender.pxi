# Included by _fastpath.pyx: the advert sender, a thread of its own that never
# takes the GIL.
#
# Why: the asyncio loop that used to send adverts also serves the CLI, writes
# files and talks netlink; on a saturated box it woke up to 91 ms late, and a
# master that is late by more than the backup's wait is a false failover.
# This thread sleeps to absolute deadlines on CLOCK_MONOTONIC
# (clock_nanosleep TIMER_ABSTIME), so lateness never accumulates; when it is
# late anyway it sends once and skips the missed deadlines (a burst would
# only tell the peer what one advert says).
#
# Python hands it prebuilt messages (one per HA link and family, priority and
# checksum filled in here) and a lease; it sends only while the lease runs,
# so a wedged control plane falls silent after the lease instead of holding
# the VIPs while nothing else on the node works. With HMAC the counter and
# the MAC are made here, without the GIL, from one OpenSSL MAC context keyed
# once: 1-3 us of the thread's CPU per advert beside 11-13 us for the send
# itself (7.2 us with the one-shot HMAC(); bench/sender_cost.py). A
# precomputed ring would save little and would have to guess the send times
# the counters must keep pace with.
# Counters never pass the limit Python has persisted (hacore.security.replay).
#
# Every field below is guarded by mu; the thread holds it while it sends, so
# a new packet, priority or target list is taken whole, and once set_targets
# returns no send uses a file descriptor Python is about to close. Two
# exceptions, so that the calls made all the time cannot keep the thread
# waiting on a caller preempted inside the lock (priority inheritance helps
# only a real-time thread): go() that only renews the lease stores it
# atomically, and stats() reads the counters without the lock (a snapshot a
# send may straddle: counters only grow).

from libc.stdint cimport int64_t

cdef extern from *:
    """
    static inline void hc_store_i64(int64_t* p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
    static inline int64_t hc_load_i64(int64_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
    """
    void hc_store_i64(int64_t* p, int64_t v) nogil
    int64_t hc_load_i64(int64_t* p) nogil

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    cdef struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk, timespec* ts)
    int clock_nanosleep(int clk, int flags, const timespec* req, timespec* rem)
    int CLOCK_MONOTONIC
    int TIMER_ABSTIME

cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_cond_t:
        pass
    ctypedef struct pthread_mutexattr_t:
        pass
    int PTHREAD_PRIO_INHERIT
    int pthread_mutexattr_init(pthread_mutexattr_t* a)
    int pthread_mutexattr_setprotocol(pthread_mutexattr_t* a, int protocol)
    int pthread_mutexattr_destroy(pthread_mutexattr_t* a)
    int pthread_mutex_init(pthread_mutex_t* m, void* attr)
    int pthread_mutex_destroy(pthread_mutex_t* m)
    int pthread_mutex_lock(pthread_mutex_t* m)
    int pthread_mutex_unlock(pthread_mutex_t* m)
    int pthread_cond_init(pthread_cond_t* c, void* attr)
    int pthread_cond_destroy(pthread_cond_t* c)
    int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m)
    int pthread_cond_signal(pthread_cond_t* c)
    int pthread_create(pthread_t* t, void* attr, void* (*fn)(void*) noexcept nogil, void* arg)
    int pthread_join(pthread_t t, void** ret)

cdef extern from "<sys/socket.h>" nogil:
    cdef struct sockaddr:
        pass
    ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr, unsigned int addrlen)

cdef extern from "<sys/mman.h>" nogil:
    int mlockall(int flags)
    int MCL_CURRENT
    int MCL_FUTURE

cdef extern from "<unistd.h>" nogil:
    long syscall(long number, ...)

cdef extern from "<sys/syscall.h>" nogil:
    long SYS_gettid

cdef extern from "<errno.h>" nogil:
    int errno

cdef extern from "<openssl/evp.h>" nogil:
    ctypedef struct EVP_MAC:
        pass
    ctypedef struct EVP_MAC_CTX:
        pass
    ctypedef struct OSSL_PARAM:
        pass
    EVP_MAC* EVP_MAC_fetch(void* libctx, const char* algorithm, const char* properties)
    void EVP_MAC_free(EVP_MAC* mac)
    EVP_MAC_CTX* EVP_MAC_CTX_new(EVP_MAC* mac)
    void EVP_MAC_CTX_free(EVP_MAC_CTX* ctx)
    int EVP_MAC_init(EVP_MAC_CTX* ctx, const unsigned char* key, size_t keylen, const OSSL_PARAM* params)
    int EVP_MAC_update(EVP_MAC_CTX* ctx, const unsigned char* data, size_t datalen)
    int EVP_MAC_final(EVP_MAC_CTX* ctx, unsigned char* out, size_t* outl, size_t outsize)

cdef extern from "<openssl/params.h>" nogil:
    OSSL_PARAM OSSL_PARAM_construct_utf8_string(const char* key, char* buf, size_t bsize)
    OSSL_PARAM OSSL_PARAM_construct_end()

cdef enum:
    SND_MAX_TARGETS = 24  # hacore.config.model.MAX_HA_INTERFACES links, two families each
    SND_MAX_MSG = 8 + 255 * 16 + 8   # header, 255 IPv6 addresses, or the v2 auth data
    SND_CTR_LEN = 8
    SND_MAC_LEN = 16
    SND_TRAILER = SND_CTR_LEN + SND_MAC_LEN
    SND_MAX_KEY = 128
    SND_BUCKETS = 14
    SND_NAP_NS = 50000000  # the longest single sleep: a stop is seen within this

# The lateness histogram has the loop monitor's buckets, so the two read side by side.
from hacore.support.looplag import BUCKETS_US as _BUCKETS_US, bucket_names as _bucket_names

assert len(_BUCKETS_US) == SND_BUCKETS - 1
cdef int64_t _BOUNDS_NS[SND_BUCKETS - 1]
for _i, _b in enumerate(_BUCKETS_US):
    _BOUNDS_NS[_i] = _b * 1000

cdef struct snd_target:
    int fd
    uint8_t sa[28]
    unsigned int salen
    uint8_t src[16]
    uint8_t dst[16]
    int alen
    int mode
    int msglen               # without the HMAC trailer
    uint64_t errors          # sends that failed on this target (reset with the targets)
    uint8_t msg[SND_MAX_MSG]


cdef inline int64_t _mono_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef struct snd_state:
    pthread_mutex_t mu
    pthread_cond_t cv
    bint stopping, active, lease_lapsed, hmac
    snd_target targets[SND_MAX_TARGETS]
    int ntargets, priority, tid, last_errno
    int64_t period_ns, next_ns, lease_until_ns
    EVP_MAC_CTX* mac         # HMAC-SHA256 keyed once; re-initialised per advert, keeping the key
    int64_t ctr_base, ctr_mono0_us, ctr_last, ctr_limit
    uint64_t sent, send_errors, lease_expiries, skipped, ctr_exhausted, wakeups
    int64_t worst_late_ns
    uint64_t hist[SND_BUCKETS]


cdef void _send_all(snd_state* s, int64_t now) noexcept nogil:
    """One advert on every target, if the lease runs and a counter is left (mu held)."""
    cdef uint8_t buf[SND_MAX_MSG + SND_TRAILER]
    cdef uint8_t mac[64]
    cdef size_t maclen = 0
    cdef int i, n, j, version
    cdef int64_t ctr = 0
    cdef uint16_t csum
    cdef snd_target* t
    if now > hc_load_i64(&s.lease_until_ns):
        if not s.lease_lapsed:
            s.lease_lapsed = True
            s.lease_expiries += 1
        return
    s.lease_lapsed = False
    if s.hmac:
        ctr = s.ctr_base + now // 1000 - s.ctr_mono0_us
        if ctr <= s.ctr_last:
            ctr = s.ctr_last + 1
        if ctr > s.ctr_limit:
            s.ctr_exhausted += 1
            return
        s.ctr_last = ctr
    for i in range(s.ntargets):
        t = &s.targets[i]
        n = t.msglen
        memcpy(buf, t.msg, n)
        buf[2] = s.priority
        buf[6] = 0
        buf[7] = 0
        version = buf[0] >> 4
        if s.hmac:
            # hacore.vrrp.auth: MAC over source, destination, the message (checksum zero), counter.
            for j in range(SND_CTR_LEN):
                buf[n + j] = (ctr >> (8 * (SND_CTR_LEN - 1 - j))) & 0xFF
            if (EVP_MAC_init(s.mac, NULL, 0, NULL) != 1
                    or EVP_MAC_update(s.mac, t.src, t.alen) != 1
                    or EVP_MAC_update(s.mac, t.dst, t.alen) != 1
                    or EVP_MAC_update(s.mac, buf, n + SND_CTR_LEN) != 1
                    or EVP_MAC_final(s.mac, mac, &maclen, sizeof(mac)) != 1):
                s.send_errors += 1  # never an unsealed advert
                t.errors += 1
                continue
            memcpy(buf + n + SND_CTR_LEN, mac, SND_MAC_LEN)
            n += SND_TRAILER
        csum = _fold(_sum(buf, n, _base(version, t.src, t.dst, t.alen, n, t.mode)))
        buf[6] = csum >> 8
        buf[7] = csum & 0xFF
        if sendto(t.fd, buf, n, 0, <const sockaddr*>t.sa, t.salen) == n:
            s.sent += 1
        else:
            s.send_errors += 1
            t.errors += 1
            s.last_errno = errno


cdef void _note_late(snd_state* s, int64_t late) noexcept nogil:
    cdef int b = 0
    while b < SND_BUCKETS - 1 and late >= _BOUNDS_NS[b]:
        b += 1
    s.hist[b] += 1
    s.wakeups += 1
    if late > s.worst_late_ns:
        s.worst_late_ns = late


cdef void* _sender_main(void* arg) noexcept nogil:
    cdef snd_state* s = <snd_state*>arg
    cdef int64_t now, wake, missed
    cdef timespec ts
    pthread_mutex_lock(&s.mu)
    s.tid = <int>syscall(SYS_gettid)
    while not s.stopping:
        if not s.active or s.ntargets == 0:
            pthread_cond_wait(&s.cv, &s.mu)
            continue
        now = _mono_ns()
        if now < s.next_ns:
            wake = s.next_ns if s.next_ns - now < SND_NAP_NS else now + SND_NAP_NS
            pthread_mutex_unlock(&s.mu)
            ts.tv_sec = wake // 1000000000
            ts.tv_nsec = wake % 1000000000
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
            pthread_mutex_lock(&s.mu)
            continue
        _note_late(s, now - s.next_ns)
        _send_all(s, now)
        s.next_ns += s.period_ns
        if s.next_ns <= now:  # late by a period or more: skip ahead, no burst
            missed = (now - s.next_ns) // s.period_ns + 1
            s.skipped += missed
            s.next_ns += missed * s.period_ns
    s.tid = 0
    pthread_mutex_unlock(&s.mu)
    return NULL


cdef class AdvertSender:
    """Sends adverts on its own thread; see the top of _fastpath_sender.pxi."""

    cdef snd_state* s
    cdef pthread_t thread
    cdef bint running

    def __cinit__(self):
        self.s = <snd_state*>calloc(1, sizeof(snd_state))
        if self.s == NULL:
            raise MemoryError()
        # Priority inheritance: the Python side takes this lock briefly (go, info, quiet); a normal-priority
        # holder preempted inside it would otherwise keep a real-time sender waiting (measured: adverts
        # 100 ms late at SCHED_FIFO under conntrack churn with the CPUs 40 % idle).
        cdef pthread_mutexattr_t attr
        pthread_mutexattr_init(&attr)
        pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT)
        pthread_mutex_init(&self.s.mu, &attr)
        pthread_mutexattr_destroy(&attr)
        pthread_cond_init(&self.s.cv, NULL)
        self.s.period_ns = 1000000000
        self.s.ctr_limit = -1

    def __dealloc__(self):
        if self.s == NULL:
            return
        self._join()
        EVP_MAC_CTX_free(self.s.mac)
        pthread_cond_destroy(&self.s.cv)
        pthread_mutex_destroy(&self.s.mu)
        free(self.s)

    # -- set-up ----------------------------------------------------------------------------

    def set_targets(self, list targets) -> None:
        """targets: (fd, sockaddr, src, dst, checksum mode, message) per link and family; the message is
        the advert without the HMAC trailer, its priority and checksum are filled in at each send."""
        cdef snd_target* tmp
        cdef int n = 0
        cdef bytes sa, src, dst, msg
        if len(targets) > SND_MAX_TARGETS:
            raise ValueError(f"at most {SND_MAX_TARGETS} targets")
        tmp = <snd_target*>calloc(SND_MAX_TARGETS, sizeof(snd_target))
        if tmp == NULL:
            raise MemoryError()
        try:
            for fd, sa, src, dst, mode, msg in targets:
                if (len(sa) > 28 or len(src) not in (4, 16) or len(dst) != len(src)
                        or not 8 <= len(msg) <= SND_MAX_MSG):
                    raise ValueError("bad target: sockaddr <= 28 bytes, src/dst 4 or 16, message 8.. bytes")
                tmp[n].fd = fd
                memcpy(tmp[n].sa, <const char*>sa, len(sa))
                tmp[n].salen = len(sa)
                memcpy(tmp[n].src, <const char*>src, len(src))
                memcpy(tmp[n].dst, <const char*>dst, len(dst))
                tmp[n].alen = len(src)
                tmp[n].mode = mode
                tmp[n].msglen = len(msg)
                memcpy(tmp[n].msg, <const char*>msg, len(msg))
                n += 1
            with nogil:
                pthread_mutex_lock(&self.s.mu)
                memcpy(self.s.targets, tmp, n * sizeof(snd_target))
                self.s.ntargets = n
                pthread_cond_signal(&self.s.cv)
                pthread_mutex_unlock(&self.s.mu)
        finally:
            free(tmp)

    def set_hmac(self, bytes key, long long base, long long mono0_us, long long last) -> None:
        """Seal adverts: counter = max(last + 1, base + monotonic us - mono0_us), as hacore.security.replay's
        CounterSource, never beyond the limit set with set_counter_limit."""
        cdef int n = len(key)
        cdef const unsigned char* k = key
        cdef EVP_MAC_CTX* ctx
        cdef EVP_MAC* alg
        cdef OSSL_PARAM params[2]
        if not 0 < n <= SND_MAX_KEY:
            raise ValueError(f"key must be 1..{SND_MAX_KEY} bytes")
        # OpenSSL 3's one-shot HMAC() looks the algorithm up and keys it on every call; one context
        # keyed here and re-initialised per advert costs a fifth of that (bench/sender_cost.py).
        alg = EVP_MAC_fetch(NULL, b"HMAC", NULL)
        ctx = EVP_MAC_CTX_new(alg) if alg != NULL else NULL
        EVP_MAC_free(alg)  # the context holds its own reference
        params[0] = OSSL_PARAM_construct_utf8_string(b"digest", <char*>b"SHA256", 0)
        params[1] = OSSL_PARAM_construct_end()
        if ctx == NULL or EVP_MAC_init(ctx, k, n, params) != 1:
            EVP_MAC_CTX_free(ctx)
            raise RuntimeError("OpenSSL has no HMAC-SHA256")
        with nogil:
            pthread_mutex_lock(&self.s.mu)
            ctx, self.s.mac = self.s.mac, ctx
            self.s.hmac = True
            self.s.ctr_base, self.s.ctr_mono0_us = base, mono0_us
            if last > self.s.ctr_last:
                self.s.ctr_last = last
            pthread_mutex_unlock(&self.s.mu)
        EVP_MAC_CTX_free(ctx)  # the one it replaced, if any

    def set_counter_limit(self, long long limit) -> None:
        """The persisted high-water mark: no counter beyond it is used."""
        with nogil:
            pthread_mutex_lock(&self.s.mu)
            self.s.ctr_limit = limit
            pthread_mutex_unlock(&self.s.mu)

    @property
    def counter_last(self) -> int:
        cdef int64_t v
        with nogil:
            pthread_mutex_lock(&self.s.mu)
            v = self.s.ctr_last
            pthread_mutex_unlock(&self.s.mu)
        return v

    @property
    def tid(self) -> int:
        """The thread's kernel id (for sched_setscheduler / sched_setaffinity), 0 when not running."""
        return self.s.tid

    # -- control ----------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the thread (idle until go()); returns once its kernel id is known."""
        if self.running:
            return
        self.s.stopping = False
        if pthread_create(&self.thread, NULL, _sender_main, <void*>self.s) != 0:
            raise OSError("cannot start the advert sender thread")
        self.running = True
        while self.s.tid == 0:
            with nogil:
                pthread_mutex_lock(&self.s.mu)
                pthread_mutex_unlock(&self.s.mu)

    def go(self, int priority, long long period_ns, long long lease_ns) -> bool:
        """Send at this priority every period_ns while the lease (renewed now) runs. A new priority or
        period, or the first call after quiet(), sends at once and restarts the schedule; otherwise
        this only renews the lease. True if an advert went out now."""
        cdef bint now_send
        cdef int64_t now
        if not 0 <= priority <= 255 or period_ns <= 0 or lease_ns <= 0:
            raise ValueError("priority 0..255, period and lease > 0")
        # Only Python writes active, priority and period (its calls are serialised by the GIL): reading
        # them here is safe, and the usual call - same priority, same period - takes no lock.
        if self.s.active and priority == self.s.priority and period_ns == self.s.period_ns:
            hc_store_i64(&self.s.lease_until_ns, _mono_ns() + lease_ns)
            return False
        with nogil:
            pthread_mutex_lock(&self.s.mu)
            now = _mono_ns()
            hc_store_i64(&self.s.lease_until_ns, now + lease_ns)
            self.s.lease_lapsed = False
            now_send = not self.s.active or priority != self.s.priority or period_ns != self.s.period_ns
            self.s.priority = priority
            self.s.period_ns = period_ns
            if now_send:
                self.s.active = True
                _send_all(self.s, now)
                self.s.next_ns = now + period_ns
                pthread_cond_signal(&self.s.cv)
            pthread_mutex_unlock(&self.s.mu)
        return now_send

    def quiet(self) -> None:
        """No more adverts until the next go()."""
        with nogil:
            pthread_mutex_lock(&self.s.mu)
            self.s.active = False
            pthread_mutex_unlock(&self.s.mu)

    def stop(self) -> None:
        """A last advert at priority 0 if it was sending, then the thread ends (joined)."""
        with nogil:
            pthread_mutex_lock(&self.s.mu)
            if self.s.active and self.s.ntargets:
                self.s.priority = 0
                hc_store_i64(&self.s.lease_until_ns, _mono_ns() + 1000000000)
                _send_all(self.s, _mono_ns())
            self.s.active = False
            pthread_mutex_unlock(&self.s.mu)
        self._join()

    def _join(self) -> None:
        if not self.running:
            return
        with nogil:
            pthread_mutex_lock(&self.s.mu)
            self.s.stopping = True
            pthread_cond_signal(&self.s.cv)
            pthread_mutex_unlock(&self.s.mu)
            pthread_join(self.thread, NULL)
        self.running = False

    def stats(self) -> dict:
        """Counters, read without the lock (see the top of this file): a CLI polling the node must not be
        able to keep the thread waiting. Copied first, before any Python object is made."""
        cdef snd_state* s = self.s
        cdef uint64_t c[6]
        cdef int64_t period_ns, worst_ns
        cdef int priority, last_errno, ntargets, i
        cdef bint active
        cdef uint64_t hist[SND_BUCKETS]
        cdef uint64_t errs[SND_MAX_TARGETS]
        c[0], c[1], c[2], c[3] = s.sent, s.send_errors, s.lease_expiries, s.skipped
        c[4], c[5] = s.ctr_exhausted, s.wakeups
        period_ns, worst_ns, priority, last_errno = s.period_ns, s.worst_late_ns, s.priority, s.last_errno
        active, ntargets = s.active, s.ntargets
        memcpy(hist, s.hist, sizeof(hist))
        for i in range(min(ntargets, SND_MAX_TARGETS)):
            errs[i] = s.targets[i].errors
        return {"running": bool(self.running), "sending": bool(active), "priority": priority,
                "period_ms": period_ns / 1e6, "sent": c[0], "send_errors": c[1], "last_send_errno": last_errno,
                "lease_expiries": c[2], "skipped_deadlines": c[3], "counter_exhausted": c[4],
                "worst_late_us": round(worst_ns / 1000, 1), "wakeups": c[5],
                "late_histogram": dict(zip(_bucket_names(), [hist[i] for i in range(SND_BUCKETS)])),
                "target_errors": [errs[i] for i in range(ntargets)]}


def lock_memory() -> int:
    """mlockall(MCL_CURRENT | MCL_FUTURE): 0, or the errno that refused it."""
    if mlockall(MCL_CURRENT | MCL_FUTURE) == 0:
        return 0
    return errno
