"""The cluster's key schedule: one slow derivation from the secret, then a
separate subkey per use (RFC 5869 HKDF-Expand), so a key that leaks from
one channel opens no other.

Rules: pure, standard library only. The salt is per cluster (the configured
key_salt, else the pair of hotwire addresses and the VRID offset), so one
precomputed dictionary does not fit every deployment. With auth = "pass"
the passphrase travels in clear text inside VRRPv2 adverts, so the hotwire
is keyed from hotwire_secret instead and never from the passphrase.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from hacore.config.model import AuthMode, Cluster

ROUNDS = 100_000  # PBKDF2-SHA256: once per start or secret change, off the event loop
VERSION = b"hacore-keys-v2"


def hkdf_expand(prk: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 section 2.3, with SHA-256."""
    out, block = b"", b""
    for n in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([n]), hashlib.sha256).digest()
        out += block
    return out[:length]


def master_key(secret: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), VERSION + b"|" + salt, ROUNDS)


def cluster_salt(c: Cluster) -> bytes:
    if c.key_salt:
        return c.key_salt.encode()
    pair = sorted(a.split("/")[0] for a in (c.hotwire.local_address, c.hotwire.remote_address))
    return f"{pair[0]}|{pair[1]}|{c.vrid_offset}".encode()


@dataclass(frozen=True)
class Keys:
    vrrp: bytes  # HMAC of adverts (auth = "hmac")
    hotwire: bytes  # peer status on UDP/3780


def derive(c: Cluster) -> Keys:
    salt = cluster_salt(c)
    vrrp_master = master_key(c.passphrase, salt)
    own_secret = c.auth == AuthMode.PASS or bool(c.hotwire_secret)  # validation requires it with "pass"
    hot_master = master_key(c.hotwire_secret, salt) if own_secret else vrrp_master
    return Keys(hkdf_expand(vrrp_master, b"hacore vrrp advert hmac"),
                hkdf_expand(hot_master, b"hacore hotwire peer status"))
