"""The cluster's key schedule: one slow derivation from the secret, then a
separate subkey per use (RFC 5869 HKDF-Expand), so a key that leaks from
one channel opens no other.

A change of the cluster's secrets is carried out without a moment where
either node refuses the other: each channel accepts the old and the new key
(KeyChoice) until the peer is heard with the new one, and a node seals with
the old one until it knows the peer has the new one.

Rules: pure, standard library only. The salt is per cluster (the configured
key_salt, else the pair of hotwire addresses and the VRID offset), so one
precomputed dictionary does not fit every deployment. With auth = "pass"
the passphrase travels in clear text inside VRRPv2 adverts, so the hotwire
is keyed from hotwire_secret instead and never from the passphrase.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

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


T = TypeVar("T")
BAD_AUTH = "bad_auth"


class KeyChoice:
    """The keys one channel accepts, the newest last, and whether the peer has been heard with the newest."""

    def __init__(self, key: bytes):
        self.keys: tuple[bytes, ...] = (key,)
        self.heard_newest = True

    def set(self, keys: tuple[bytes, ...]) -> None:
        keys = tuple(dict.fromkeys(keys))  # an unchanged key is one key
        if keys != self.keys:
            self.keys = keys
            self.heard_newest = len(keys) == 1

    def first(self, attempt: Callable[[bytes], T | str]) -> T | str:
        """attempt(key) with each key until one is not refused as bad_auth; its result, or the refusal."""
        result: T | str = BAD_AUTH
        for n, key in enumerate(self.keys):
            result = attempt(key)
            if result != BAD_AUTH:
                if n == len(self.keys) - 1 and not isinstance(result, str):
                    self.heard_newest = True
                return result
        return result


class Rotation:
    """A change of the cluster's keys on this node: what it seals with and accepts meanwhile. A node that
    changed its own keys seals with the old ones until it knows the peer has the new (a synchronize it sent
    was applied, or the peer is heard with them); the node that receives them seals with the new at once.
    Both accept old and new until the peer is heard with the new ones; then the old are dropped."""

    def __init__(self, keys: Keys):
        self.new = keys
        self.old: Keys | None = None
        self.sealing_old = False

    def start(self, keys: Keys, peer_has_it: bool) -> None:
        if keys == self.new:
            return
        self.old, self.new = self.sealing(), keys
        self.sealing_old = not peer_has_it

    def sealing(self) -> Keys:
        return self.old if self.sealing_old and self.old is not None else self.new

    def accepting(self) -> tuple[Keys, ...]:
        return (self.old, self.new) if self.old is not None else (self.new,)

    def peer_has_new(self) -> None:
        self.sealing_old = False

    def heard_new(self) -> bool:
        """The peer was heard with the new keys: seal with them and drop the old. True if that changed."""
        if self.old is None:
            return False
        self.old, self.sealing_old = None, False
        return True

    def describe(self) -> str:
        if self.old is None:
            return ""
        if self.sealing_old:
            return ("the keys changed here: sealing with the previous ones until the peer has the new ones "
                    "(`hacore system config synchronize`); accepting both")
        return "the keys changed: sealing with the new ones, accepting the previous until the peer is heard with them"
