"""The node observers' captures laid on the expected path: per hop, was the request seen there, the
reply, neither, or is the hop out of the observers' sight; and where each direction stopped. Pure.

Which packets speak for a hop: the interface's role on its node (the datapath's bridge and tunnel
device by name; the underlay is the device the node reaches the peer node through, or one that
carried encapsulated packets; any other interface is a pod's veth) and which way the packet
crossed it. A pod's eth0 is inside the pod, out of a host-network observer's sight; its veth is the
other end of one wire, so the veth speaks for it. A hop not seen while a later one in the same
direction was seen was passed where no capture point shows it (a bridge forwarding between two of
its ports): not observable, not a drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from kdiag.model.capture import NodeCapture, Packet
from kdiag.model.hops import Sighting, Spine
from kdiag.model.observations import ObservationPoint
from kdiag.model.path import ExpectedPath, Hop, HopKind

Seen = Literal["seen", "not seen", "not observable"]
DIRECTIONS = ("request", "reply")
OBSERVER = "observer"  # `by` of a node observer's ObservationPoint


@dataclass(frozen=True)
class HopCapture:
    hop: Hop
    request: Seen
    reply: Seen
    request_at: tuple[str, ...] = ()  # the interfaces that saw it
    reply_at: tuple[str, ...] = ()

    def state(self, direction: str) -> Seen:
        return self.request if direction == "request" else self.reply

    def at(self, direction: str) -> tuple[str, ...]:
        return self.request_at if direction == "request" else self.reply_at

    def to_dict(self) -> dict[str, Any]:
        return {"request": self.request, "reply": self.reply, "requestAt": list(self.request_at),
                "replyAt": list(self.reply_at)}


@dataclass(frozen=True)
class DropPoint:
    node: str
    interface: str
    direction: str  # request | reply
    hop: int  # the first hop that should have seen it and did not
    last_seen: int | None  # the last hop that did (None: nowhere)

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "interface": self.interface, "direction": self.direction, "hop": self.hop,
                "lastSeenHop": self.last_seen}


def role(capture: NodeCapture, interface: str, path: ExpectedPath) -> str:
    dp = path.datapath
    if interface == "lo":
        return "loopback"
    if dp.bridge and interface == dp.bridge:
        return "bridge"
    if dp.overlay.device and interface == dp.overlay.device:
        return "tunnel"
    if interface in capture.peer_devices or any(p.encapsulated and p.interface == interface
                                                for p in capture.packets):
        return "underlay"
    return "pod"


def direction_of(packet: Packet, path: ExpectedPath, source: str) -> str:
    if packet.icmp_error:
        return ""
    if packet.dst == path.dst_ip and packet.src == source:
        return "request"
    if packet.src == path.dst_ip and packet.dst == source:
        return "reply"
    return ""


def _wants(hop: Hop, path: ExpectedPath, direction: str) -> tuple[tuple[str, ...], str]:
    """(roles, in|out) of the packets that show `direction` passing `hop`."""
    request = direction == "request"
    cross = path.relation.cross_node
    next_device = ("tunnel",) if path.encapsulated else ("underlay",) if cross else ("pod",)
    table: dict[HopKind, tuple[tuple[str, ...], str, tuple[str, ...], str]] = {
        HopKind.POD_ETH0: (("pod",), "in", ("pod",), "out"),
        HopKind.VETH: (("pod",), "in", ("pod",), "out"),
        HopKind.BRIDGE: (("bridge",), "in", ("bridge",), "out"),
        HopKind.NODE_ROUTING: (next_device, "out", ("pod", "bridge"), "out"),
        HopKind.OVERLAY_ENCAP: (("tunnel",), "out", ("tunnel",), "in"),
        HopKind.OVERLAY_DECAP: (("tunnel",), "in", ("tunnel",), "out"),
        HopKind.PEER_NODE: (("pod", "bridge"), "out", next_device, "out"),
        HopKind.PEER_BRIDGE: (("bridge",), "out", ("bridge",), "in"),
        HopKind.PEER_VETH: (("pod",), "out", ("pod",), "in"),
        HopKind.PEER_ETH0: (("pod",), "out", ("pod",), "in"),
    }
    if hop.kind is HopKind.UNDERLAY:
        leaving = hop.direction == "egress"
        return ("underlay",), ("out" if leaving == request else "in")
    if hop.kind is HopKind.HOST:
        last = hop.index == path.hops[-1].index
        return ("underlay", "pod", "bridge", "tunnel"), ("in" if last == request else "out")
    roles_req, way_req, roles_rep, way_rep = table[hop.kind]
    return (roles_req, way_req) if request else (roles_rep, way_rep)


def _matches(hop: Hop, path: ExpectedPath, capture: NodeCapture, packet: Packet, direction: str) -> bool:
    roles, way = _wants(hop, path, direction)
    if packet.direction != way or role(capture, packet.interface, path) not in roles:
        return False
    # On an encapsulated path the wire carries the tunnel's packets; a bare one there went the wrong way.
    if hop.kind is HopKind.UNDERLAY and path.encapsulated != packet.encapsulated:
        return False
    return not (hop.kind not in (HopKind.UNDERLAY,) and packet.encapsulated)


def _through_ports(capture: NodeCapture, bridge: str, path: ExpectedPath, source: str,
                   direction: str) -> list[str]:
    """A bridge forwarding between two of its ports hands nothing to the bridge device itself; a
    packet seen entering one port of it and leaving another passed through it all the same."""
    ports = {name for name, link in capture.links.items() if bridge and link.master == bridge}
    ways = {(p.interface, p.direction) for p in capture.packets
            if p.interface in ports and direction_of(p, path, source) == direction}
    entered = {name for name, way in ways if way == "in"}
    left = {name for name, way in ways if way == "out"}
    if entered and left - entered:
        return [f"{bridge} ports {', '.join(sorted(entered))} -> {', '.join(sorted(left - entered))}"]
    return []


def hop_captures(path: ExpectedPath, captures: Mapping[str, NodeCapture], *,
                 source: str) -> tuple[HopCapture, ...]:
    """Each hop with what the observer of its node saw; `source` is the probe's own address."""
    found: dict[tuple[int, str], tuple[str, ...]] = {}
    observable: dict[int, bool] = {}
    for hop in path.hops:
        capture = captures.get(hop.node)
        observable[hop.index] = capture is not None and capture.captured
        for direction in DIRECTIONS:
            seen = [p.interface for p in (capture.packets if capture is not None else ())
                    if capture is not None and direction_of(p, path, source) == direction
                    and _matches(hop, path, capture, p, direction)]
            if not seen and capture is not None and hop.kind in (HopKind.BRIDGE, HopKind.PEER_BRIDGE):
                seen = _through_ports(capture, hop.device, path, source, direction)
            found[(hop.index, direction)] = tuple(dict.fromkeys(seen))
    out = []
    for hop in path.hops:
        states: list[Seen] = []
        for direction in DIRECTIONS:
            later = [h for h in path.hops if (h.index > hop.index if direction == "request"
                                              else h.index < hop.index)]
            if not observable[hop.index]:
                states.append("not observable")
            elif found[(hop.index, direction)]:
                states.append("seen")
            elif any(found[(h.index, direction)] for h in later):
                states.append("not observable")
            else:
                states.append("not seen")
        out.append(HopCapture(hop, states[0], states[1], found[(hop.index, "request")],
                              found[(hop.index, "reply")]))
    return tuple(out)


def _device(hc: HopCapture, by_index: Mapping[int, HopCapture], direction: str) -> str:
    """The real interface name of a hop: what saw it, else the expected device (a veth hop takes the
    name its other direction was seen on; a pod's eth0 is eth0)."""
    hop = hc.hop
    named = hc.at(direction) or hc.at("reply" if direction == "request" else "request")
    if named:
        return named[0]
    if hop.kind in (HopKind.VETH, HopKind.PEER_VETH):
        pair = HopKind.POD_ETH0 if hop.kind is HopKind.VETH else HopKind.PEER_ETH0
        other = next((h for h in by_index.values() if h.hop.kind is pair), None)
        if other is not None and (other.request_at or other.reply_at):
            return (other.request_at or other.reply_at)[0]
    return hop.device if hop.device != "veth" else ""


def drop_point(path: ExpectedPath, hops: tuple[HopCapture, ...],
               captures: Mapping[str, NodeCapture] | None = None) -> DropPoint | None:
    """The first direction that stopped: after the last hop that saw it, the first that should have.
    Its interface: the missing hop's device; on the wire, the receiving node's underlay device;
    else the interface it was last seen on."""
    by_index = {h.hop.index: h for h in hops}
    for direction in DIRECTIONS:
        order = hops if direction == "request" else tuple(reversed(hops))
        seen = [i for i, h in enumerate(order) if h.state(direction) == "seen"]
        if direction == "reply" and not seen and not any(h.request == "seen" for h in hops[-2:]):
            return None  # no reply was due: the request never arrived
        start = seen[-1] + 1 if seen else 0
        missing = next((h for h in order[start:] if h.state(direction) == "not seen"), None)
        if missing is None:
            continue
        last = order[seen[-1]] if seen else None
        receiver = (captures or {}).get(missing.hop.node)
        if missing.hop.device:
            interface = _device(missing, by_index, direction)
        elif missing.hop.kind is HopKind.UNDERLAY and receiver is not None and receiver.peer_devices:
            interface = receiver.peer_devices[0]
        else:
            interface = last.at(direction)[0] if last is not None and last.at(direction) else ""
        return DropPoint(missing.hop.node, interface, direction, missing.hop.index,
                         last.hop.index if last is not None else None)
    return None


def with_captures(path: ExpectedPath, spine: Spine, captures: Mapping[str, NodeCapture], *,
                  source: str) -> Spine:
    """The spine with one `capture` sighting per hop (request / reply seen, not seen, not observable)
    and a `dropPoint` sighting at the hop where a direction stopped."""
    hops = hop_captures(path, captures, source=source)
    drop = drop_point(path, hops, captures)
    results = []
    for result, hc in zip(spine.hops, hops, strict=True):
        hop = hc.hop
        where = ", ".join(dict.fromkeys((*hc.request_at, *hc.reply_at))) or hop.device
        point = ObservationPoint(hop.node, where, hop.direction or "ingress", OBSERVER)
        # address: the interfaces that saw the request, then the reply ("-" for none)
        on = " / ".join(", ".join(names) or "-" for names in (hc.request_at, hc.reply_at))
        added = [Sighting(point, "capture", f"request {hc.request}; reply {hc.reply}", on)]
        if drop is not None and drop.hop == hop.index:
            added.append(Sighting(point, "capture", "dropPoint", drop.interface, error=drop.direction))
        results.append(replace(result, seen=(*result.seen, *added)))
    return replace(spine, hops=tuple(results))
