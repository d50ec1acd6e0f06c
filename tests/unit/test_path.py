"""kdiag.model.path.expected for every datapath x relation, on the seed cluster's addresses."""

from __future__ import annotations

from typing import Any

import pytest

from kdiag.model.datapath import (
    Datapath,
    Mode,
    Overlay,
    OverlayKind,
    Relation,
    Routing,
    relation_of,
)
from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.path import ExpectedPath, HopKind, expected, gateway_of, node_ip, podcidr_address
from kdiag.model.targets import AddressScope, AddressTarget, PodTarget, address_target

W24 = NodeInfo("worker24", "True", internal_ips=("10.250.0.24",), pod_cidrs=("10.244.1.0/24",))
W25 = NodeInfo("worker25", "True", internal_ips=("10.250.0.25",), pod_cidrs=("10.244.2.0/24",))
NODES = {"worker24": W24, "worker25": W25}

HELLO1 = PodInfo(
    "default",
    "hello-app-1-675b9f655c-8r76c",
    node_name="worker24",
    pod_ip="10.244.1.6",
    host_ip="10.250.0.24",
    phase="Running",
)
HELLO2 = PodInfo(
    "default",
    "hello-app-2-787d8656bb-dfl8c",
    node_name="worker24",
    pod_ip="10.244.1.7",
    host_ip="10.250.0.24",
    phase="Running",
)
WORDPRESS = PodInfo(
    "default",
    "helm-wp-wordpress-57b6df6549-drbbk",
    node_name="worker25",
    pod_ip="10.244.2.3",
    host_ip="10.250.0.25",
    phase="Running",
)
HOST24 = PodInfo(
    "kube-system",
    "node-exporter-24",
    node_name="worker24",
    pod_ip="10.250.0.24",
    host_ip="10.250.0.24",
    host_network=True,
)
HOST25 = PodInfo(
    "kube-system",
    "node-exporter-25",
    node_name="worker25",
    pod_ip="10.250.0.25",
    host_ip="10.250.0.25",
    host_network=True,
)

# The facts kdiag.cluster.cni puts into a Datapath (the model never tests CNI names).
CILIUM_HOST = ("network.cilium.io/ipv4-cilium-host", "io.cilium.network.ipv4-cilium-host")
VX = Overlay(OverlayKind.VXLAN, "flannel.1", 8472, 50, 1)
DATAPATHS: dict[str, Datapath] = {
    "flannel-vxlan": Datapath("flannel", Mode.BRIDGE, Routing.OVERLAY, VX, bridge="cni0"),
    "flannel-host-gw": Datapath("flannel", Mode.BRIDGE, Routing.HOST_GW, bridge="cni0"),
    "flannel-wireguard": Datapath(
        "flannel",
        Mode.BRIDGE,
        Routing.OVERLAY,
        Overlay(OverlayKind.WIREGUARD, "flannel-wg", 51820, 60),
        bridge="cni0",
    ),
    "calico-ipip": Datapath(
        "calico",
        Mode.PTP,
        Routing.OVERLAY,
        Overlay(OverlayKind.IPIP, "tunl0", None, 20),
        gateway="169.254.1.1",
    ),
    "calico-vxlan": Datapath(
        "calico",
        Mode.PTP,
        Routing.OVERLAY,
        Overlay(OverlayKind.VXLAN, "vxlan.calico", 4789, 50, 4096),
        gateway="169.254.1.1",
    ),
    "calico-bgp": Datapath("calico", Mode.PTP, Routing.BGP, gateway="169.254.1.1"),
    "cilium-vxlan": Datapath(
        "cilium",
        Mode.PTP,
        Routing.OVERLAY,
        Overlay(OverlayKind.VXLAN, "cilium_vxlan", 8472, 50),
        generic=True,
        gateway_annotations=CILIUM_HOST,
    ),
    "cilium-native": Datapath(
        "cilium", Mode.PTP, Routing.NATIVE, generic=True, gateway_annotations=CILIUM_HOST
    ),
    "kindnet": Datapath("kindnet", Mode.PTP, Routing.HOST_GW),
    "weave": Datapath(
        "weave",
        Mode.BRIDGE,
        Routing.L2,
        Overlay(OverlayKind.VXLAN, "vxlan-6784", 6784, 50),
        bridge="weave",
        bridge_addressed=False,
        pod_mtu=1376,
    ),
    "kube-router": Datapath("kube-router", Mode.BRIDGE, Routing.BGP, bridge="kube-bridge"),
    "aws-vpc-cni": Datapath("aws-vpc-cni", Mode.PTP, Routing.VPC, gateway="169.254.1.1", pod_mtu=9001),
    "antrea": Datapath(
        "antrea",
        Mode.BRIDGE,
        Routing.OVERLAY,
        Overlay(OverlayKind.GENEVE, "antrea-tun0", 6081, 50),
        bridge="br-int",
        generic=True,
    ),
    "ovn-kubernetes": Datapath(
        "ovn-kubernetes",
        Mode.BRIDGE,
        Routing.OVERLAY,
        Overlay(OverlayKind.GENEVE, "genev_sys_6081", 6081, 100),
        bridge="br-int",
        generic=True,
    ),
    "unknown": Datapath("unknown", Mode.BRIDGE, Routing.NATIVE, generic=True, mtu_from_underlay=False),
}

# (src, dst) per relation case; the relation itself comes from relation_of.
CASES = {
    "same-node": (HELLO1, HELLO2),
    "cross-node": (HELLO1, WORDPRESS),
    "host->pod same node": (HOST24, HELLO1),
    "pod->host same node": (HELLO1, HOST24),
    "host->pod cross node": (HOST24, WORDPRESS),
    "pod->host cross node": (HELLO1, HOST25),
    "host->host same node": (HOST24, HOST24),
    "host->host cross node": (HOST24, HOST25),
}

BRIDGED = {
    "flannel-vxlan",
    "flannel-host-gw",
    "flannel-wireguard",
    "weave",
    "kube-router",
    "antrea",
    "ovn-kubernetes",
    "unknown",
}
MTU = {
    "flannel-vxlan": 1450,
    "flannel-wireguard": 1440,
    "calico-ipip": 1480,
    "calico-vxlan": 1450,
    "cilium-vxlan": 1450,
    "weave": 1376,
    "aws-vpc-cni": 9001,
    "antrea": 1450,
    "ovn-kubernetes": 1400,
    "unknown": None,
}


def expect(dp_name: str, case: str) -> tuple[int, bool, str]:
    """(ttl_decrement, l2_adjacent, kind) as DESIGN.md's networking model states them."""
    bridged = dp_name in BRIDGED
    if case == "same-node":
        return (0, True, "l2") if bridged else (1, False, "routed")
    if case == "cross-node":
        return (0, True, "l2") if dp_name == "weave" else (2, False, "routed")
    if case == "host->pod same node":
        return 0, True, "l2"
    if case == "pod->host same node":
        return 0, False, "routed"
    if case == "host->host same node":
        return 0, False, "local"
    if case == "host->host cross node":
        return 0, True, "l2"
    return (0, True, "l2") if dp_name == "weave" else (1, False, "routed")


def run(dp_name: str, case: str) -> ExpectedPath:
    src, dst = CASES[case]
    return path_to(src, dst, DATAPATHS[dp_name])


def path_to(src: PodInfo, dst: PodInfo, dp: Datapath, nodes: dict[str, NodeInfo] = NODES,
            relation: Relation | None = None, **kw: Any) -> ExpectedPath:
    target = PodTarget(dst)
    return expected(src, target=target, relation=relation or relation_of(src, target=target), datapath=dp,
                    nodes=nodes, **kw)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dp_name", list(DATAPATHS))
def test_every_datapath_and_relation(dp_name: str, case: str) -> None:
    path = run(dp_name, case)
    assert (path.ttl_decrement, path.l2_adjacent, path.kind) == expect(dp_name, case)
    want_mtu = 1500 if case.startswith("host->host") else MTU.get(dp_name, 1500)
    assert path.expected_mtu == want_mtu
    assert path.ttl_exact == (not DATAPATHS[dp_name].generic and case != "host->host cross node")
    assert path.hops and path.summary.startswith(DATAPATHS[dp_name].cni)
    assert path.to_dict()["hops"][0]["kind"] in ("pod-eth0", "host")


def test_flannel_vxlan_cross_node_hops_in_order() -> None:
    path = run("flannel-vxlan", "cross-node")
    assert [h.kind for h in path.hops] == [
        HopKind.POD_ETH0,
        HopKind.VETH,
        HopKind.BRIDGE,
        HopKind.NODE_ROUTING,
        HopKind.OVERLAY_ENCAP,
        HopKind.UNDERLAY,
        HopKind.UNDERLAY,
        HopKind.OVERLAY_DECAP,
        HopKind.PEER_NODE,
        HopKind.PEER_BRIDGE,
        HopKind.PEER_VETH,
        HopKind.PEER_ETH0,
    ]
    encap = path.hops[4]
    assert encap.label == "flannel.1 VXLAN UDP 8472 10.250.0.24 -> 10.250.0.25"
    assert encap.node == "worker24" and encap.addresses == ("10.250.0.24", "10.250.0.25")
    assert path.hops[2].addresses == ("10.244.1.1",) and path.hops[9].addresses == ("10.244.2.1",)
    assert path.encapsulated and path.gateway == "10.244.1.1"


def test_same_node_bridge_is_one_bridge() -> None:
    kinds = [h.kind for h in run("flannel-vxlan", "same-node").hops]
    assert kinds == [HopKind.POD_ETH0, HopKind.VETH, HopKind.BRIDGE, HopKind.PEER_VETH, HopKind.PEER_ETH0]
    assert run("flannel-vxlan", "same-node").gateway == ""


def test_same_node_ptp_routes_through_the_node() -> None:
    path = run("calico-ipip", "same-node")
    assert [h.kind for h in path.hops] == [
        HopKind.POD_ETH0,
        HopKind.VETH,
        HopKind.NODE_ROUTING,
        HopKind.PEER_VETH,
        HopKind.PEER_ETH0,
    ]
    assert path.gateway == "169.254.1.1" and not path.encapsulated


def test_host_gw_has_no_overlay_hop() -> None:
    path = run("flannel-host-gw", "cross-node")
    assert HopKind.OVERLAY_ENCAP not in [h.kind for h in path.hops] and not path.encapsulated
    assert any(h.label == "underlay 10.250.0.24 -> 10.250.0.25 (host-gw)" for h in path.hops)


def test_weave_cross_node_is_one_l2_segment() -> None:
    kinds = [h.kind for h in run("weave", "cross-node").hops]
    assert HopKind.NODE_ROUTING not in kinds and HopKind.OVERLAY_ENCAP in kinds


def test_host_to_remote_pod_goes_through_the_overlay_pod_to_remote_host_does_not() -> None:
    assert run("flannel-vxlan", "host->pod cross node").encapsulated
    assert not run("flannel-vxlan", "pod->host cross node").encapsulated


@pytest.mark.parametrize("dp_name", ["flannel-vxlan", "calico-ipip"])
def test_unencapsulated_traffic_on_an_overlay_datapath_is_not_labelled_overlay(dp_name: str) -> None:
    path = path_to(HELLO1, HOST25, DATAPATHS[dp_name], relation=Relation.CROSS_NODE)  # a node IP destination
    labels = [h.label for h in path.hops]
    assert not path.encapsulated and not any("overlay" in label for label in labels), labels
    assert "worker24 forwards (direct, not encapsulated)" in labels
    assert "underlay 10.250.0.24 -> 10.250.0.25 (direct, not encapsulated)" in labels
    assert "worker24 forwards (overlay)" in [h.label for h in run("flannel-vxlan", "cross-node").hops]


def calico_node(base: NodeInfo, cidr: str) -> NodeInfo:
    return NodeInfo(
        base.name,
        "True",
        internal_ips=base.internal_ips,
        pod_cidrs=base.pod_cidrs,
        annotations={"projectcalico.org/IPv4Address": cidr},
    )


@pytest.mark.parametrize(
    ("a", "b", "encap"),
    [
        ("10.250.0.24/24", "10.250.0.25/24", False),
        ("10.250.0.24/24", "10.250.1.25/24", True),
    ],
)
def test_calico_cross_subnet(a: str, b: str, encap: bool) -> None:
    dp = Datapath(
        "calico",
        Mode.PTP,
        Routing.OVERLAY,
        Overlay(OverlayKind.IPIP, "tunl0", None, 20, cross_subnet_only=True),
        gateway="169.254.1.1",
    )
    nodes = {"worker24": calico_node(W24, a), "worker25": calico_node(W25, b)}
    path = path_to(HELLO1, WORDPRESS, dp, nodes)
    assert path.encapsulated is encap and path.ttl_decrement == 2 and path.expected_mtu == 1480
    assert path.dst_node_ip == b.split("/")[0]


def test_cross_subnet_without_subnet_information_is_assumed_direct_and_said() -> None:
    dp = Datapath(
        "flannel",
        Mode.BRIDGE,
        Routing.OVERLAY,
        Overlay(OverlayKind.VXLAN, "flannel.1", 8472, 50, 1, cross_subnet_only=True),
        bridge="cni0",
    )
    path = path_to(HELLO1, WORDPRESS, dp)
    assert not path.encapsulated and any("assumed" in n for n in path.notes)


def test_addressing_helpers() -> None:
    flannel = NodeInfo(
        "w",
        internal_ips=("10.0.0.9",),
        pod_cidrs=("fd00::/64", "10.244.7.0/24"),
        annotations={"flannel.alpha.coreos.com/public-ip": "192.0.2.9"},
    )
    assert node_ip(flannel) == "192.0.2.9" and node_ip(None) == ""
    assert podcidr_address(flannel, offset=1) == "10.244.7.1"
    assert podcidr_address(flannel, offset=0) == "10.244.7.0"
    cil = NodeInfo("c", annotations={"network.cilium.io/ipv4-cilium-host": "10.0.3.17"})
    assert gateway_of(cil, datapath=DATAPATHS["cilium-native"]) == "10.0.3.17"
    assert gateway_of(W24, datapath=DATAPATHS["calico-ipip"]) == "169.254.1.1"


def test_custom_underlay_mtu_and_unknown_underlay() -> None:
    src, dst = CASES["cross-node"]
    jumbo = path_to(src, dst, DATAPATHS["flannel-vxlan"], underlay_mtu=9000)
    assert jumbo.expected_mtu == 8950
    unknown = path_to(src, dst, DATAPATHS["kindnet"], underlay_mtu=None)
    assert unknown.expected_mtu is None


def rel(src: PodInfo, dst: PodInfo | AddressTarget) -> Relation:
    return relation_of(src, target=dst if isinstance(dst, AddressTarget) else PodTarget(dst))


def test_relation_of() -> None:
    assert rel(HELLO1, HELLO2) is Relation.SAME_NODE
    assert rel(HELLO1, WORDPRESS) is Relation.CROSS_NODE
    assert rel(HOST24, HELLO1) is Relation.HOST_NETWORK_SAME_NODE
    assert rel(HELLO1, HOST25).cross_node and rel(HELLO1, HOST25).host_network
    assert rel(HELLO1, AddressTarget("10.9.9.9", AddressScope.EXTERNAL)) is Relation.EXTERNAL


def test_address_targets_are_placed_on_the_node_that_holds_them() -> None:
    assert address_target("10.250.0.25", nodes=NODES.values()) == AddressTarget(
        "10.250.0.25", AddressScope.NODE, "worker25")
    assert address_target("10.244.2.200", nodes=NODES.values()) == AddressTarget(
        "10.244.2.200", AddressScope.POD_RANGE, "worker25")
    outside = address_target("192.0.2.1", nodes=NODES.values())
    assert outside == AddressTarget("192.0.2.1", AddressScope.EXTERNAL)
    # A node address is the node's host network namespace (pod-to-node); a pod-range address a pod on
    # that node.
    node24, pod24 = (address_target(ip, nodes=NODES.values()) for ip in ("10.250.0.24", "10.244.1.99"))
    assert rel(HELLO1, node24) is Relation.POD_TO_NODE and rel(HELLO1, pod24) is Relation.SAME_NODE
    same = expected(HELLO1, target=node24, relation=Relation.POD_TO_NODE, datapath=DATAPATHS["flannel-vxlan"],
                    nodes=NODES)
    assert (same.ttl_decrement, same.kind, same.relation) == (0, "routed", Relation.POD_TO_NODE)


def test_hops_are_indexed_from_the_source_eth0() -> None:
    for dp_name in DATAPATHS:
        for case in CASES:
            hops = run(dp_name, case).hops
            assert [h.index for h in hops] == list(range(len(hops))), (dp_name, case)
            assert [h["index"] for h in run(dp_name, case).to_dict()["hops"]] == list(range(len(hops)))


def test_the_underlay_is_seen_from_both_nodes() -> None:
    for dp_name, case in [("flannel-vxlan", "cross-node"), ("flannel-host-gw", "cross-node"),
                          ("flannel-vxlan", "host->host cross node"), ("calico-bgp", "pod->host cross node")]:
        wire = [h for h in run(dp_name, case).hops if h.kind is HopKind.UNDERLAY]
        assert [(h.node, h.direction) for h in wire] == [("worker24", "egress"), ("worker25", "ingress")]
        assert wire[0].addresses == ("10.250.0.24", "10.250.0.25") and wire[1].addresses == ("10.250.0.25",)


def test_every_hop_of_a_pod_pair_is_on_a_node() -> None:
    assert all(h.node for dp_name in DATAPATHS for h in run(dp_name, "cross-node").hops)


def test_an_address_outside_the_cluster_leaves_by_the_default_route() -> None:
    outside = AddressTarget("192.0.2.1", AddressScope.EXTERNAL)
    path = expected(HELLO1, target=outside, relation=rel(HELLO1, outside),
                    datapath=DATAPATHS["flannel-host-gw"], nodes=NODES)
    last = [(h.kind, h.direction) for h in path.hops][-2:]
    assert last == [(HopKind.EGRESS, "egress"), (HopKind.EXTERNAL, "")]
    assert path.hops[-1].label == "192.0.2.1 outside the cluster" and path.dst_node == ""
    assert path.relation is Relation.EXTERNAL and path.open_ended and not path.encapsulated
