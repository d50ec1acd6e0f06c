"""Client side: the observer's captured frames decoded with scapy into plain frozen records.

scapy is imported inside functions only (it costs ~1 s and is needed only with `--observe`), so
importing this module is free. Encapsulated packets are dissected by scapy's own layers, bound
to the ports the observer was told to expect (as scapy's layers/vxlan.py binds 4789 and 8472):
VXLAN, Geneve (scapy.contrib.geneve) and IP-in-IP (IP over IP, protocol 4, bound by scapy).
Never decoded by hand. This module is not shipped to nodes and imports nothing of kdiag.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PROTOCOL_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 4: "ipip"}


@dataclass(frozen=True)
class FiveTuple:
    src: str
    dst: str
    protocol: str  # icmp, tcp, udp, or the IP protocol number as text
    src_port: int | None = None
    dst_port: int | None = None


@dataclass(frozen=True)
class Encapsulation:
    kind: str  # vxlan, geneve, ipip
    outer: FiveTuple  # the underlay packet: node to node
    outer_ttl: int
    vni: int | None = None


@dataclass(frozen=True)
class DecodedPacket:
    """One captured packet of the flow, as seen on one interface of one node."""

    interface: str
    direction: str  # "in" (received on the interface) or "out" (sent through it)
    timestamp: float
    length: int  # on the wire, before the observer's snap length cut it
    flow: FiveTuple  # the probe's packet itself: the inner one when encapsulated
    ttl: int
    encapsulation: Encapsulation | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    quoted: FiveTuple | None = None  # for an ICMP error: the flow packet it is about
    tcp_flags: str | None = None  # scapy's letters: "S", "SA", "R", "FA", ...
    src_mac: str | None = None  # link layer on this interface, when it has one
    dst_mac: str | None = None


class DecodeError(ValueError):
    """A captured record scapy could not read as IPv4."""


@functools.cache
def _layers(udp_ports: frozenset[tuple[str, int]]) -> Any:
    """Import scapy once and bind the tunnel layers to the observer's ports."""
    from scapy.contrib import geneve
    from scapy.layers import inet, l2, vxlan
    from scapy.packet import bind_layers

    for kind, port in udp_ports:
        layer = vxlan.VXLAN if kind == "vxlan" else geneve.GENEVE
        bind_layers(inet.UDP, layer, dport=port)
    return inet, l2, vxlan, geneve


def prepare(udp_ports: frozenset[tuple[str, int]] = frozenset()) -> None:
    """Import scapy and bind the tunnel ports now (e.g. from a thread, ahead of decoding)."""
    _layers(udp_ports)


def _five_tuple(ip: Any, inet: Any) -> FiveTuple:
    protocol = PROTOCOL_NAMES.get(int(ip.proto), str(ip.proto))
    transport = ip.payload
    if isinstance(transport, (inet.TCP, inet.UDP, inet.TCPerror, inet.UDPerror)):
        return FiveTuple(ip.src, ip.dst, protocol, int(transport.sport), int(transport.dport))
    return FiveTuple(ip.src, ip.dst, protocol)


def _inner(outer: Any, inet: Any, l2: Any, vxlan: Any, geneve: Any) -> tuple[Any, Encapsulation | None]:
    """The flow's IP packet inside `outer`, and how it was carried."""
    outer_tuple = _five_tuple(outer, inet)
    payload = outer.payload
    if int(outer.proto) == 4 and isinstance(payload, inet.IP):
        return payload, Encapsulation("ipip", outer_tuple, int(outer.ttl))
    if isinstance(payload, inet.UDP):
        tunnel = payload.payload
        kinds = {vxlan.VXLAN: "vxlan", geneve.GENEVE: "geneve"}
        kind = next((name for layer, name in kinds.items() if isinstance(tunnel, layer)), None)
        if kind:
            inner = tunnel.getlayer(inet.IP)
            if inner is not None:
                return inner, Encapsulation(kind, outer_tuple, int(outer.ttl), int(tunnel.vni))
    return outer, None


def decode_record(record: Mapping[str, Any], *,
                  udp_ports: frozenset[tuple[str, int]] = frozenset()) -> DecodedPacket:
    """One `packets[]` entry of an ObserverResult as a DecodedPacket."""
    inet, l2, vxlan, geneve = _layers(udp_ports)
    data = base64.b64decode(record["data"])
    offset = int(record.get("networkOffset", 0))
    frame = l2.Ether(data) if offset == 14 else None
    outer = frame.getlayer(inet.IP) if frame is not None else inet.IP(data[offset:])
    if outer is None or not isinstance(outer, inet.IP):
        raise DecodeError(f"{record.get('interface')}: not an IPv4 packet")
    packet, encapsulation = _inner(outer, inet, l2, vxlan, geneve)
    icmp = packet.getlayer(inet.ICMP)
    quoted = packet.getlayer(inet.IPerror) if icmp is not None else None
    tcp = packet.payload if isinstance(packet.payload, inet.TCP) else None
    return DecodedPacket(
        interface=str(record["interface"]),
        direction=str(record["direction"]),
        timestamp=float(record["timestamp"]),
        length=int(record["length"]),
        flow=_five_tuple(packet, inet),
        ttl=int(packet.ttl),
        encapsulation=encapsulation,
        icmp_type=int(icmp.type) if icmp is not None else None,
        icmp_code=int(icmp.code) if icmp is not None else None,
        quoted=_five_tuple(quoted, inet) if quoted is not None else None,
        tcp_flags=str(tcp.flags) if tcp is not None else None,
        src_mac=str(frame.src) if frame is not None else None,
        dst_mac=str(frame.dst) if frame is not None else None,
    )


def tunnel_ports(result: Mapping[str, Any]) -> frozenset[tuple[str, int]]:
    """The (vxlan|geneve, UDP port) pairs the observer was told to expect."""
    found = result["spec"]["encapsulations"]
    return frozenset((str(entry["type"]), int(entry["port"])) for entry in found if "port" in entry)


def decode_packets(result: Mapping[str, Any]) -> tuple[DecodedPacket, ...]:
    """Every captured packet of an ObserverResult, in capture order."""
    ports = tunnel_ports(result)
    return tuple(decode_record(record, udp_ports=ports) for record in _records(result))


def _records(result: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    records = result.get("packets", [])
    return records if isinstance(records, list) else []
