"""--observe, the pure half: node captures laid on the expected path (kdiag.model.capture_hops) and the
observation check's codes, each from the node state that proves it (kdiag.model.checks.observation)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from kdiag.model.capture import FirewallHit, Link, NodeCapture, Packet, RouteLookup, parse_capture
from kdiag.model.capture_hops import drop_point, hop_captures, with_captures
from kdiag.model.checks import Facts
from kdiag.model.checks.observation import CHECK
from kdiag.model.hops import attach
from kdiag.model.observations import parse_observations
from kdiag.model.path import ExpectedPath
from kdiag.model.verdict import judge
from tests.unit.test_verdict import CTX, PTP, icmp, path, result, trace

SRC_VETH, DST_VETH = "veth1111", "veth2222"
# (node, interface, in|out, request|reply, encapsulated) along a healthy flannel cross-node flow
VXLAN_FLOW = [
    ("worker24", SRC_VETH, "in", "request", False), ("worker24", "cni0", "in", "request", False),
    ("worker24", "flannel.1", "out", "request", False), ("worker24", "eth0", "out", "request", True),
    ("worker25", "eth0", "in", "request", True), ("worker25", "flannel.1", "in", "request", False),
    ("worker25", "cni0", "out", "request", False), ("worker25", DST_VETH, "out", "request", False),
    ("worker25", DST_VETH, "in", "reply", False), ("worker25", "cni0", "in", "reply", False),
    ("worker25", "flannel.1", "out", "reply", False), ("worker25", "eth0", "out", "reply", True),
    ("worker24", "eth0", "in", "reply", True), ("worker24", "flannel.1", "in", "reply", False),
    ("worker24", "cni0", "out", "reply", False), ("worker24", SRC_VETH, "out", "reply", False),
]


def packets(exp: ExpectedPath, flow: list[tuple[str, str, str, str, bool]], node: str) -> tuple[Packet, ...]:
    out = []
    for i, (where, iface, way, direction, encap) in enumerate(flow):
        if where != node:
            continue
        src, dst = (exp.src_ip, exp.dst_ip) if direction == "request" else (exp.dst_ip, exp.src_ip)
        out.append(Packet(iface, way, src, dst, "icmp", encap, timestamp=float(i)))
    return tuple(out)


def routes(request_dev: str = "flannel.1", reply_dev: str = "cni0", **extra: Any) -> tuple[RouteLookup, ...]:
    return (RouteLookup("request", "10.244.2.3", "", True, request_dev, extra.get("gw", "")),
            RouteLookup("reply", "10.244.1.6", "", True, reply_dev))


def captures(exp: ExpectedPath, flow: list[tuple[str, str, str, str, bool]] = VXLAN_FLOW,
             **changes: dict[str, Any]) -> dict[str, NodeCapture]:
    base = {
        "worker24": NodeCapture("worker24", True, packets=packets(exp, flow, "worker24"), ip_forward=1,
                                routes=routes(), peer_devices=("eth0",),
                                fdb=(("aa:bb:cc:00:00:25", "10.250.0.25", "flannel.1"),),
                                links={"flannel.1": Link("flannel.1", "unknown")}),
        "worker25": NodeCapture("worker25", True, packets=packets(exp, flow, "worker25"), ip_forward=1,
                                routes=routes("cni0", "flannel.1"), peer_devices=("eth0",),
                                links={"flannel.1": Link("flannel.1", "unknown")}),
    }
    return {name: replace(capture, **changes.get(name, {})) for name, capture in base.items()}


def until(flow: list[tuple[str, str, str, str, bool]], stop: tuple[str, str, str, str]) -> list[Any]:
    """The flow up to (not including) the packet matching (node, interface, way, direction)."""
    index = next(i for i, p in enumerate(flow) if p[:4] == stop)
    return flow[:index]


def facts(exp: ExpectedPath, caps: dict[str, NodeCapture], doc: dict[str, Any] | None = None) -> Facts:
    doc = doc or result(icmp=icmp(received=0), traceroute=trace("10.244.1.1"))
    seen = parse_observations(doc, source_node=exp.src_node, captures=tuple(caps.values()))
    return Facts(exp, seen.source, CTX, attach(exp, observations=seen, context=CTX),
                 captures=seen.captured(), probe_address=exp.src_ip)


def code_of(exp: ExpectedPath, caps: dict[str, NodeCapture]) -> tuple[str, str, str, str]:
    found = CHECK.run(facts(exp, caps))
    assert len(found) == 1, found
    hops = hop_captures(exp, caps, source=exp.src_ip)
    drop = drop_point(exp, hops, caps)
    assert drop is not None
    return found[0].code.value, found[0].node, drop.interface, drop.direction


def test_healthy_cross_node_flow_is_seen_both_ways_at_every_hop() -> None:
    exp = path()
    hops = hop_captures(exp, captures(exp), source=exp.src_ip)
    assert [(h.request, h.reply) for h in hops] == [("seen", "seen")] * len(exp.hops)
    assert drop_point(exp, hops) is None and CHECK.run(facts(exp, captures(exp))) == []
    assert hops[0].request_at == (SRC_VETH,) and hops[-1].reply_at == (DST_VETH,)


def test_a_bridge_forwarding_between_its_ports_is_not_observable_not_a_drop() -> None:
    exp = path(cross=False)
    flow = [("worker24", SRC_VETH, "in", "request", False), ("worker24", DST_VETH, "out", "request", False),
            ("worker24", DST_VETH, "in", "reply", False), ("worker24", SRC_VETH, "out", "reply", False)]
    node = NodeCapture("worker24", True, packets=packets(exp, flow, "worker24"))
    hops = hop_captures(exp, {"worker24": node}, source=exp.src_ip)
    assert [(h.hop.kind.value, h.request) for h in hops][2] == ("bridge", "not observable")
    assert drop_point(exp, hops) is None


def test_a_node_without_an_observer_is_not_observable() -> None:
    exp = path()
    caps = captures(exp)
    del caps["worker25"]
    hops = hop_captures(exp, caps, source=exp.src_ip)
    assert {h.request for h in hops if h.hop.node == "worker25"} == {"not observable"}


def test_the_probe_pods_own_address_is_the_flow() -> None:
    exp = path()
    other = replace(exp, src_ip="10.244.1.9")  # another pod of the same node talking to DST
    hops = hop_captures(exp, captures(other), source=exp.src_ip)
    assert {h.request for h in hops} == {"not seen"}


FAULTS = {
    "route to the peer podCIDR gone on the source node": (
        lambda exp: captures(exp, until(VXLAN_FLOW, ("worker24", "flannel.1", "out", "request")),
                             worker24={"routes": routes("eth0", gw="10.250.0.1")}),
        ("NO_ROUTE", "worker24", "cni0", "request")),
    "route back gone on the destination node": (
        lambda exp: captures(exp, until(VXLAN_FLOW, ("worker25", "flannel.1", "out", "reply")),
                             worker25={"routes": routes("cni0", "eth0")}),
        ("RETURN_PATH_BROKEN", "worker25", "cni0", "reply")),
    "ip_forward off on the destination node": (
        lambda exp: captures(exp, until(VXLAN_FLOW, ("worker25", "cni0", "out", "request")),
                             worker25={"ip_forward": 0}),
        ("FORWARDING_DISABLED", "worker25", "flannel.1", "request")),
    "strict rp_filter, route back elsewhere": (
        lambda exp: captures(exp, until(VXLAN_FLOW, ("worker25", "cni0", "out", "request")),
                             worker25={"rp_filter": {"all": 1, "flannel.1": 1},
                                       "routes": routes("cni0", "eth0")}),
        ("RP_FILTER_DROP", "worker25", "flannel.1", "request")),
    "a counted drop rule": (
        lambda exp: captures(exp, until(VXLAN_FLOW, ("worker25", "cni0", "out", "request")),
                             worker25={"firewall": (FirewallHit("nftables", "inet f", "forward", "drop",
                                                                3),)}),
        ("FIREWALL_DROP", "worker25", "flannel.1", "request")),
    "no FDB entry for the peer": (
        lambda exp: captures(exp, until(VXLAN_FLOW, ("worker24", "eth0", "out", "request")),
                             worker24={"fdb": ()}),
        ("TUNNEL_NOT_SENT", "worker24", "eth0", "request")),
    "the underlay drops the tunnel's port": (
        lambda exp: captures(exp, until(VXLAN_FLOW, ("worker25", "eth0", "in", "request"))),
        ("TUNNEL_NOT_RECEIVED", "worker25", "eth0", "request")),
    "the destination pod does not answer": (
        lambda exp: captures(exp, until(VXLAN_FLOW, ("worker25", DST_VETH, "in", "reply"))),
        ("DELIVERED_NO_ANSWER", "worker25", DST_VETH, "reply")),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_gives_its_code_node_interface_and_direction(fault: str) -> None:
    build, want = FAULTS[fault]
    exp = path()
    assert code_of(exp, build(exp)) == want


def test_point_to_point_route_via_the_wrong_gateway_is_no_route_on_the_sender() -> None:
    """Out of the right device (eth0) to the wrong gateway: it leaves the node and never arrives."""
    exp = path(PTP)
    flow = [("worker24", "cali1111", "in", "request", False), ("worker24", "eth0", "out", "request", False)]
    caps = {"worker24": NodeCapture("worker24", True, packets=packets(exp, flow, "worker24"), ip_forward=1,
                                    routes=routes("eth0", "cali1111", gw="10.250.0.1"),
                                    peer_devices=("eth0",)),
            "worker25": NodeCapture("worker25", True, ip_forward=1, peer_devices=("eth0",))}
    assert code_of(exp, caps) == ("NO_ROUTE", "worker24", "eth0", "request")
    assert drop_point(exp, hop_captures(exp, caps, source=exp.src_ip), caps).node == "worker25"


def test_an_observed_drop_replaces_the_overlay_guess_and_sets_the_drop_point() -> None:
    exp = path()
    caps = captures(exp, until(VXLAN_FLOW, ("worker25", "cni0", "out", "request")),
                    worker25={"ip_forward": 0})
    doc = result(icmp=icmp(received=0), traceroute=trace("10.244.1.1"))
    seen = parse_observations(doc, source_node=exp.src_node, captures=tuple(caps.values()))
    verdict = judge(exp, observations=seen, context=CTX)
    assert "FORWARDING_DISABLED" in verdict.codes and "OVERLAY_SUSPECT" not in verdict.codes
    assert verdict.to_dict()["dropPoint"] == {"node": "worker25", "interface": "flannel.1",
                                              "direction": "request", "hop": 8, "lastSeenHop": 7}
    plain = judge(exp, observations=parse_observations(doc, source_node=exp.src_node), context=CTX)
    assert "OVERLAY_SUSPECT" in plain.codes and "dropPoint" not in plain.to_dict()


def test_the_spine_gets_one_capture_sighting_per_hop_and_the_drop_point() -> None:
    exp = path()
    caps = captures(exp, until(VXLAN_FLOW, ("worker25", DST_VETH, "in", "reply")))
    spine = attach(exp, observations=parse_observations(result(icmp=icmp()), source_node=exp.src_node),
                   context=CTX)
    seen = with_captures(exp, spine, caps, source=exp.src_ip)
    outcomes = [[s.outcome for s in r.seen if s.probe == "capture"] for r in seen.hops]
    assert outcomes[0] == ["request seen; reply not seen"]
    assert outcomes[-1] == ["request seen; reply not seen", "dropPoint"]


def test_an_observer_result_parses_into_a_node_capture() -> None:
    raw = {"node": "worker25", "interfaces": [{"name": "any", "captured": True},
                                              {"name": "flannel.1", "index": 4, "operState": "down"}],
           "nodeState": {"sysctls": {"ipForward": 0, "rpFilter": {"all": 2}, "forwarding": {}},
                         "routes": [{"direction": "request",
                                     "query": {"to": "10.244.2.3", "iif": "flannel.1"},
                                     "ok": False, "error": "RTNETLINK answers: Invalid cross-device link"}],
                         "neighbours": {"entries": []}, "fdb": {"entries": [{"mac": "AA:BB:CC:00:00:24",
                                                                              "dst": "10.250.0.24"}]},
                         "peerRoutes": [{"to": "10.250.0.24", "ok": True, "route": {"dev": "eth0"}}],
                         "links": [{"name": "cni0", "index": 3}]},
           "netfilter": {"nftables": {"grown": [{"family": "inet", "table": "t", "chain": "forward",
                                                 "rule": "counter drop", "packets": 2}]},
                         "iptables": [{"variant": "legacy", "grown": [{"table": "filter", "chain": "FORWARD",
                                                                      "rule": "-A FORWARD -j DROP",
                                                                      "packets": 1}]}]}}
    cap = parse_capture(raw, ())
    assert cap.captured and cap.ip_forward == 0 and cap.peer_devices == ("eth0",)
    assert cap.links["flannel.1"].oper_state == "down" and "cni0" in cap.links
    assert cap.forwarding_route("request") is not None and not cap.forwarding_route("request").routes
    assert cap.fdb == (("aa:bb:cc:00:00:24", "10.250.0.24", ""),)
    assert [h.source for h in cap.firewall] == ["nftables", "iptables-legacy"]
    assert cap.rp_filter_of("flannel.1") == 2
