# Declarations other Cython modules may cimport from the fast path.
from libc.stdint cimport uint8_t, uint16_t, uint64_t

cdef uint64_t _sum(const uint8_t* p, Py_ssize_t n, uint64_t acc) noexcept nogil
cdef uint16_t _fold(uint64_t acc) noexcept nogil
