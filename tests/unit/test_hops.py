"""kdiag.model.hops.attach: each observation lands at the hop it speaks about, keyed by where it was seen."""

from __future__ import annotations

from kdiag.model.hops import HopResult, Sighting, attach, hop_for
from kdiag.model.observations import ObservationPoint, parse_observations
from kdiag.model.path import HopKind
from tests.unit.test_verdict import CTX, PTP, arp, err, icmp, local, path, pmtu, result, tcp, trace


def at(results: tuple[HopResult, ...], kind: HopKind) -> tuple[Sighting, ...]:
    return next(r.seen for r in results if r.hop.kind is kind)


def test_the_probe_is_an_observation_point_on_the_source_node() -> None:
    seen = parse_observations(result(local=local(), icmp=icmp()), source_node="worker24")
    point = ObservationPoint("worker24", "eth0", "egress", "probe")
    assert seen.source_point == point and seen.at(point) is not None and seen.source.icmp_received == 3
    assert not parse_observations({"error": "x"}, source_node="worker24").source.valid


def test_every_hop_gets_a_result_in_order_and_no_policy_yet() -> None:
    exp = path()
    seen = parse_observations(result(icmp=icmp()), source_node="worker24")
    spine = attach(exp, observations=seen, context=CTX)
    assert [r.hop for r in spine.hops] == list(exp.hops)
    assert all(r.policy is None for r in spine.hops)
    assert [r.to_dict()["index"] for r in spine.hops] == list(range(len(exp.hops)))


def test_traceroute_answers_go_to_the_forwarding_hop_of_their_node() -> None:
    doc = result(local=local(), icmp=icmp(), tcp=tcp("open"),
                 traceroute=trace("10.244.1.1", "10.244.2.0", "10.244.2.3", reached=True), arp=arp(False))
    spine = attach(path(), observations=parse_observations(doc, source_node="worker24"), context=CTX)
    assert [(s.probe, s.ttl) for s in at(spine.hops, HopKind.NODE_ROUTING)] == [("traceroute", 1)]
    assert [(s.probe, s.ttl, s.address) for s in at(spine.hops, HopKind.PEER_NODE)] == [
        ("traceroute", 2, "10.244.2.0")]  # flannel.1 on worker25: an address only the Context knows
    dst = at(spine.hops, HopKind.PEER_ETH0)
    assert [(s.probe, s.outcome) for s in dst] == [
        ("traceroute", "reached"), ("icmp", "replied"), ("tcp", "open"), ("arp", "noReply")]
    assert next(s for s in dst if s.probe == "icmp").ttl == 62
    assert [s.probe for s in at(spine.hops, HopKind.POD_ETH0)] == ["local"]
    assert spine.off_path == ()


def test_icmp_errors_sit_at_their_sender_and_unknown_addresses_are_off_path() -> None:
    doc = result(icmp=icmp(received=0, errors=[err("10.250.0.25", "hostUnreachable")]),
                 traceroute=trace("10.244.1.1", "192.0.2.1"), pmtu=pmtu(1450))
    spine = attach(path(), observations=parse_observations(doc, source_node="worker24"), context=CTX)
    decap = at(spine.hops, HopKind.OVERLAY_DECAP)
    assert [(s.outcome, s.error) for s in decap] == [("error", "hostUnreachable")]
    assert [(s.probe, s.address) for s in spine.off_path] == [("traceroute", "192.0.2.1"), ("pmtu", "")]


def test_a_point_to_point_gateway_answer_is_the_node_routing_hop() -> None:
    exp = path(PTP, cross=False)
    assert hop_for("169.254.1.1", path=exp, context=CTX) == next(
        h for h in exp.hops if h.kind is HopKind.NODE_ROUTING)
    assert hop_for(exp.dst_ip, path=exp, context=CTX) == exp.hops[-1]
    assert hop_for("192.0.2.1", path=exp, context=CTX) is None
    assert hop_for(None, path=exp, context=CTX) is None


def test_no_probe_result_attaches_nothing() -> None:
    seen = parse_observations({"error": "x"}, source_node="worker24")
    spine = attach(path(), observations=seen, context=CTX)
    assert all(r.seen == () for r in spine.hops) and spine.off_path == ()
