"""Wire formats: Linux socket constants, ICMP/TCP headers built and parsed with struct, and Event,
what came back for a probe. Plain struct, not scapy: importing scapy alone takes ~0.9 s."""

from __future__ import annotations

import socket
import struct
from typing import Any, Dict, NamedTuple, Optional, Tuple

# Linux values; older Pythons' socket module lacks several of them.
IP_TTL, IP_MTU_DISCOVER, IP_RECVERR, IP_RECVTTL, IP_PMTUDISC_PROBE = 2, 10, 11, 12, 3
MSG_ERRQUEUE, SO_EE_ORIGIN_ICMP = 0x2000, 2
SIOCGIFHWADDR, SIOCGIFMTU, SIOCGIFADDR, SIOCGIFNETMASK = 0x8927, 0x8921, 0x8915, 0x891B
ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_TIME_EXCEEDED, ICMP_ECHO = 0, 3, 11, 8
ICMP_NAMES = {
    (3, 0): "netUnreachable", (3, 1): "hostUnreachable", (3, 2): "protocolUnreachable",
    (3, 3): "portUnreachable", (3, 4): "fragmentationNeeded", (3, 9): "netProhibited",
    (3, 10): "hostProhibited", (3, 13): "adminProhibited", (11, 0): "ttlExceeded",
    (11, 1): "reassemblyTimeExceeded",
}
ECHO_SIZE = 84  # bytes on the wire, like ping's default 56-byte payload


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo(ident: int, seq: int, length: int) -> bytes:
    """An ICMP echo request of `length` bytes (header included)."""
    payload = bytes(max(0, length - 8))
    csum = checksum(struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq) + payload)
    return struct.pack("!BBHHH", ICMP_ECHO, 0, csum, ident, seq) + payload


def tcp_syn(source: str, target: str, sport: int, dport: int, seq: int) -> bytes:
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = socket.inet_aton(source) + socket.inet_aton(target) + struct.pack("!BBH", 0, 6, len(header))
    return header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]


def split_ip(packet: bytes) -> Tuple[str, int, int, bytes]:
    """(source, ttl, protocol, payload) of an IPv4 packet."""
    ihl = (packet[0] & 0x0F) * 4
    return socket.inet_ntoa(packet[12:16]), packet[8], packet[9], packet[ihl:]


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


class Event(NamedTuple):
    """Something that came back for probe `key`: a reply (icmp_type None) or an ICMP error."""

    key: int
    source: str
    at: float
    ttl: Optional[int] = None
    icmp_type: Optional[int] = None
    icmp_code: Optional[int] = None
    mtu: Optional[int] = None


def icmp_error(event: Event) -> Dict[str, Any]:
    kind = (event.icmp_type or 0, event.icmp_code or 0)
    found: Dict[str, Any] = {"from": event.source, "type": kind[0], "code": kind[1],
                             "name": ICMP_NAMES.get(kind, "icmp%d/%d" % kind)}
    if event.mtu:
        found["mtu"] = event.mtu
    return found


def reached_target(event: Event, target: str) -> bool:
    """A reply, or an unreachable the target itself sent, proves the probe arrived there."""
    return event.source == target and (event.icmp_type is None or event.icmp_type == ICMP_UNREACHABLE)
