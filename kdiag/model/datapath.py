"""The datapath a cluster's CNI builds, as kdiag models it: pure data, no I/O.

`kdiag.cluster.cni.detect` fills a `Datapath` from API objects; `kdiag.model.path.expected` turns it
and a pod pair into the hops a packet should take. Every field is something that changes what a probe
should see (TTL, ARP, which device and UDP port carry cross-node traffic, how much MTU is lost), so
that the verdict can say *where* an observation departs from the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from kdiag.model.objects import PodInfo
from kdiag.model.targets import AddressScope, AddressTarget, Target, endpoint_of


class Mode(str, Enum):
    """How a pod's veth is attached on its node."""

    # The node end of the veth is a bridge port: same-node peers are L2 neighbours (ARP answered by
    # the peer's own MAC, TTL untouched).
    BRIDGE = "bridge"
    # The node end is routed (a /32 per pod, proxy ARP or a fixed gateway): every packet, even to a
    # same-node peer, is forwarded by the node once (TTL - 1).
    PTP = "point-to-point"


class OverlayKind(str, Enum):
    NONE = "none"
    VXLAN = "vxlan"
    IPIP = "ipip"
    GENEVE = "geneve"
    WIREGUARD = "wireguard"
    GRE = "gre"  # Antrea tunnelType gre
    STT = "stt"  # Antrea tunnelType stt
    UDP = "udp"  # flannel's legacy userspace "udp" backend (flannel0 TUN)


class Routing(str, Enum):
    """What carries cross-node pod traffic between nodes."""

    OVERLAY = "overlay"  # encapsulated between node IPs (see Datapath.overlay)
    HOST_GW = "host-gw"  # a route per peer podCIDR via the peer node's IP (needs L2 between nodes)
    BGP = "bgp"  # routes learned over BGP (Calico bird, kube-router)
    NATIVE = "native"  # the underlay routes pod IPs itself (Cilium native routing, cloud routes)
    VPC = "vpc"  # pod IPs are VPC addresses (AWS VPC CNI): the cloud fabric delivers them
    L2 = "l2"  # one L2 segment spans all nodes (Weave): cross-node peers are L2 neighbours


class Relation(str, Enum):
    """How two endpoints of a trace relate.

    kdiag/model/pairs.py names pair classes `same-node`, `cross-node` and `host-network`; the trace
    needs the host-network case split by node because the TTL and the hops differ. Which side is in
    the host network is read from the endpoints by path.expected.
    """

    SAME_NODE = "same-node"
    CROSS_NODE = "cross-node"
    HOST_NETWORK_SAME_NODE = "host-network-same-node"
    HOST_NETWORK_CROSS_NODE = "host-network-cross-node"
    # A pod to a node's own address (its InternalIP, or the cni0 / tunnel address it holds).
    POD_TO_NODE = "pod-to-node"
    # An address no node and no podCIDR holds: the path leaves the cluster by the default route.
    EXTERNAL = "external"

    @property
    def cross_node(self) -> bool:
        return self in (Relation.CROSS_NODE, Relation.HOST_NETWORK_CROSS_NODE)

    @property
    def host_network(self) -> bool:
        return self in (Relation.HOST_NETWORK_SAME_NODE, Relation.HOST_NETWORK_CROSS_NODE)


def relation_of(src: PodInfo, *, target: Target) -> Relation:
    """Classify a (directed) pair: a pod to a node's own address is pod-to-node, an address no node
    holds is external."""
    if isinstance(target, AddressTarget) and target.scope is AddressScope.EXTERNAL:
        return Relation.EXTERNAL
    dst = endpoint_of(target)
    same = bool(src.node_name) and src.node_name == dst.node
    if not src.host_network and isinstance(target, AddressTarget) and target.scope is AddressScope.NODE:
        return Relation.POD_TO_NODE
    if src.host_network or dst.host_network:
        return Relation.HOST_NETWORK_SAME_NODE if same else Relation.HOST_NETWORK_CROSS_NODE
    return Relation.SAME_NODE if same else Relation.CROSS_NODE


@dataclass(frozen=True)
class Evidence:
    """One thing kdiag read that supports (or qualifies) the detection."""

    source: str  # e.g. "daemonset kube-flannel/kube-flannel-ds"
    detail: str  # e.g. "net-conf.json Backend.Type=vxlan"


@dataclass(frozen=True)
class Overlay:
    kind: OverlayKind = OverlayKind.NONE
    device: str = ""  # flannel.1, vxlan.calico, tunl0, cilium_vxlan, genev_sys_6081, antrea-tun0 ...
    udp_port: int | None = None  # 8472, 4789, 6081, 51820 ...; None for IPIP/GRE (IP protocols 4/47)
    overhead: int = 0  # bytes the encapsulation takes from the underlay MTU (IPv4 underlay)
    vni: int | None = None
    # Calico CrossSubnet, flannel DirectRouting, kube-router --overlay-type=subnet: encapsulate only
    # between nodes in different underlay subnets, route directly otherwise.
    cross_subnet_only: bool = False

    @property
    def enabled(self) -> bool:
        return self.kind is not OverlayKind.NONE

    def describe(self) -> str:
        if not self.enabled:
            return "none"
        port = f" UDP {self.udp_port}" if self.udp_port else ""
        return f"{self.device} {self.kind.value.upper()}{port}".strip()


NO_OVERLAY = Overlay()


@dataclass(frozen=True)
class Datapath:
    # flannel, calico, cilium, kindnet, weave, kube-router, aws-vpc-cni, antrea, ovn-kubernetes, unknown
    cni: str
    mode: Mode = Mode.BRIDGE
    routing: Routing = Routing.OVERLAY
    overlay: Overlay = NO_OVERLAY
    bridge: str = ""  # cni0, weave, kube-bridge, br-int ...; "" on point-to-point datapaths
    # The pod's default gateway when it is a fixed link-local address (Calico / AWS 169.254.1.1);
    # "" means the first address of the node's podCIDR (cni0 .1, kindnet's ptp gateway, antrea-gw0).
    gateway: str = ""
    pod_mtu: int | None = None  # MTU the CNI configures on pod eth0, when the API says so
    # True when the model is assumed rather than read (unknown CNI, or a CNI whose forwarding
    # element's TTL handling kdiag cannot vouch for, e.g. eBPF/OVS pipelines).
    generic: bool = False
    # Facts the detector knows about this CNI, so that the path model never tests CNI names:
    # node annotations that hold the pods' gateway address (Cilium's cilium_host); when set, the
    # gateway is read from them only, never guessed from the podCIDR.
    gateway_annotations: tuple[str, ...] = ()
    # The bridge holds the podCIDR's first address (cni0 .1); Weave's bridge does not.
    bridge_addressed: bool = True
    # Pods are sized as the underlay's MTU minus the overlay's overhead; False when kdiag does not
    # know how this datapath sizes them (unknown CNI).
    mtu_from_underlay: bool = True
    # Where the overlay device's own address is, so that a probe can ask the far end of the tunnel
    # itself: node annotations holding it (Calico's IPv4VXLANTunnelAddr / IPv4IPIPTunnelAddr), or
    # the podCIDR's network address (flannel.1 holds .0).
    tunnel_annotations: tuple[str, ...] = ()
    tunnel_at_network_address: bool = False
    evidence: tuple[Evidence, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def mtu_overhead(self) -> int:
        return self.overlay.overhead

    def summary(self) -> str:
        how = self.overlay.describe() if self.routing is Routing.OVERLAY else self.routing.value
        attach = f"bridge {self.bridge}" if self.mode is Mode.BRIDGE and self.bridge else self.mode.value
        return f"{self.cni}: {attach}, cross-node {how}"

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON shape (kdiag/v1: fields are added, never renamed)."""
        return {
            "cni": self.cni,
            "mode": self.mode.value,
            "routing": self.routing.value,
            "overlay": {
                "kind": self.overlay.kind.value,
                "device": self.overlay.device,
                "udpPort": self.overlay.udp_port,
                "overhead": self.overlay.overhead,
                "vni": self.overlay.vni,
                "crossSubnetOnly": self.overlay.cross_subnet_only,
            },
            "bridge": self.bridge,
            "gateway": self.gateway,
            "podMTU": self.pod_mtu,
            "mtuOverhead": self.mtu_overhead,
            "generic": self.generic,
            "evidence": [{"source": e.source, "detail": e.detail} for e in self.evidence],
            "notes": list(self.notes),
        }
