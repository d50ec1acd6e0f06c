"""Issue 10 on hand-written ProbeResults: the way out and the way back judged separately, who sent a
RST, which waypoint answered, outside and node addresses, special addresses, where the probe stood,
and the order and wording of the verdict."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from kdiag.errors import UsageError
from kdiag.model.datapath import Relation, relation_of
from kdiag.model.findings import Code, context_for
from kdiag.model.objects import NodeInfo
from kdiag.model.path import HopKind, expected
from kdiag.model.targets import AddressScope, AddressTarget, address_target, special_address
from kdiag.trace.request import TraceRequest
from tests.unit.test_verdict import (
    CTX,
    FLANNEL,
    HELLO1,
    HOSTGW,
    NODES,
    PTP,
    W24,
    W25,
    codes,
    finding,
    icmp,
    judge,
    local,
    path,
    result,
    tcp,
    trace,
)

VXLAN = replace(FLANNEL, tunnel_at_network_address=True)  # as kdiag.cluster.cni detects flannel VXLAN
W26 = NodeInfo("worker26", "True", internal_ips=("10.250.0.26",), pod_cidrs=("10.244.3.0/24",))
THREE = {**NODES, "worker26": W26}
CTX3 = context_for(THREE.values(), target=AddressTarget("10.244.2.3", AddressScope.POD_RANGE, "worker25"),
                   port=80)


def waypoints(*answers: tuple[str, bool]) -> dict[str, Any]:
    return {"measured": True, "method": "parallel",
            "results": [{"address": a, "result": icmp(received=2 if ok else 0, ttl=63)} for a, ok in answers]}


def rst(ttl: int) -> dict[str, Any]:
    return {**tcp("closed"), "replyTtl": ttl}


def flannel_waypoints(*, src: bool = True, tunnel: bool, bridge: bool, node: bool) -> dict[str, Any]:
    return waypoints(("10.250.0.24", src), ("10.244.2.0", tunnel), ("10.244.2.1", bridge),
                     ("10.250.0.25", node))


# ---- 1. forward and reverse --------------------------------------------------------------------------


def test_detour_out_through_a_third_node_with_a_direct_way_back_is_an_asymmetric_error() -> None:
    doc = result(local=local(gateway="169.254.1.1"), icmp=icmp(ttl=62), tcp=tcp("open"),
                 traceroute=trace("10.250.0.24", "10.250.0.26", "10.250.0.25", "10.244.2.3", reached=True))
    v = judge(path(PTP), doc, CTX3)
    f = finding(v, Code.PATH_DETOUR)
    assert (f.severity, f.node, v.status, v.matches_expected) == ("error", "worker26", "problem", False)
    assert "asymmetric" in f.message and "3 forwarding hop(s)" in f.message and "reply TTL 62" in f.message
    assert codes(v)[0] == "PATH_DETOUR" and "ROUTED_HOPS" not in codes(v) and "TTL_MISMATCH" not in codes(v)
    assert "not as expected: PATH_DETOUR" in v.explanation


def test_a_symmetric_longer_path_is_a_warning() -> None:
    doc = result(icmp=icmp(ttl=61),
                 traceroute=trace("10.250.0.24", "10.250.0.26", "10.250.0.25", "10.244.2.3", reached=True))
    f = finding(judge(path(PTP), doc, CTX3), Code.PATH_DETOUR)
    assert f.severity == "warning" and f.node == "worker26" and "asymmetric" not in f.message


def test_without_a_traceroute_the_reply_ttl_alone_is_still_ttl_mismatch() -> None:
    v = judge(path(cross=False), result(icmp=icmp(ttl=63)), CTX)
    assert "TTL_MISMATCH" in codes(v) and "PATH_DETOUR" not in codes(v)


def test_healthy_forward_and_reverse_raise_no_detour() -> None:
    doc = result(icmp=icmp(ttl=62), traceroute=trace("10.244.1.1", "10.244.2.0", "10.244.2.3", reached=True))
    v = judge(path(), doc, CTX)
    assert v.matches_expected and "PATH_DETOUR" not in codes(v)
    assert v.explanation == "matches the expected path"


# ---- 2. who sent the RST -----------------------------------------------------------------------------


def test_rst_one_hop_nearer_than_the_pod_is_the_destination_nodes() -> None:
    doc = result(icmp=icmp(ttl=62), tcp=rst(63),
                 traceroute=trace("10.244.1.1", "10.244.2.0", "10.244.2.3", reached=True))
    v = judge(path(), doc, CTX)
    f = finding(v, Code.TCP_RESET_IN_PATH)
    assert (f.node, codes(v)[0]) == ("worker25", "TCP_RESET_IN_PATH") and "TCP_CLOSED" not in codes(v)
    assert "TTL 63" in f.message and "TTL 62" in f.message


def test_rst_with_the_pods_ttl_is_nothing_listening() -> None:
    v = judge(path(), result(icmp=icmp(ttl=62), tcp=rst(62)), CTX)
    assert codes(v)[0] == "TCP_CLOSED" and "TCP_RESET_IN_PATH" not in codes(v)
    assert v.explanation == "path as expected; not as expected: TCP_CLOSED"


def test_rst_from_the_source_node_without_icmp_uses_the_model() -> None:
    v = judge(path(), result(icmp=icmp(received=0), tcp=rst(64)), CTX)
    assert finding(v, Code.TCP_RESET_IN_PATH).node == "worker24" and "TCP_CLOSED" not in codes(v)


# ---- 3. waypoints ------------------------------------------------------------------------------------


def _silent(wps: dict[str, Any], dp: Any = VXLAN, hops: tuple[str | None, ...] = ("10.244.1.1",)) -> Any:
    doc = result(local=local(), icmp=icmp(received=0), tcp=tcp("filtered"), traceroute=trace(*hops),
                 waypoints=wps)
    return judge(path(dp), doc, CTX)


def test_expected_path_lists_the_waypoints_by_role() -> None:
    exp = path(VXLAN)
    assert [(w.address, w.role, w.node) for w in exp.waypoints] == [
        ("10.250.0.24", "src-node", "worker24"), ("10.244.2.0", "tunnel", "worker25"),
        ("10.244.2.1", "bridge", "worker25"), ("10.250.0.25", "dst-node", "worker25")]
    assert [w.role for w in path(PTP).waypoints] == ["src-node", "dst-node"]
    assert path(cross=False).waypoints == ()  # L2: nothing in between


def test_tunnel_answering_blames_the_destination_node_not_the_tunnel() -> None:
    v = _silent(flannel_waypoints(tunnel=True, bridge=True, node=True))
    f = finding(v, Code.NODE_NOT_FORWARDING)
    assert f.node == "worker25" and "tunnel works" in f.message and "ip_forward" in f.hint
    assert "OVERLAY_SUSPECT" not in codes(v) and codes(v)[0] == "NODE_NOT_FORWARDING"
    assert finding(v, Code.STOPS_AT_HOP).severity == "warning"
    assert "NODE_NOT_FORWARDING" in finding(v, Code.NO_REPLY).hint


def test_node_address_answering_but_not_the_tunnel_is_the_return_path() -> None:
    v = _silent(flannel_waypoints(tunnel=False, bridge=False, node=True))
    f = finding(v, Code.RETURN_PATH_SUSPECT)
    assert f.node == "worker25" and "rp_filter" in f.hint and "OVERLAY_SUSPECT" not in codes(v)


def test_nothing_of_the_destination_node_answering_names_the_tunnel_and_the_route_back() -> None:
    v = _silent(flannel_waypoints(tunnel=False, bridge=False, node=False))
    f = finding(v, Code.OVERLAY_SUSPECT)
    assert codes(v)[:2] == ["OVERLAY_SUSPECT", "NO_REPLY"]
    assert "worker25's route back to 10.244.1.6" in f.message


def test_a_destination_node_that_answers_the_traceroute_forwards() -> None:
    v = _silent(flannel_waypoints(tunnel=True, bridge=True, node=True), hops=("10.244.1.1", "10.244.2.0"))
    assert "NODE_NOT_FORWARDING" not in codes(v) and finding(v, Code.STOPS_AT_HOP).node == "worker25"


def test_routed_destination_node_answering_on_its_bridge_does_not_forward() -> None:
    v = _silent(waypoints(("10.250.0.24", True), ("10.244.2.1", True), ("10.250.0.25", True)), dp=HOSTGW)
    assert finding(v, Code.NODE_NOT_FORWARDING).node == "worker25"


def test_a_node_address_alone_does_not_prove_the_way_to_the_node() -> None:
    """ptp: the node address is reached on the underlay, not by the pod's route, so both the source
    node's route and the destination node's forwarding stay suspects."""
    v = _silent(waypoints(("10.250.0.24", True), ("10.250.0.25", True)), dp=PTP, hops=("10.250.0.24",))
    assert "NODE_NOT_FORWARDING" not in codes(v)
    stop = finding(v, Code.STOPS_AT_HOP)
    assert stop.severity == "error" and "ip_forward" in stop.hint
    assert "route back to 10.244.1.6 works" in stop.hint


def test_source_node_answering_itself_but_not_ttl_1_does_not_forward() -> None:
    v = _silent(flannel_waypoints(tunnel=False, bridge=False, node=False), hops=(None,))
    f = finding(v, Code.NODE_NOT_FORWARDING)
    assert f.node == "worker24" and codes(v)[0] == "NODE_NOT_FORWARDING"
    assert "forward" in finding(v, Code.STOPS_AT_HOP).hint


# ---- 4. outside the cluster, and the nodes' own addresses --------------------------------------------


def test_an_outside_address_leaves_by_the_default_route() -> None:
    target = address_target("192.0.2.1", nodes=NODES.values())
    assert relation_of(HELLO1, target=target) is Relation.EXTERNAL
    exp = expected(HELLO1, target=target, relation=Relation.EXTERNAL, datapath=FLANNEL, nodes=NODES)
    assert exp.open_ended and not exp.encapsulated and all(a for h in exp.hops for a in h.addresses)
    assert [h.kind for h in exp.hops][-2:] == [HopKind.EGRESS, HopKind.EXTERNAL]
    doc = result(local=local(), icmp=icmp(received=0), traceroute=trace("10.244.1.1"))
    v = judge(exp, doc, CTX)
    assert "OVERLAY_SUSPECT" not in codes(v)
    assert "default route's gateway" in finding(v, Code.STOPS_AT_HOP).hint
    reached = result(icmp=icmp(ttl=58), traceroute=trace("10.244.1.1", None, "192.0.2.1", reached=True))
    v = judge(exp, reached, CTX)
    assert v.matches_expected and "PATH_DETOUR" not in codes(v) and "TTL_MISMATCH" not in codes(v)


@pytest.mark.parametrize(("address", "node"), [("10.250.0.25", "worker25"), ("10.244.2.1", "worker25"),
                                               ("10.244.2.0", "worker25")])
def test_node_addresses_are_pod_to_node(address: str, node: str) -> None:
    target = address_target(address, nodes=NODES.values())
    assert (target.scope, target.node) == (AddressScope.NODE, node)
    assert relation_of(HELLO1, target=target) is Relation.POD_TO_NODE
    exp = expected(HELLO1, target=target, relation=Relation.POD_TO_NODE, datapath=FLANNEL, nodes=NODES)
    assert exp.ttl_decrement == 1
    v = judge(exp, result(icmp=icmp(ttl=63)), CTX)
    assert v.matches_expected and "TTL_MISMATCH" not in codes(v)


def test_a_pod_address_in_the_podcidr_stays_a_pod_address() -> None:
    assert address_target("10.244.2.200", nodes=(W24, W25)).scope is AddressScope.POD_RANGE


# ---- 5. special addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3", "0.0.0.0", "255.255.255.255", "224.0.0.1",
                                     "239.255.255.250", "169.254.1.1"])
def test_special_addresses_are_refused_before_the_cluster(address: str) -> None:
    assert special_address(address)
    with pytest.raises(UsageError) as refused:
        TraceRequest("hello-app-1", address)
    assert address in str(refused.value) and refused.value.exit_code == 2


@pytest.mark.parametrize("address", ["10.244.2.3", "192.0.2.1", "10.250.0.25", "hello-app-1"])
def test_ordinary_destinations_pass(address: str) -> None:
    assert special_address(address) == ""
    TraceRequest("hello-app-1", address)


# ---- 6. where the probe stood ------------------------------------------------------------------------


def test_pod_mode_says_the_source_link_was_not_tested() -> None:
    doc = result(local=local(source="10.244.1.2"), icmp=icmp(ttl=62))
    v = judge(path(), doc, CTX)
    f = finding(v, Code.SOURCE_NOT_PROBED)
    assert f.severity == "info" and "--mode ephemeral" in f.hint and v.matches_expected
    assert "SOURCE_NOT_PROBED" not in codes(judge(path(), result(local=local(), icmp=icmp(ttl=62)), CTX))
