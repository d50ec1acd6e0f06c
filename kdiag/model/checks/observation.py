"""Where the node observers saw the probe's packets stop, and the node state that says why.

Runs only with `--observe` (captures present). The drop point is the first hop, in the direction that
stopped, that should have seen the packet and did not (kdiag.model.capture_hops). On the node where
it stopped, the causes are tried from the most to the least conclusive state:
- the tunnel: the packet entered the tunnel device and no encapsulated packet left the underlay
  (TUNNEL_NOT_SENT: FDB / neighbour entries for the peer), or it left one node and never arrived or
  was never decapsulated on the other (TUNNEL_NOT_RECEIVED);
- ip_forward / per-interface forwarding off (FORWARDING_DISABLED);
- strict rp_filter on the interface it arrived on, with the route back to its source not through
  that interface, or the forwarding lookup refused as a cross-device link (RP_FILTER_DROP);
- no route, or a route out of another device than the path's (NO_ROUTE; for the reply:
  RETURN_PATH_BROKEN);
- a drop/reject rule whose counter grew during the window (FIREWALL_DROP; counters are not per
  flow: growth is evidence, not proof, and the finding says so);
- delivered to the destination pod's interface and nothing came back (DELIVERED_NO_ANSWER);
- a reply lost with none of the above: RETURN_PATH_BROKEN, with where.
"""

from __future__ import annotations

from dataclasses import replace

from kdiag.model.capture import NodeCapture
from kdiag.model.capture_hops import DropPoint, HopCapture, drop_point, hop_captures
from kdiag.model.checks.base import Check, Facts
from kdiag.model.findings import Code, Finding
from kdiag.model.path import ExpectedPath, HopKind

# Source-side guesses that an observed drop point replaces.
GUESSES = (Code.OVERLAY_SUSPECT,)
CODES = (Code.NO_ROUTE, Code.RETURN_PATH_BROKEN, Code.FORWARDING_DISABLED, Code.RP_FILTER_DROP,
         Code.FIREWALL_DROP, Code.TUNNEL_NOT_SENT, Code.TUNNEL_NOT_RECEIVED, Code.DELIVERED_NO_ANSWER)


def analysed(facts: Facts) -> tuple[tuple[HopCapture, ...], DropPoint | None]:
    hops = hop_captures(facts.expected, facts.captures, source=facts.probe_address or facts.expected.src_ip)
    return hops, drop_point(facts.expected, hops, facts.captures)


def _next_device(path: ExpectedPath, node: str, direction: str) -> str:
    """The device the path leaves `node` through in `direction` ("" when it is a pod's veth)."""
    dp = path.datapath
    towards_pod = (node == path.dst_node) == (direction == "request")
    if towards_pod or not path.relation.cross_node:
        return dp.bridge if dp.bridge else ""
    return dp.overlay.device if path.encapsulated else ""


def _tunnel(facts: Facts, drop: DropPoint, hops: tuple[HopCapture, ...]) -> Finding | None:
    exp = facts.expected
    missing = next(h for h in hops if h.hop.index == drop.hop).hop
    last = next((h for h in hops if h.hop.index == drop.last_seen), None)
    device = exp.datapath.overlay.device
    if not exp.encapsulated or last is None:
        return None
    sender_node = exp.src_node if drop.direction == "request" else exp.dst_node
    receiver_node = exp.dst_node if sender_node == exp.src_node else exp.src_node
    peer_ip = exp.dst_node_ip if sender_node == exp.src_node else exp.src_node_ip
    if last.hop.kind is HopKind.OVERLAY_ENCAP or (missing.kind is HopKind.OVERLAY_ENCAP):
        cap = facts.captures.get(sender_node)
        fdb = [f for f in cap.fdb if f[1] == peer_ip] if cap else []
        evidence = (f"FDB of {device} on {sender_node}: " + (", ".join(f"{m} dst {d}" for m, d, _ in fdb)
                    if fdb else f"no entry with dst {peer_ip}"))
        return Finding(Code.TUNNEL_NOT_SENT, "error",
                       f"the {drop.direction} entered {device} on {sender_node} and no encapsulated packet "
                       f"left for {peer_ip}; {evidence}",
                       f"on {sender_node}: `bridge fdb show dev {device}` and `ip neigh show dev {device}` "
                       f"need the peer's VTEP ({peer_ip}); the CNI agent writes them", sender_node)
    if missing.node == receiver_node and missing.kind in (HopKind.UNDERLAY, HopKind.OVERLAY_DECAP):
        cap = facts.captures.get(receiver_node)
        link = cap.links.get(device) if cap else None
        state = (f"{device} on {receiver_node} is {link.oper_state}" if link
                 else f"no {device} on {receiver_node}")
        arrived = missing.kind is HopKind.OVERLAY_DECAP
        what = ("arrived on the underlay but was never decapsulated" if arrived else
                f"left {sender_node} and never arrived on {receiver_node}'s underlay")
        port = exp.datapath.overlay.udp_port
        return Finding(Code.TUNNEL_NOT_RECEIVED, "error",
                       f"the encapsulated {drop.direction} {what} ({state})",
                       (f"is {device} up on {receiver_node} with the right VNI/port?" if arrived else
                        f"the underlay between {exp.src_node_ip} and {exp.dst_node_ip} drops "
                        f"{'UDP ' + str(port) if port else 'the tunnel packets'}: firewall, security group"),
                       receiver_node)
    return None


def _route(facts: Facts, drop: DropPoint, cap: NodeCapture) -> Finding | None:
    """No route at the drop node, or one that sends the packet another way than the path."""
    exp, node, direction = facts.expected, drop.node, drop.direction
    to = exp.dst_ip if direction == "request" else (facts.probe_address or exp.src_ip)
    route = cap.forwarding_route(direction) or cap.own_route(direction)
    wanted = _next_device(exp, node, direction)
    leaving = exp.relation.cross_node and node == (exp.src_node if direction == "request" else exp.dst_node)
    peer_ip = exp.dst_node_ip if node == exp.src_node else exp.src_node_ip
    astray = leaving and not exp.encapsulated and route is not None and route.gateway != peer_ip
    wrong = route is not None and route.routes and bool((wanted and route.device != wanted) or astray)
    if route is not None and (not route.routes or wrong):
        code = Code.NO_ROUTE if direction == "request" else Code.RETURN_PATH_BROKEN
        how = f"it goes the wrong way, not via {wanted}" if wrong else "no route"
        return Finding(code, "error",
                       f"{node} has no usable route for the {direction} to {to}: {route.text()} ({how})",
                       f"on {node}: `ip route get {to}`; the route to that podCIDR should go via "
                       f"{wanted or 'the pod'}", node)
    return None


def _node_state(facts: Facts, drop: DropPoint, cap: NodeCapture) -> Finding | None:
    node, direction = drop.node, drop.direction
    iif = drop.interface
    where = f"on {node} ({direction}, arrived on {iif or '?'})"
    if cap.ip_forward == 0 or (iif and cap.forwarding.get(iif) == 0):
        what = "net.ipv4.ip_forward = 0" if cap.ip_forward == 0 else f"conf/{iif}/forwarding = 0"
        return Finding(Code.FORWARDING_DISABLED, "error", f"{node} does not forward: {what} {where}",
                       f"sysctl -w net.ipv4.ip_forward=1 on {node} (the CNI or kube-proxy sets it at start)",
                       node)
    forward = cap.forwarding_route(direction)
    rp = cap.rp_filter_of(iif) if iif else 0
    back = cap.own_route("reply" if direction == "request" else "request")
    if (forward is not None and "cross-device" in forward.error) or (
            rp == 1 and back is not None and back.routes and iif and back.device != iif):
        why = (forward.text() if forward is not None and "cross-device" in forward.error
               else f"the route back to the source goes out {back.device if back else '?'}")
        return Finding(Code.RP_FILTER_DROP, "error",
                       f"strict reverse-path filtering drops it {where}: rp_filter {rp}, {why}",
                       f"on {node}: the route back to the source must leave through {iif}, or set "
                       f"net.ipv4.conf.{iif}.rp_filter=2 (loose)", node)
    found = _route(facts, drop, cap)
    if found is not None:
        return found
    if cap.firewall:
        hits = "; ".join(h.text() for h in cap.firewall[:3])
        return Finding(Code.FIREWALL_DROP, "error",
                       f"a drop rule on {node} counted packets while the {direction} vanished {where}: "
                       f"{hits}",
                       "counters count all traffic: check the rule matches the flow (nft list ruleset / "
                       "iptables-save -c)", node)
    return None


def _run(facts: Facts) -> list[Finding]:
    hops, drop = analysed(facts)
    if drop is None:
        return []
    exp = facts.expected
    tunnel = _tunnel(facts, drop, hops)
    if tunnel is not None:
        return [tunnel]
    missing = next(h for h in hops if h.hop.index == drop.hop).hop
    sender = next((h.hop.node for h in hops if h.hop.index == drop.last_seen), "")
    if missing.kind is HopKind.UNDERLAY and sender and sender != drop.node:
        # Left one node, never reached the other: the sender's route is the first suspect (a
        # routed underlay's packet may leave through the right device to the wrong gateway).
        cap = facts.captures.get(sender)
        found = _route(facts, replace(drop, node=sender), cap) if cap is not None else None
        if found is not None:
            return [found]
    cap = facts.captures.get(drop.node)
    found = _node_state(facts, drop, cap) if cap is not None else None
    if found is not None:
        return [found]
    if drop.direction == "reply" and missing.kind in (HopKind.PEER_ETH0, HopKind.PEER_VETH, HopKind.HOST):
        return [Finding(Code.DELIVERED_NO_ANSWER, "error",
                        f"the request reached the destination pod's interface {drop.interface or '?'} on "
                        f"{drop.node} and nothing came back",
                        "the pod itself: its own firewall, its sysctls (icmp_echo_ignore_all), nothing "
                        "listening, or a NetworkPolicy enforced inside it", drop.node)]
    if drop.direction == "reply":
        return [Finding(Code.RETURN_PATH_BROKEN, "error",
                        f"the request was delivered; the reply was last seen at hop {drop.last_seen} and "
                        f"lost on {drop.node} before hop {drop.hop} ({missing.label})",
                        f"routes and filters for {exp.src_ip} on {drop.node}", drop.node)]
    return []


def _applies(facts: Facts) -> bool:
    return bool(facts.captures)


CHECK = Check("observation", {code: ("error",) for code in CODES}, _applies, _run)
