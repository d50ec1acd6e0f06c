"""The expected path as the spine: each hop paired with what was observed there. Pure: no I/O.

`attach` is the one place that decides which hop an observation speaks about (krr pairs each object
with its evaluation the same way). From the source-side probe alone that is: the local interface at
the first hop; each traceroute answer and ICMP error at the hop that owns its address (a forwarding
hop of the node it belongs to); the replies, their TTL, the L4 state and ARP at the destination.
What belongs to no hop (path MTU, an answer from an address off the path) is kept apart. The
policy decision for the flow gets a typed slot on each hop; the NetworkPolicy issue fills it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kdiag.model.findings import Context
from kdiag.model.observations import ObservationPoint, Observations
from kdiag.model.observed import IcmpErr
from kdiag.model.path import ExpectedPath, Hop, HopKind

# Where a node's traceroute answer is placed: the hop that forwards on that node.
_FORWARDING = (HopKind.NODE_ROUTING, HopKind.PEER_NODE, HopKind.OVERLAY_DECAP, HopKind.HOST)


@dataclass(frozen=True)
class Sighting:
    """One thing an observation says about one hop."""

    point: ObservationPoint  # where it was seen
    probe: str  # local | icmp | tcp | udp | traceroute | arp | pmtu | waypoint
    outcome: str  # sent, answered, reached, replied, noReply, error, open, closed, ..., pathMtu, reportedMtu
    address: str = ""  # who answered (or sent, for "local"; the MAC for arp)
    ttl: int | None = None  # traceroute: the probe's TTL; replies: the TTL they arrived with
    error: str = ""  # the ICMP error's name, when one came back
    mtu: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"point": self.point.to_dict(), "probe": self.probe, "outcome": self.outcome,
                "address": self.address or None, "ttl": self.ttl, "error": self.error or None,
                "mtu": self.mtu}


@dataclass(frozen=True)
class PolicyDecision:
    """What the NetworkPolicies say about the flow at a hop (filled by the NetworkPolicy issue)."""

    allowed: bool
    policies: tuple[str, ...] = ()  # ns/name of the policies that decide
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "policies": list(self.policies), "reason": self.reason}


@dataclass(frozen=True)
class HopResult:
    hop: Hop
    seen: tuple[Sighting, ...] = ()
    policy: PolicyDecision | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.hop.to_dict(), "observed": [s.to_dict() for s in self.seen],
                "policy": self.policy.to_dict() if self.policy else None}


@dataclass(frozen=True)
class Spine:
    hops: tuple[HopResult, ...] = ()
    off_path: tuple[Sighting, ...] = field(default=())  # observations that belong to no hop


def hop_for(address: str | None, *, path: ExpectedPath, context: Context) -> Hop | None:
    """The hop an address answers for: the destination, a hop holding the address (a forwarding hop
    first), else the forwarding hop of the node that owns it; None when it is off the path."""
    if not address or not path.hops:
        return None
    if address == path.dst_ip:
        return path.hops[-1]
    holding = [h for h in path.hops if address in h.addresses]
    if holding:
        return next((h for h in holding if h.kind in _FORWARDING), holding[0])
    node = context.owner(address)
    on_node = [h for h in path.hops if node and h.node == node]
    for kind in _FORWARDING:
        found = next((h for h in on_node if h.kind is kind), None)
        if found is not None:
            return found
    return on_node[0] if on_node else None


def _sightings(path: ExpectedPath, observations: Observations) -> Iterable[tuple[str, Sighting]]:
    """(where, sighting) from the source-side probe; where is "src", "dst", an address, or "path"."""
    obs, point = observations.source, observations.source_point
    if point is None or not obs.valid:
        return
    done = {name for name, status in obs.statuses if status.measured}

    def errors(probe: str, errs: Iterable[IcmpErr | None]) -> Iterable[tuple[str, Sighting]]:
        for e in errs:
            if e is not None and e.source != path.dst_ip:
                yield e.source, Sighting(point, probe, "error", e.source, error=e.name, mtu=e.mtu)

    if "local" in done:
        yield "src", Sighting(point, "local", "sent", obs.source_address or "", mtu=obs.local_mtu)
    if "traceroute" in done:
        for h in obs.hops:
            if h.address:
                outcome = "reached" if h.address == path.dst_ip else "error" if h.error and (
                    h.error.name != "ttlExceeded") else "answered"
                error = h.error.name if h.error and h.error.name != "ttlExceeded" else ""
                yield h.address, Sighting(point, "traceroute", outcome, h.address, h.ttl, error)
    if "icmp" in done:
        outcome = "replied" if obs.icmp_received else "noReply"
        yield "dst", Sighting(point, "icmp", outcome, path.dst_ip if obs.icmp_received else "", obs.reply_ttl)
        yield from errors("icmp", obs.icmp_errors)
    if "tcp" in done:
        yield "dst", Sighting(point, "tcp", obs.tcp_state or "unknown", ttl=obs.tcp_reply_ttl)
        yield from errors("tcp", (obs.tcp_error,))
    if "udp" in done:
        yield "dst", Sighting(point, "udp", obs.udp_state or "unknown")
        yield from errors("udp", (obs.udp_error,))
    if "arp" in done:
        yield "dst", Sighting(point, "arp", "answered" if obs.arp_answered else "noReply", obs.arp_mac or "")
    if "waypoints" in done:
        for w in obs.waypoints:
            if w.measured:
                outcome = "replied" if w.answered else "noReply"
                yield w.address, Sighting(point, "waypoint", outcome, w.address, w.reply_ttl)
    if "pmtu" in done:
        yield "path", Sighting(point, "pmtu", "pathMtu", mtu=obs.path_mtu)
        if obs.reported_by:
            yield obs.reported_by, Sighting(point, "pmtu", "reportedMtu", obs.reported_by,
                                            mtu=obs.reported_mtu)


def attach(path: ExpectedPath, *, observations: Observations, context: Context) -> Spine:
    """Each hop of `path` with the sightings that speak about it, in the order they were made."""
    seen: dict[int, list[Sighting]] = {h.index: [] for h in path.hops}
    off_path: list[Sighting] = []
    first, last = (path.hops[0], path.hops[-1]) if path.hops else (None, None)
    for where, sighting in _sightings(path, observations):
        hop = first if where == "src" else last if where == "dst" else (
            None if where == "path" else hop_for(where, path=path, context=context))
        if hop is None:
            off_path.append(sighting)
        else:
            seen[hop.index].append(sighting)
    return Spine(tuple(HopResult(h, tuple(seen[h.index])) for h in path.hops), tuple(off_path))
