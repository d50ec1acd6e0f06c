"""The path a packet should take between two endpoints on a given datapath: pure, no I/O.

The numbers here are what the probe will be held to: the TTL decrement seen by the peer (0 on a
bridge, 1 per node that forwards), whether the peer answers ARP directly (L2 adjacent), and the MTU
the pods were configured with (the underlay's minus the overlay's encapsulation).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Literal

from kdiag.model.datapath import Datapath, Mode, OverlayKind, Relation, Routing
from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.targets import Endpoint, Target, endpoint_of
from kdiag.model.waypoints import Role, Waypoint, tunnel_address, waypoints

DEFAULT_UNDERLAY_MTU = 1500  # the API does not show node NIC MTUs; callers may pass the real one


class HopKind(str, Enum):
    POD_ETH0 = "pod-eth0"
    VETH = "veth"
    BRIDGE = "bridge"
    NODE_ROUTING = "node-routing"
    HOST = "host"  # a host-network endpoint: the node's own network stack
    OVERLAY_ENCAP = "overlay-encap"
    UNDERLAY = "underlay"
    OVERLAY_DECAP = "overlay-decap"
    PEER_NODE = "peer-node"
    PEER_BRIDGE = "peer-bridge"
    PEER_VETH = "peer-veth"
    PEER_ETH0 = "peer-eth0"
    EGRESS = "egress"  # leaving the cluster through the node's default route (SNAT as the CNI does it)
    EXTERNAL = "external"  # an address outside the cluster's nodes and podCIDRs


Direction = Literal["egress", "ingress", ""]


@dataclass(frozen=True)
class Hop:
    """One place on the path, in order: `index` counts from the source's eth0 (0)."""

    kind: HopKind
    label: str
    node: str = ""  # the node whose network stack the hop is in ("" outside the cluster's nodes)
    device: str = ""
    addresses: tuple[str, ...] = ()
    index: int = 0
    # For the underlay, which side of the wire: leaving the source node, entering the destination's.
    direction: Direction = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind.value, "label": self.label, "node": self.node,
                "device": self.device, "direction": self.direction or None,
                "addresses": list(self.addresses)}


@dataclass(frozen=True)
class ExpectedPath:
    relation: Relation
    datapath: Datapath
    src_ip: str
    dst_ip: str
    src_node: str
    dst_node: str
    src_node_ip: str
    dst_node_ip: str
    hops: tuple[Hop, ...]
    l2_adjacent: bool  # the destination answers the source's ARP itself
    ttl_decrement: int  # as seen by the peer: 64 - decrement
    ttl_exact: bool  # False when the forwarding element (eBPF, OVS, unknown CNI) may differ
    expected_mtu: int | None
    kind: Literal["l2", "routed", "local"]  # "local": both ends in the same host network namespace
    encapsulated: bool  # this pair's traffic goes through the overlay device
    gateway: str  # the address that should answer TTL 1 on a routed path ("" when L2 or unknown)
    summary: str
    notes: tuple[str, ...] = ()
    # The addresses on the way the probe also pings (kdiag.model.waypoints), in path order.
    waypoints: tuple[Waypoint, ...] = ()
    # The path leaves the cluster: ttl_decrement counts only the cluster's routers, a lower bound.
    open_ended: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "relation": self.relation.value,
            "kind": self.kind,
            "source": {"ip": self.src_ip, "node": self.src_node, "nodeIP": self.src_node_ip},
            "destination": {"ip": self.dst_ip, "node": self.dst_node, "nodeIP": self.dst_node_ip},
            "l2Adjacent": self.l2_adjacent,
            "ttlDecrement": self.ttl_decrement,
            "ttlExact": self.ttl_exact,
            "expectedMTU": self.expected_mtu,
            "encapsulated": self.encapsulated,
            "gateway": self.gateway,
            "summary": self.summary,
            "notes": list(self.notes),
            "hops": [h.to_dict() for h in self.hops],
            "waypoints": [w.to_dict() for w in self.waypoints],
            "openEnded": self.open_ended,
        }


# ---- addressing helpers (also used by verdict to map hop addresses to nodes) ---------------------


def node_ip(node: NodeInfo | None) -> str:
    """The address overlays and host routes use for a node: flannel's public-ip, then Calico's
    IPv4Address, then the InternalIP."""
    if node is None:
        return ""
    for key in ("flannel.alpha.coreos.com/public-ip", "projectcalico.org/IPv4Address"):
        if node.annotations.get(key):
            return node.annotations[key].split("/")[0]
    return node.internal_ip or (node.external_ips[0] if node.external_ips else "")


def podcidr_address(node: NodeInfo | None, *, offset: int) -> str:
    """The `offset`-th address of the node's IPv4 podCIDR: .1 is cni0 / antrea-gw0 / kindnet's ptp
    gateway, .0 is flannel.1's address (the source of ICMP errors the peer node sends back)."""
    for cidr in node.pod_cidrs if node else ():
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if net.version == 4:
            return str(net.network_address + offset)
    return ""


def same_subnet(a: NodeInfo | None, b: NodeInfo | None) -> bool | None:
    """Whether two nodes share an underlay subnet, when Calico's IPv4Address annotations say so."""
    key = "projectcalico.org/IPv4Address"
    try:
        na = ipaddress.ip_interface(a.annotations[key]) if a else None
        nb = ipaddress.ip_interface(b.annotations[key]) if b else None
    except (KeyError, ValueError):
        return None
    if na is None or nb is None:
        return None
    return na.network == nb.network


def gateway_of(node: NodeInfo | None, *, datapath: Datapath) -> str:
    """The pods' gateway on `node`: the datapath's fixed one, else the node annotation the detector
    named (Cilium's cilium_host), else the first address of the node's podCIDR."""
    dp = datapath
    if dp.gateway:
        return dp.gateway
    if dp.gateway_annotations:
        annotations = node.annotations if node is not None else {}
        return next((annotations[key] for key in dp.gateway_annotations if annotations.get(key)), "")
    return podcidr_address(node, offset=1)


# ---- the model -----------------------------------------------------------------------------------


def _mtu(dp: Datapath, host_only: bool, underlay: int | None) -> int | None:
    if host_only:
        return underlay
    if dp.pod_mtu:
        return dp.pod_mtu
    if not dp.mtu_from_underlay or underlay is None:
        return None
    # Pod MTU is a datapath-wide setting: CNIs size every pod for the encapsulated case.
    return underlay - dp.overlay.overhead


def _encapsulated(dp: Datapath, src_n: NodeInfo | None, dst_n: NodeInfo | None, notes: list[str]) -> bool:
    if not dp.overlay.enabled or dp.routing not in (Routing.OVERLAY, Routing.L2, Routing.BGP):
        return False
    if not dp.overlay.cross_subnet_only:
        return dp.routing is not Routing.BGP
    same = same_subnet(src_n, dst_n)
    if same is None:
        notes.append(f"{dp.overlay.device} is used only across subnets; nodes assumed to share one")
        return False
    return not same


def expected(
    src: PodInfo, *, target: Target, relation: Relation, datapath: Datapath, nodes: Mapping[str, NodeInfo],
    underlay_mtu: int | None = DEFAULT_UNDERLAY_MTU,
) -> ExpectedPath:
    """Indexed hops, L2 adjacency, TTL decrement and MTU for src -> target on this datapath."""
    dp = datapath
    source, dst = Endpoint.of_pod(src), endpoint_of(target)
    src_n, dst_n = nodes.get(source.node), nodes.get(dst.node)
    s_ip, d_ip = node_ip(src_n) or source.host_ip, node_ip(dst_n) or dst.host_ip
    if relation is Relation.EXTERNAL:
        return _external(source, dst, datapath=dp, src_node=src_n, s_ip=s_ip, underlay_mtu=underlay_mtu)
    exposed = relation  # what the result says; `relation` below is the shape the path takes
    if relation is Relation.POD_TO_NODE:  # the node's own stack: as a host-network destination
        same = bool(source.node) and source.node == dst.node
        relation = Relation.HOST_NETWORK_SAME_NODE if same else Relation.HOST_NETWORK_CROSS_NODE
    notes: list[str] = list(dp.notes)
    bridge = dp.mode is Mode.BRIDGE
    gw = gateway_of(src_n, datapath=dp)
    cross = relation.cross_node
    l2_cluster = dp.routing is Routing.L2  # Weave: one L2 segment across nodes
    encap = cross and not source.host_network and not dst.host_network and _encapsulated(
        dp, src_n, dst_n, notes)
    if cross and source.host_network != dst.host_network and (
            not dst.host_network or _in_pod_cidr(dst.ip, dst_n)):
        # The node's own packets to a remote pod, and a pod's to a remote node's cni0 / tunnel
        # address, follow the same podCIDR route through the overlay.
        encap = _encapsulated(dp, src_n, dst_n, notes)

    hops: list[Hop] = []

    def add(kind: HopKind, label: str, node: str = "", device: str = "", *addrs: str,
            direction: Direction = "") -> None:
        hops.append(Hop(kind, label, node, device, tuple(a for a in addrs if a), direction=direction))

    def underlay(label: str) -> None:
        """The wire between the nodes, seen from both ends: leaving SRC's node, entering DST's."""
        add(HopKind.UNDERLAY, label, source.node, "", s_ip, d_ip, direction="egress")
        if dst.node:
            add(HopKind.UNDERLAY, f"underlay arrives at {d_ip}", dst.node, "", d_ip, direction="ingress")

    def pod_side(e: Endpoint, peer: bool) -> None:
        """eth0 + veth (+ bridge) of one pod; for the destination they are added in reverse."""
        n = e.node
        if e.host_network:
            add(HopKind.HOST, f"{n} host network namespace", n, "", e.ip)
            return
        part = [Hop(HopKind.PEER_ETH0 if peer else HopKind.POD_ETH0, f"{e.label} eth0", n, "eth0",
                    (e.ip,) if e.ip else ()),
                Hop(HopKind.PEER_VETH if peer else HopKind.VETH, "veth (node end)", n, "veth")]
        if bridge and not (peer and relation is Relation.SAME_NODE):  # one bridge on a single node
            address = (podcidr_address(nodes.get(n), offset=1),) if dp.bridge_addressed else ()
            part.append(Hop(HopKind.PEER_BRIDGE if peer else HopKind.BRIDGE, f"bridge {dp.bridge or '?'}",
                            n, dp.bridge, tuple(a for a in address if a)))
        hops.extend(reversed(part) if peer else part)

    pod_side(source, peer=False)
    both_host = source.host_network and dst.host_network
    if relation is Relation.SAME_NODE and not bridge:
        add(HopKind.NODE_ROUTING, f"{source.node} routes the /32 to the peer's veth", source.node, "", gw)
    elif cross and both_host:
        underlay(f"underlay {s_ip} -> {d_ip}")
    elif cross:
        # An overlay datapath still routes some traffic unencapsulated (to a node IP, within a subnet).
        direct = "direct, not encapsulated" if dp.routing is Routing.OVERLAY else dp.routing.value
        if not l2_cluster and not source.host_network:
            by = "overlay" if encap else direct
            add(HopKind.NODE_ROUTING, f"{source.node} forwards ({by})", source.node, "", gw)
        if encap:
            o = dp.overlay
            port = f" UDP {o.udp_port}" if o.udp_port else ""
            add(HopKind.OVERLAY_ENCAP, f"{o.device} {o.kind.value.upper()}{port} {s_ip} -> {d_ip}",
                source.node, o.device, s_ip, d_ip)
        underlay(f"underlay {s_ip} -> {d_ip}" + (f" ({direct})" if not encap else ""))
        if encap:
            add(HopKind.OVERLAY_DECAP, f"{dp.overlay.device} decapsulates", dst.node, dp.overlay.device, d_ip)
        if not l2_cluster and not dst.host_network:
            add(HopKind.PEER_NODE, f"{dst.node} forwards to the pod", dst.node, "",
                podcidr_address(dst_n, offset=1) if bridge else "")
    if not (both_host and not cross):
        pod_side(dst, peer=True)
    hops = [replace(hop, index=i) for i, hop in enumerate(hops)]

    # TTL, adjacency, kind: see DESIGN.md "The networking model kdiag explains".
    kind: Literal["l2", "routed", "local"]
    if both_host:
        ttl, l2, kind = 0, cross, ("l2" if cross else "local")
        if cross:
            notes.append("host to host over the underlay: assumes the nodes share an L2 segment")
    elif relation is Relation.SAME_NODE:
        ttl, l2, kind = (0, True, "l2") if bridge else (1, False, "routed")
    elif relation is Relation.HOST_NETWORK_SAME_NODE:
        # The node reaches its pods on-link (cni0 or the /32 veth route); a pod reaches its own node
        # through its gateway, which *is* that node: no forwarding either way.
        ttl, l2, kind = (0, True, "l2") if source.host_network else (0, False, "routed")
    elif l2_cluster:
        ttl, l2, kind = 0, True, "l2"
    elif source.host_network or dst.host_network:
        ttl, l2, kind = 1, False, "routed"  # only the pod's node forwards
    else:
        ttl, l2, kind = 2, False, "routed"
    ttl_exact = not dp.generic and not (both_host and cross)
    mtu = _mtu(dp, both_host, underlay_mtu)
    gateway = "" if l2 or kind == "local" else (gw if not source.host_network else "")
    where = "the same node" if not cross else f"{source.node} -> {dst.node}"
    how = {"l2": "L2 (no router in between)", "local": "local delivery in one network namespace",
           "routed": f"routed, {ttl} forwarding hop{'s' if ttl != 1 else ''}"}[kind]
    via = f" through {dp.overlay.describe()}" if encap else ""
    summary = f"{dp.cni}: {source.ip} -> {dst.ip} on {where}: {how}{via}"
    if mtu:
        summary += f", MTU {mtu}"
    if dp.overlay.kind is OverlayKind.WIREGUARD and encap:
        notes.append("WireGuard: a captured underlay packet shows only UDP between node IPs")
    stops: list[tuple[str, Role, str]] = []
    if kind == "routed" and not source.host_network:
        stops.append((s_ip, "src-node", source.node))
        if cross and not dst.host_network:
            tunnel = tunnel_address(dst_n, annotations=dp.tunnel_annotations,
                                    at_network_address=dp.tunnel_at_network_address,
                                    network_address=podcidr_address(dst_n, offset=0))
            stops += [(tunnel if encap else "", "tunnel", dst.node),
                      (podcidr_address(dst_n, offset=1) if bridge and dp.bridge_addressed else "", "bridge",
                       dst.node), (d_ip, "dst-node", dst.node)]
    return ExpectedPath(exposed, dp, source.ip, dst.ip, source.node, dst.node, s_ip, d_ip,
                        tuple(hops), l2, ttl, ttl_exact, mtu, kind, encap, gateway, summary, tuple(notes),
                        waypoints(stops, exclude=(source.ip, dst.ip)))


def _in_pod_cidr(address: str, node: NodeInfo | None) -> bool:
    for cidr in node.pod_cidrs if node else ():
        try:
            if ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


def _external(source: Endpoint, dst: Endpoint, *, datapath: Datapath, src_node: NodeInfo | None, s_ip: str,
              underlay_mtu: int | None) -> ExpectedPath:
    """A pod (or node) to an address outside the cluster: out of the source node by its default
    route, source-NATed to the node's address where the CNI masquerades; no overlay, and routers
    beyond the node that the model cannot count (the decrement is a lower bound)."""
    dp, n = datapath, source.node
    gw = gateway_of(src_node, datapath=dp)
    hops: list[Hop] = []
    if source.host_network:
        hops.append(Hop(HopKind.HOST, f"{n} host network namespace", n, "", (source.ip,)))
    else:
        hops += [Hop(HopKind.POD_ETH0, f"{source.label} eth0", n, "eth0", (source.ip,)),
                 Hop(HopKind.VETH, "veth (node end)", n, "veth")]
        if dp.mode is Mode.BRIDGE:
            address = podcidr_address(src_node, offset=1) if dp.bridge_addressed else ""
            hops.append(Hop(HopKind.BRIDGE, f"bridge {dp.bridge or '?'}", n, dp.bridge,
                            (address,) if address else ()))
        hops.append(Hop(HopKind.NODE_ROUTING, f"{n} forwards by its default route", n, "",
                        (gw,) if gw else ()))
    masq = "" if source.host_network else " (SNAT to it where the CNI masquerades pod traffic)"
    hops.append(Hop(HopKind.EGRESS, f"leaves {n} by its default route from {s_ip or '?'}{masq}", n, "",
                    (s_ip,) if s_ip else (), direction="egress"))
    hops.append(Hop(HopKind.EXTERNAL, f"{dst.ip} outside the cluster", "", "", (dst.ip,)))
    hops = [replace(hop, index=i) for i, hop in enumerate(hops)]
    ttl = 0 if source.host_network else 1
    mtu = _mtu(dp, source.host_network, underlay_mtu)
    summary = (f"{dp.cni}: {source.ip} -> {dst.ip} outside the cluster: leaves {n} by its default route, "
               "routers beyond it not modelled")
    if mtu:
        summary += f", MTU {mtu}"
    stops: list[tuple[str, Role, str]] = [] if source.host_network else [(s_ip, "src-node", n)]
    return ExpectedPath(Relation.EXTERNAL, dp, source.ip, dst.ip, n, "", s_ip, "", tuple(hops), False, ttl,
                        False, mtu, "routed", False, "" if source.host_network else gw, summary,
                        tuple(dp.notes), waypoints(stops, exclude=(source.ip, dst.ip)), open_ended=True)
