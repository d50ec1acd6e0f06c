"""decode.py on frames built here with scapy: the port bindings the spec asks for, layer-3
captures (no Ethernet header), and bad records. No privileges needed."""

from __future__ import annotations

import base64

import pytest

from kdiag.observer.decode import DecodeError, FiveTuple, decode_record


def record(frame: bytes, *, offset: int) -> dict[str, object]:
    return {"interface": "eth0", "direction": "in", "timestamp": 1.5, "length": len(frame),
            "networkOffset": offset, "data": base64.b64encode(frame).decode()}


def test_vxlan_on_a_port_the_spec_names_decodes_to_the_inner_flow() -> None:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.layers.vxlan import VXLAN

    inner = IP(src="10.98.1.10", dst="10.98.2.10", ttl=63) / TCP(sport=40000, dport=80, flags="S")
    frame = bytes(Ether() / IP(src="10.97.0.1", dst="10.97.0.2") / UDP(sport=1234, dport=9999) / VXLAN(vni=42)
                  / Ether() / inner)
    unbound = decode_record(record(frame, offset=14))
    assert unbound.encapsulation is None  # port 9999 means nothing to scapy by itself
    packet = decode_record(record(frame, offset=14), udp_ports=frozenset({("vxlan", 9999)}))
    assert packet.encapsulation is not None
    assert (packet.encapsulation.kind, packet.encapsulation.vni) == ("vxlan", 42)
    assert packet.encapsulation.outer == FiveTuple("10.97.0.1", "10.97.0.2", "udp", 1234, 9999)
    assert packet.flow == FiveTuple("10.98.1.10", "10.98.2.10", "tcp", 40000, 80)
    assert (packet.ttl, packet.tcp_flags) == (63, "S")


def test_layer3_capture_of_ip_in_ip() -> None:
    """On tunl0 or a WireGuard device the capture starts at the IP header (networkOffset 0)."""
    from scapy.layers.inet import ICMP, IP

    outer = IP(src="10.97.0.1", dst="10.97.0.2", ttl=64)
    frame = bytes(outer / IP(src="10.98.1.10", dst="10.98.3.10", ttl=63) / ICMP(type=8))
    packet = decode_record(record(frame, offset=0))
    assert packet.encapsulation is not None
    assert (packet.encapsulation.kind, packet.encapsulation.outer_ttl) == ("ipip", 64)
    assert packet.flow == FiveTuple("10.98.1.10", "10.98.3.10", "icmp")
    assert (packet.icmp_type, packet.src_mac) == (8, None)


def test_a_record_that_is_not_ipv4_is_an_error() -> None:
    from scapy.layers.l2 import ARP, Ether

    with pytest.raises(DecodeError, match="eth0: not an IPv4 packet"):
        decode_record(record(bytes(Ether() / ARP()), offset=14))
