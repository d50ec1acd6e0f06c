"""Who sent a reply: attributing what came back to an element of the path by its TTL. Pure: no I/O.

A packet starts at 64 (Linux) and every router on its way back decrements it, so the TTL a reply
arrives with is its sender's distance from the source. The destination's own replies (ICMP echo
replies, traceroute reaching it) fix the destination's distance; a TCP RST that arrives with a
higher TTL was sent by something nearer: a node on the path rejecting with a reset, not the pod.
Which node that is follows from the routers in order: the traceroute's hops when it ran, else the
expected path's forwarding nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from kdiag.model.findings import Context
from kdiag.model.observed import Observed
from kdiag.model.path import ExpectedPath, HopKind

_INITIAL_TTLS = (64, 128, 255)  # Linux, Windows, network gear
_FORWARDING = (HopKind.NODE_ROUTING, HopKind.PEER_NODE, HopKind.HOST)


def hops_back(ttl: int | None) -> int | None:
    """Routers a reply crossed: its distance from the nearest initial TTL."""
    if ttl is None:
        return None
    return next((init - ttl for init in _INITIAL_TTLS if ttl <= init), None)


def forwarders(exp: ExpectedPath, obs: Observed, ctx: Context) -> tuple[str, ...]:
    """The routers between source and destination in order, as addresses: the traceroute's answers
    when it ran (an unanswered TTL is ""), else the expected path's forwarding nodes (by name)."""
    if obs.trace_measured and obs.hops:
        return tuple(h.address or "" for h in obs.hops if h.address != exp.dst_ip)
    names = [h.node for h in exp.hops if h.kind in _FORWARDING and h.node]
    return tuple(dict.fromkeys(names))


def destination_distance(exp: ExpectedPath, obs: Observed) -> int | None:
    """How far the destination is, measured: its echo replies, else the traceroute reaching it,
    else the model when it is exact."""
    if obs.icmp_received and obs.reply_ttl is not None:
        return hops_back(obs.reply_ttl)
    if obs.reached and obs.reached_at:
        return obs.reached_at - 1
    return exp.ttl_decrement if exp.ttl_exact and not exp.open_ended else None


@dataclass(frozen=True)
class Sender:
    distance: int  # routers between the source and the sender
    address: str  # the traceroute's answer at that distance, "" when unknown
    node: str  # the node that address (or the expected forwarding node) belongs to, "" when none

    def describe(self) -> str:
        if self.node and self.address:
            return f"{self.node} ({self.address})"
        return self.node or self.address or f"the router {self.distance + 1} hop(s) away"


def rst_sender(exp: ExpectedPath, obs: Observed, ctx: Context) -> Sender | None:
    """The element nearer than the destination that sent the TCP RST, None when the destination
    sent it itself (or the TTLs cannot tell: the unprivileged engine reads no RST TTL)."""
    if obs.tcp_state != "closed":
        return None
    got, dst = hops_back(obs.tcp_reply_ttl), destination_distance(exp, obs)
    if got is None or dst is None or got >= dst:
        return None
    on_path = forwarders(exp, obs, ctx)
    # The sender at distance d is the (d+1)-th router from the source: d routers decremented it.
    at = on_path[got] if got < len(on_path) else ""
    if obs.trace_measured and obs.hops:
        return Sender(got, at, ctx.owner(at))
    return Sender(got, "", at)
