"""The key schedule and the wire formats, pinned by known-answer vectors: a change of either between
versions must be deliberate, since two nodes of different versions must still understand each other."""

from __future__ import annotations

import json
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path

from hacore.config.model import AuthMode, Cluster, Hotwire
from hacore.hotwire import envelope
from hacore.hotwire import status as hotwire
from hacore.security.keys import cluster_salt, derive, hkdf_expand
from hacore.vrrp import codec as codec_py
from hacore.vrrp.auth import seal
from hacore.vrrp.codec import Advert
from hacore.vrrp.drops import Checksum

KAT = json.loads((Path(__file__).parent / "data" / "auth_vectors.json").read_text())
CLUSTER = Cluster(passphrase="insecure", hotwire=Hotwire("lan3", "198.18.0.2/24", "198.18.0.3"),
                  hotwire_secret="", key_salt="")


def test_hkdf_expand_matches_rfc_5869_case_1() -> None:
    prk = bytes.fromhex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
    okm = hkdf_expand(prk, bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")


def test_subkeys_are_separate_and_pinned() -> None:
    keys = derive(CLUSTER)
    assert keys.vrrp != keys.hotwire
    assert {"vrrp": keys.vrrp.hex(), "hotwire": keys.hotwire.hex()} == KAT["keys"]


def test_salt_is_per_cluster_and_the_same_on_both_nodes() -> None:
    mirrored = replace(CLUSTER, hotwire=Hotwire("lan3", "198.18.0.3/24", "198.18.0.2"))
    assert cluster_salt(CLUSTER) == cluster_salt(mirrored)
    assert derive(mirrored) == derive(CLUSTER)
    assert derive(replace(CLUSTER, key_salt="site-b")).vrrp != derive(CLUSTER).vrrp


def test_pass_mode_never_keys_the_hotwire_with_the_clear_text_passphrase() -> None:
    pass_mode = replace(CLUSTER, auth=AuthMode.PASS, hotwire_secret="another secret")
    assert derive(pass_mode).hotwire != derive(CLUSTER).hotwire
    assert derive(pass_mode).hotwire == derive(replace(pass_mode, passphrase="changed")).hotwire


def test_hmac_advert_trailer_known_answer() -> None:
    v = KAT["advert"]
    adv = Advert(3, 50, 200, 66, (ip_address("198.51.100.101"),))
    wire = seal(bytes.fromhex(v["key"]), adv, ip_address("198.51.100.102").packed,
                ip_address("224.0.0.18").packed, Checksum.PSEUDO, v["counter"], codec_py.encode)
    assert wire.hex() == v["wire"]


def test_hotwire_status_known_answer() -> None:
    """A status in the hotwire's one envelope: body | counter | HMAC-SHA256[:16] over both."""
    v = KAT["status"]
    status = hotwire.Status("node1", "master", 200, False, "ab" * 32)
    assert envelope.seal(bytes.fromhex(v["key"]), hotwire.encode(status), v["counter"]).hex() == v["wire"]


def test_hmac_trailer_is_the_documented_construction() -> None:
    import hashlib
    import hmac

    v = KAT["advert"]
    wire = bytes.fromhex(v["wire"])
    message, ctr, mac = wire[:-24], wire[-24:-16], wire[-16:]
    assert int.from_bytes(ctr, "big") == v["counter"]
    zeroed = message[:6] + b"\0\0" + message[8:]
    src, dst = ip_address("198.51.100.102").packed, ip_address("224.0.0.18").packed
    assert mac == hmac.new(bytes.fromhex(v["key"]), src + dst + zeroed + ctr, hashlib.sha256).digest()[:16]
