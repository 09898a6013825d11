"""Drop reasons and checksum modes, mirroring bpf/hacore_vrrp.h value for value.

Imports nothing but the standard library; a unit test parses the C header and
the compiled module's constants and checks that all three agree.
"""

from enum import IntEnum


class Drop(IntEnum):
    OK = 0
    SHORT = 1
    BAD_IP_HEADER = 2
    BAD_PROTO = 3
    BAD_TTL = 4
    BAD_VERSION = 5
    BAD_TYPE = 6
    BAD_ADDR_COUNT = 7
    BAD_CHECKSUM = 8
    WRONG_VRID = 9
    BAD_INTERVAL = 10
    BAD_AUTH = 11
    REPLAY = 12
    STRANGER = 13  # only the receive filters give this one


class Checksum(IntEnum):
    """How a VRRPv3 checksum over IPv4 is computed; IPv6 always uses the pseudo-header."""

    PSEUDO = 0  # RFC 5798, as keepalived and FRR send it
    NO_PSEUDO = 1  # RFC 9568 reading: the VRRP message alone


class AuthType(IntEnum):
    """VRRPv2 Auth Type field (RFC 3768 5.3.6; RFC 2338 for PASS)."""

    NONE = 0
    PASS = 1
