"""kdiag.cluster.cni.detect over API objects shaped like real clusters' (no cluster needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kdiag.cluster.cni import detect
from kdiag.model.datapath import Mode, OverlayKind, Routing
from kdiag.model.objects import NodeInfo


def ds(
    ns: str,
    name: str,
    image: str = "example/agent:v1",
    env: dict[str, Any] | None = None,
    args: list[str] | None = None,
    container: str = "agent",
) -> dict[str, Any]:
    envs = [{"name": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in (env or {}).items()]
    c = {"name": container, "image": image, "env": envs, "args": args or []}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"namespace": ns, "name": name},
        "spec": {"template": {"spec": {"containers": [c]}}},
    }


def cm(ns: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": ns, "name": name},
        "data": data,
    }


def node(name: str, ip: str, cidr: str, **ann: str) -> NodeInfo:
    return NodeInfo(name=name, ready="True", internal_ips=(ip,), pod_cidrs=(cidr,), annotations=ann)


FLANNEL_DS = ds(
    "kube-flannel", "kube-flannel-ds", "docker.io/flannel/flannel:v0.25.1", container="kube-flannel"
)


def flannel_cfg(backend: dict[str, Any]) -> dict[str, Any]:
    return cm(
        "kube-flannel",
        "kube-flannel-cfg",
        {
            "cni-conf.json": '{"name": "cbr0", "plugins": [{"type": "flannel"}]}',
            "net-conf.json": json.dumps({"Network": "10.244.0.0/16", "Backend": backend}),
        },
    )


def flannel_node(name: str, ip: str, cidr: str, backend: str = "vxlan") -> NodeInfo:
    return node(
        name,
        ip,
        cidr,
        **{
            "flannel.alpha.coreos.com/backend-type": backend,
            "flannel.alpha.coreos.com/backend-data": '{"VNI":1,"VtepMAC":"76:a1:98:8f:f2:6f"}',
            "flannel.alpha.coreos.com/public-ip": ip,
        },
    )


def test_flannel_vxlan_from_configmap_and_annotations() -> None:
    dp = detect(
        [FLANNEL_DS],
        [flannel_cfg({"Type": "vxlan"})],
        [flannel_node("worker24", "10.250.0.24", "10.244.1.0/24")],
        None,
    )
    assert (dp.cni, dp.mode, dp.routing, dp.bridge) == ("flannel", Mode.BRIDGE, Routing.OVERLAY, "cni0")
    assert (dp.overlay.kind, dp.overlay.device, dp.overlay.udp_port, dp.mtu_overhead) == (
        OverlayKind.VXLAN,
        "flannel.1",
        8472,
        50,
    )
    sources = [e.source for e in dp.evidence]
    assert "daemonset kube-flannel/kube-flannel-ds" in sources
    assert "configmap kube-flannel/kube-flannel-cfg" in sources
    assert any("Backend.Type=vxlan" in e.detail for e in dp.evidence)
    assert any(e.detail == "annotation flannel.alpha.coreos.com/backend-type=vxlan" for e in dp.evidence)


def test_flannel_vxlan_custom_port_and_vni() -> None:
    dp = detect([FLANNEL_DS], [flannel_cfg({"Type": "vxlan", "Port": 4789, "VNI": 4096})], [], None)
    assert (dp.overlay.device, dp.overlay.udp_port, dp.overlay.vni) == ("flannel.4096", 4789, 4096)


def test_flannel_host_gw() -> None:
    dp = detect([FLANNEL_DS], [flannel_cfg({"Type": "host-gw"})], [], None)
    assert dp.routing is Routing.HOST_GW and not dp.overlay.enabled and dp.mtu_overhead == 0


def test_flannel_wireguard() -> None:
    dp = detect([FLANNEL_DS], [flannel_cfg({"Type": "wireguard"})], [], None)
    assert (dp.overlay.kind, dp.overlay.device, dp.overlay.udp_port) == (
        OverlayKind.WIREGUARD,
        "flannel-wg",
        51820,
    )


def test_flannel_running_backend_wins_over_edited_configmap() -> None:
    dp = detect(
        [FLANNEL_DS],
        [flannel_cfg({"Type": "vxlan"})],
        [flannel_node("w1", "10.0.0.1", "10.244.1.0/24", backend="host-gw")],
        None,
    )
    assert dp.routing is Routing.HOST_GW
    assert any("restart" in n for n in dp.notes)


def test_k3s_embedded_flannel_seen_only_as_annotations() -> None:
    dp = detect(
        [ds("kube-system", "svclb-traefik")],
        [cm("kube-system", "coredns", {"Corefile": "."})],
        [flannel_node("k3s-1", "192.168.1.10", "10.42.0.0/24")],
        None,
    )
    assert dp.cni == "flannel" and dp.overlay.device == "flannel.1"
    assert dp.evidence[0].source == "node k3s-1"
    assert any("embedded" in n for n in dp.notes)


CALICO_DS = ds(
    "kube-system",
    "calico-node",
    "docker.io/calico/node:v3.27.0",
    container="calico-node",
    env={
        "CALICO_IPV4POOL_IPIP": "Always",
        "CALICO_IPV4POOL_VXLAN": "Never",
        "CALICO_NETWORKING_BACKEND": {
            "valueFrom": {"configMapKeyRef": {"name": "calico-config", "key": "calico_backend"}}
        },
    },
)
CALICO_CM = cm("kube-system", "calico-config", {"calico_backend": "bird", "veth_mtu": "0"})


def pool(ipip: str, vxlan: str, name: str = "default-ipv4-ippool") -> dict[str, Any]:
    return {
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": "IPPool",
        "metadata": {"name": name},
        "spec": {"cidr": "192.168.0.0/16", "ipipMode": ipip, "vxlanMode": vxlan, "natOutgoing": True},
    }


def test_calico_ipip_from_env_resolves_configmap_refs() -> None:
    dp = detect([CALICO_DS], [CALICO_CM], [], None)
    assert (dp.cni, dp.mode, dp.gateway) == ("calico", Mode.PTP, "169.254.1.1")
    assert (dp.overlay.kind, dp.overlay.device, dp.overlay.udp_port, dp.mtu_overhead) == (
        OverlayKind.IPIP,
        "tunl0",
        None,
        20,
    )
    details = [e.detail for e in dp.evidence]
    assert "env CALICO_IPV4POOL_IPIP=Always" in details and "env CALICO_NETWORKING_BACKEND=bird" in details
    assert any("IPPools not readable" in n for n in dp.notes)


def test_calico_ippool_is_authoritative() -> None:
    dp = detect([CALICO_DS], [CALICO_CM], [], [pool("Never", "Always")])
    assert (dp.overlay.kind, dp.overlay.device, dp.overlay.udp_port) == (
        OverlayKind.VXLAN,
        "vxlan.calico",
        4789,
    )
    assert any(e.source == "ippool default-ipv4-ippool" for e in dp.evidence)


def test_calico_cross_subnet_and_no_encap() -> None:
    assert detect([CALICO_DS], [], [], [pool("CrossSubnet", "Never")]).overlay.cross_subnet_only
    dp = detect([CALICO_DS], [], [], [pool("Never", "Never")])
    assert dp.routing is Routing.BGP and not dp.overlay.enabled


def test_calico_operator_install_from_node_annotations() -> None:
    operator_ds = ds("calico-system", "calico-node", "docker.io/calico/node:v3.27.0")
    n = node(
        "w1",
        "10.0.0.1",
        "",
        **{
            "projectcalico.org/IPv4Address": "10.0.0.1/24",
            "projectcalico.org/IPv4VXLANTunnelAddr": "192.168.10.0",
        },
    )
    dp = detect([operator_ds], [], [n], None)
    # Operator installs carry no CALICO_IPV4POOL_* env: the tunnel annotation decides.
    assert dp.overlay.device == "vxlan.calico"
    assert any("IPv4VXLANTunnelAddr" in e.detail for e in dp.evidence)


def test_calico_wireguard_annotation() -> None:
    n = node("w1", "10.0.0.1", "", **{"projectcalico.org/IPv4WireguardInterfaceAddr": "192.168.1.5"})
    dp = detect([CALICO_DS], [], [n], [pool("Always", "Never")])
    assert (dp.overlay.device, dp.overlay.udp_port) == ("wireguard.cali", 51820)


@pytest.mark.parametrize(
    ("data", "kind", "device", "port"),
    [
        ({}, OverlayKind.VXLAN, "cilium_vxlan", 8472),
        ({"routing-mode": "tunnel", "tunnel-protocol": "geneve"}, OverlayKind.GENEVE, "cilium_geneve", 6081),
        ({"tunnel": "vxlan", "tunnel-port": "8473"}, OverlayKind.VXLAN, "cilium_vxlan", 8473),
        ({"routing-mode": "native"}, OverlayKind.NONE, "", None),
        ({"tunnel": "disabled"}, OverlayKind.NONE, "", None),
        ({"routing-mode": "native", "enable-wireguard": "true"}, OverlayKind.WIREGUARD, "cilium_wg0", 51871),
    ],
)
def test_cilium(data: dict[str, str], kind: OverlayKind, device: str, port: int | None) -> None:
    dp = detect(
        [ds("kube-system", "cilium", "quay.io/cilium/cilium:v1.15.0")],
        [cm("kube-system", "cilium-config", data)],
        [],
        None,
    )
    assert (dp.cni, dp.mode, dp.overlay.kind, dp.overlay.device, dp.overlay.udp_port) == (
        "cilium",
        Mode.PTP,
        kind,
        device,
        port,
    )
    assert dp.routing is (Routing.NATIVE if kind is OverlayKind.NONE else Routing.OVERLAY)
    assert dp.generic  # eBPF: TTL not held against it
    # The pods' gateway is cilium_host, whose address Cilium writes into a node annotation.
    assert dp.gateway_annotations == (
        "network.cilium.io/ipv4-cilium-host", "io.cilium.network.ipv4-cilium-host")


def test_kindnet() -> None:
    dp = detect([ds("kube-system", "kindnet", "docker.io/kindest/kindnetd:v20240202")], [], [], None)
    assert (dp.cni, dp.mode, dp.routing, dp.overlay.enabled) == ("kindnet", Mode.PTP, Routing.HOST_GW, False)
    # The facts the path model reads instead of CNI names keep their defaults for every other CNI.
    assert (dp.gateway_annotations, dp.bridge_addressed, dp.mtu_from_underlay) == ((), True, True)


def test_weave_fastdp_and_sleeve() -> None:
    dp = detect([ds("kube-system", "weave-net", "weaveworks/weave-kube:2.8.1")], [], [], None)
    assert (dp.cni, dp.bridge, dp.routing, dp.overlay.udp_port, dp.pod_mtu) == (
        "weave",
        "weave",
        Routing.L2,
        6784,
        1376,
    )
    sleeve = detect(
        [ds("kube-system", "weave-net", env={"WEAVE_NO_FASTDP": "1", "WEAVE_MTU": "1400"})], [], [], None
    )
    assert (sleeve.overlay.udp_port, sleeve.pod_mtu) == (6783, 1400)
    assert not dp.bridge_addressed and not sleeve.bridge_addressed  # the weave bridge has no podCIDR .1


def test_kube_router() -> None:
    dp = detect(
        [ds("kube-system", "kube-router", args=["--run-router=true", "--enable-overlay=false"])], [], [], None
    )
    assert (dp.cni, dp.bridge, dp.routing, dp.overlay.enabled) == (
        "kube-router",
        "kube-bridge",
        Routing.BGP,
        False,
    )
    full = detect([ds("kube-system", "kube-router", args=["--overlay-type=full"])], [], [], None)
    assert full.routing is Routing.OVERLAY and full.overlay.kind is OverlayKind.IPIP


def test_aws_vpc_cni_and_eks_calico_policy_only() -> None:
    aws = ds(
        "kube-system",
        "aws-node",
        "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.16",
        env={"AWS_VPC_ENI_MTU": "9001"},
    )
    dp = detect([aws, CALICO_DS], [], [], None)
    assert (dp.cni, dp.mode, dp.routing, dp.gateway, dp.pod_mtu) == (
        "aws-vpc-cni",
        Mode.PTP,
        Routing.VPC,
        "169.254.1.1",
        9001,
    )


@pytest.mark.parametrize(
    ("conf", "kind", "port", "routing"),
    [
        ("# tunnelType: geneve\n#trafficEncapMode: encap\n", OverlayKind.GENEVE, 6081, Routing.OVERLAY),
        ("tunnelType: vxlan\n", OverlayKind.VXLAN, 4789, Routing.OVERLAY),
        ("tunnelType: gre\n", OverlayKind.GRE, None, Routing.OVERLAY),
        ("trafficEncapMode: noEncap\n", OverlayKind.NONE, None, Routing.NATIVE),
    ],
)
def test_antrea(conf: str, kind: OverlayKind, port: int | None, routing: Routing) -> None:
    dp = detect(
        [ds("kube-system", "antrea-agent", "antrea/antrea-agent-ubuntu:v2.0.0")],
        [cm("kube-system", "antrea-config-7k2f9b8d4c", {"antrea-agent.conf": conf})],
        [],
        None,
    )
    assert (dp.cni, dp.overlay.kind, dp.overlay.udp_port, dp.routing) == ("antrea", kind, port, routing)
    assert dp.bridge == "br-int" and any("antrea-config-7k2f9b8d4c" in e.source for e in dp.evidence)


def test_ovn_kubernetes() -> None:
    dp = detect(
        [ds("ovn-kubernetes", "ovnkube-node", "ghcr.io/ovn-org/ovn-kubernetes/ovn-kube-ubuntu")], [], [], None
    )
    assert (dp.cni, dp.overlay.kind, dp.overlay.device, dp.overlay.udp_port) == (
        "ovn-kubernetes",
        OverlayKind.GENEVE,
        "genev_sys_6081",
        6081,
    )


@pytest.mark.parametrize(
    "annotation",
    ["k8s.ovn.org/node-subnets", "k8s.ovn.org/node-chassis-id", "k8s.ovn.org/l3-gateway-config"],
)
def test_ovn_kubernetes_from_node_annotations_alone(annotation: str) -> None:
    # As an OpenShift user sees it: the DaemonSets are not readable, ovnkube-node's annotations are.
    values = {
        "k8s.ovn.org/node-subnets": '{"default":["10.128.0.0/23"]}',
        "k8s.ovn.org/node-chassis-id": "8b4d6c6e-3f0a-4b3c-9d55-3c1f7d3a2b10",
        "k8s.ovn.org/l3-gateway-config": '{"default":{"mode":"shared","interface-id":"br-ex_n1"}}',
    }
    worker = node("worker-0", "10.0.0.5", "10.128.0.0/23", **{annotation: values[annotation]})
    dp = detect([], [], [worker], None)
    assert (dp.cni, dp.overlay.kind, dp.overlay.udp_port) == ("ovn-kubernetes", OverlayKind.GENEVE, 6081)
    assert any(e.source == "node worker-0" and annotation in e.detail for e in dp.evidence)


def test_canal_is_flannel_networking() -> None:
    canal = ds("kube-system", "canal", "docker.io/calico/node:v3.27.0", container="calico-node")
    dp = detect(
        [canal],
        [
            cm(
                "kube-system",
                "canal-config",
                {"net-conf.json": '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}'},
            )
        ],
        [],
        None,
    )
    assert dp.cni == "flannel" and dp.overlay.device == "flannel.1"
    assert any("calico" in n for n in dp.notes)


def test_unknown_says_what_was_looked_at() -> None:
    dp = detect(
        [ds("kube-system", "kube-proxy", "registry.k8s.io/kube-proxy:v1.30.0")],
        [cm("kube-system", "coredns", {})],
        [node("n1", "10.0.0.1", "10.244.0.0/24")],
        None,
    )
    assert dp.cni == "unknown" and dp.generic and not dp.mtu_from_underlay
    assert "1 DaemonSets, 1 ConfigMaps, annotations of 1 nodes" in dp.evidence[0].detail
    assert dp.to_dict()["cni"] == "unknown"


def test_broken_net_conf_json_is_a_note_not_a_crash() -> None:
    bad = cm("kube-flannel", "kube-flannel-cfg", {"net-conf.json": "{not json"})
    dp = detect([FLANNEL_DS], [bad], [], None)
    assert dp.cni == "flannel" and any("not valid JSON" in n for n in dp.notes)
