"""Which addresses of the expected path answered, when the destination did not (kdiag.model.waypoints).

A node answers on its own addresses without forwarding anything, and the traceroute's probe expiring
at a node draws an answer only once that node forwards (Linux checks the TTL in its forwarding
path). So, from the source side alone:
- the source node's own address answers, yet not even TTL 1 does: the source node does not forward;
- the far end of the tunnel (or the destination node's bridge) answers, so the tunnel carries packets
  both ways, yet the destination node neither answers the traceroute nor delivers: it does not forward;
- the destination node answers on its node address (reached directly on the underlay) but not on its
  tunnel or bridge address: what arrives through the tunnel is dropped there (strict rp_filter with a
  return route that does not use the tunnel), or the tunnel fails towards it only;
- nothing of the destination node answers: the tunnel, or its route back (kdiag.model.checks.reachability).
"""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts, destination
from kdiag.model.findings import Code, Finding
from kdiag.model.waypoints import Role, Waypoint


def answered(facts: Facts, *roles: Role) -> list[Waypoint]:
    """The waypoints in `roles` that answered the probe's echo requests."""
    out = []
    for w in facts.expected.waypoints:
        seen = facts.observed.waypoint(w.address)
        if w.role in roles and seen is not None and seen.answered:
            out.append(w)
    return out


def measured(facts: Facts, *roles: Role) -> list[Waypoint]:
    return [w for w in facts.expected.waypoints if w.role in roles
            and (seen := facts.observed.waypoint(w.address)) is not None and seen.measured]


def _named(ways: list[Waypoint], facts: Facts) -> str:
    dp = facts.expected.datapath
    names = {"tunnel": dp.overlay.device or "the tunnel", "bridge": dp.bridge or "the gateway",
             "dst-node": "node address", "src-node": "node address"}
    return " and ".join(f"{names[w.role]} {w.address}" for w in ways)


def _forwards(facts: Facts, node: str) -> bool:
    """A traceroute probe expired at `node` and drew an answer: that node forwards."""
    exp, ctx = facts.expected, facts.context
    return any(h.address and h.address != exp.dst_ip and ctx.owner(h.address) == node
               for h in facts.observed.hops)


def _source_side(facts: Facts) -> list[Finding]:
    exp, obs = facts.expected, facts.observed
    if exp.l2_adjacent or not obs.trace_measured or any(h.address for h in obs.hops):
        return []
    own = answered(facts, "src-node")
    if not own:
        return []
    n = exp.src_node
    return [Finding(Code.NODE_NOT_FORWARDING, "error",
                    f"{n} answers on its own {_named(own, facts)}, yet nothing it should forward gets an "
                    "answer, not even the traceroute's TTL 1: the source node does not forward",
                    f"on {n}: sysctl net.ipv4.ip_forward (must be 1), the FORWARD chain (iptables -S "
                    f"FORWARD, nft list ruleset), and `ip route get {exp.dst_ip}`", n)]


def _destination_side(facts: Facts) -> list[Finding]:
    exp = facts.expected
    n = exp.dst_node
    if not n or n == exp.src_node or exp.relation.host_network or _forwards(facts, n):
        return []
    behind_tunnel = answered(facts, "tunnel", "bridge")
    direct = answered(facts, "dst-node")
    dst = destination(facts)
    # The tunnel and bridge addresses sit in the destination's podCIDR: the probe reaches them by the
    # very route the pod's traffic takes, so their answer proves the way to the node, not just the node.
    # A node address alone (reached on the underlay) does not: see reachability's STOPS_AT_HOP.
    if behind_tunnel:
        how = (f"the {exp.datapath.overlay.device} tunnel works: {n}'s own {_named(behind_tunnel, facts)} "
               "answered through it" if exp.encapsulated else
               f"{n}'s own {_named(behind_tunnel, facts)} answered by the pod's route")
        return [Finding(Code.NODE_NOT_FORWARDING, "error",
                        f"{how}, but {dst} does not and no traceroute probe got an answer from {n}: "
                        f"{n} does not forward to the pod (forwarding off, or no route to its veth)",
                        f"on {n}: sysctl net.ipv4.ip_forward (must be 1), its FORWARD chain (iptables -S "
                        f"FORWARD, nft list ruleset), and `ip route get {exp.dst_ip}` (the pod's veth route)",
                        n)]
    silent = measured(facts, "tunnel", "bridge")
    if direct and exp.encapsulated and silent:
        tunnel = exp.datapath.overlay.device
        return [Finding(Code.RETURN_PATH_SUSPECT, "error",
                        f"{n} answers on its {_named(direct, facts)} (reached on the underlay, not through "
                        f"the tunnel) but not on its {_named(silent, facts)} (reached through {tunnel}): "
                        f"what goes into {tunnel} towards {n} is lost, or dropped there",
                        f"on {n}: `ip route get {exp.src_ip}` should leave through {tunnel}; strict "
                        "rp_filter (sysctl net.ipv4.conf.all.rp_filter, "
                        f"net.ipv4.conf.{tunnel.replace('.', '/')}"
                        f".rp_filter = 1) drops what comes in on {tunnel} when that route does not. Or, on "
                        f"{exp.src_node}, `ip route get {exp.dst_ip}` does not go via {tunnel}; or the "
                        f"tunnel fails towards {n} only ({exp.datapath.overlay.describe()} from "
                        f"{exp.src_node_ip})",
                        n)]
    return []


def reasoned(facts: Facts) -> list[Finding]:
    """The findings the waypoints' answers support (also read by the reachability check)."""
    if not facts.observed.waypoints:
        return []
    return _source_side(facts) + _destination_side(facts)


CHECK = Check("waypoints", {Code.NODE_NOT_FORWARDING: ("error",), Code.RETURN_PATH_SUSPECT: ("error",)},
              lambda facts: facts.measured and not facts.reached, reasoned)
