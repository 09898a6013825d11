"""The takeover bench's reading of the wire: which node spoke first after a
silence, and how far its first gratuitous ARP was from its first advert."""

from __future__ import annotations

from hacore_lab.takeoverbench import leads_ms, parse

A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
VIP = "203.0.113.1"


def advert(ts: str, mac: str) -> str:
    return (f"{ts} {mac} > 01:00:5e:00:00:12, ethertype IPv4 (0x0800), length 60: 192.0.2.141 > 224.0.0.18: "
            "VRRPv3, Advertisement, vrid 51, prio 200, intvl 10cs, length 12")


def garp(ts: str, mac: str, ip: str = VIP, target_mac: str = "") -> str:
    """As tcpdump shows it; keepalived's carries a broadcast target MAC, which tcpdump prints."""
    return (f"{ts} {mac} > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has {ip}{target_mac} "
            f"tell {ip}, length 28")


def test_each_takeover_is_seen_apart_and_signed() -> None:
    text = "\n".join([
        advert("100.000000000", A), advert("100.100000000", A),
        # B takes over the keepalived way: advert first, GARP 0.3 ms later
        advert("101.000000000", B), garp("101.000300000", B, target_mac=" (ff:ff:ff:ff:ff:ff)"),
        advert("101.100000000", B),
        garp("101.000400000", "02:00:00:00:00:0c", "203.0.113.99"),  # someone else's address: not ours
        # A takes over the hacore way: GARP first, its advert 0.2 ms later
        garp("102.000000000", A), advert("102.000200000", A),
        "tcpdump: listening on eth0", "",
    ])
    events = parse(text, VIP)
    assert [e.kind for e in events] == ["advert", "advert", "advert", "garp", "advert", "garp", "advert"]
    assert leads_ms(events) == [0.3, -0.2]
