"""The lab's network: an underlay switch, one namespace per node, one per pod, wired like a real CNI.

Everything lives in named network namespaces `kdl-<labid>-...`; the root namespace is never given a
route, address or device, so lab ranges cannot leak out and `down()` can find all of it again by
prefix, even after a crash. See docs/lab.md for the picture of each datapath.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from kdiag_lab import netns

BRIDGE_VXLAN = "bridge-vxlan"
BRIDGE_HOSTGW = "bridge-hostgw"
PTP = "ptp"
DATAPATHS = (BRIDGE_VXLAN, BRIDGE_HOSTGW, PTP)

UNDERLAY_CIDR = ipaddress.IPv4Network("10.250.0.0/24")
# The switch namespace owns .1: it is every node's default gateway (as a real node has one) and
# drops what it receives, because nothing forwards there. ptp needs a node default route: proxy ARP
# only answers for 169.254.1.1 when the node has a route to it through another interface.
UNDERLAY_GATEWAY = "10.250.0.1"
# The control-plane node's address on the underlay: the apiserver's --advertise-address (so the
# `kubernetes` Service's endpoint) and a SAN of its certificate; in-lab clients dial it, where the
# API relay listens. A namespace on the switch like a worker, but with no pods or CNI devices.
CONTROL_PLANE_IP = "10.250.0.2"
CONTROL_PLANE_PORT = "sw-cp"
FIRST_WORKER = 24
MAX_WORKERS = 200  # keeps workerNN inside the underlay /24 and 10.244.N.0/24 below 256
SWITCH_BRIDGE = "br0"
NODE_UPLINK = "eth0"
POD_IFACE = "eth0"
CNI_BRIDGE = "cni0"
VXLAN_DEVICE = "flannel.1"
VXLAN_VNI = 1
VXLAN_PORT = 8472
VXLAN_OVERHEAD = 50
UNDERLAY_MTU = 1500
PTP_GATEWAY = "169.254.1.1"
PTP_HOST_MAC = "ee:ee:ee:ee:ee:ee"  # what Calico gives every host-side cali* veth

_LAB_ID = re.compile(r"^[a-z0-9]{1,12}$")


@dataclass(frozen=True)
class NodeSpec:
    name: str
    underlay_ip: str
    pod_cidr: str

    @property
    def bridge_gateway(self) -> str:
        """The `.1` of the podCIDR, held by cni0 on bridge datapaths."""
        return str(ipaddress.IPv4Network(self.pod_cidr).network_address + 1)


def default_nodes(workers: int = 2) -> tuple[NodeSpec, ...]:
    """worker24 (10.244.1.0/24, 10.250.0.24), worker25 (10.244.2.0/24, 10.250.0.25), ..."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
    return tuple(
        NodeSpec(
            name=f"worker{FIRST_WORKER + i}",
            underlay_ip=str(UNDERLAY_CIDR.network_address + FIRST_WORKER + i),
            pod_cidr=f"10.244.{i + 1}.0/24",
        )
        for i in range(workers)
    )


@dataclass(frozen=True)
class PodNet:
    key: str  # "namespace/name"
    node: str
    netns: str
    ip: str
    mac: str
    host_veth: str
    mtu: int


def mtu_for(datapath: str) -> int:
    return UNDERLAY_MTU - VXLAN_OVERHEAD if datapath == BRIDGE_VXLAN else UNDERLAY_MTU


def pod_mac(ip: str) -> str:
    """0a:58 + the IPv4 bytes, as the CNI bridge plugin does: stable and readable in captures."""
    return "0a:58:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def host_veth_name(datapath: str, key: str) -> str:
    """Host-side veth name: `veth` + 8 hex (flannel/bridge plugin) or `cali` + 11 hex (Calico)."""
    digest = hashlib.sha1(key.encode()).hexdigest()
    return "cali" + digest[:11] if datapath == PTP else "veth" + digest[:8]


def validate_lab_id(lab_id: str) -> str:
    # No dashes: `kdl-<id>-` must never be a prefix of another lab's names.
    if not _LAB_ID.match(lab_id):
        raise ValueError(f"lab id must be 1-12 characters of [a-z0-9], got {lab_id!r}")
    return lab_id


class LabNetwork:
    """One lab's namespaces and devices. Construct it the same way in any process to act on it."""

    def __init__(
        self, lab_id: str, datapath: str = BRIDGE_VXLAN, nodes: int | Sequence[NodeSpec] = 2
    ) -> None:
        if datapath not in DATAPATHS:
            raise ValueError(f"unknown datapath {datapath!r}; choose one of {', '.join(DATAPATHS)}")
        self.lab_id = validate_lab_id(lab_id)
        self.datapath = datapath
        self.nodes: tuple[NodeSpec, ...] = default_nodes(nodes) if isinstance(nodes, int) else tuple(nodes)
        self.prefix = f"kdl-{lab_id}-"
        self.switch_ns = f"{self.prefix}underlay"
        self.control_plane_ns = f"{self.prefix}controlplane"
        self.mtu = mtu_for(datapath)
        self._pods: dict[str, PodNet] = {}
        self._lock = threading.Lock()

    # -- names ------------------------------------------------------------------------------
    def node(self, name: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.name == name:
                return spec
        raise KeyError(f"no lab node {name!r}")

    def node_ns(self, name: str) -> str:
        return f"{self.prefix}node-{name}"

    def pod_ns(self, key: str) -> str:
        # "_" never appears in Kubernetes names, so "ns_name" cannot collide; long keys get a hash.
        slug = key.replace("/", "_")
        if len(slug) > 200:
            slug = slug[:190] + "-" + hashlib.sha1(key.encode()).hexdigest()[:8]
        return f"{self.prefix}pod-{slug}"

    def vtep_mac(self, node: str) -> str:
        """flannel.1's MAC, fixed per lab and node so the node annotation can be written up front."""
        digest = hashlib.sha1(f"{self.lab_id}/{node}".encode()).digest()
        return "0e:" + ":".join(f"{b:02x}" for b in digest[:5])

    def _switch_port(self, index: int, node: NodeSpec) -> str:
        name = f"sw-{node.name}"
        return name if len(name) <= netns.IFNAMSIZ else f"sw-n{index}"

    @property
    def pods(self) -> dict[str, PodNet]:
        with self._lock:
            return dict(self._pods)

    # -- lifecycle --------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(netns.names(self.prefix))

    def up(self) -> None:
        """Build switch, nodes and the datapath. On any failure, removes what it made and re-raises."""
        if self.exists():
            raise netns.NetnsError(f"lab network {self.lab_id} already exists; run down() first")
        try:
            self._up()
        except BaseException:
            self.down()
            raise

    def _up(self) -> None:
        netns.add(self.switch_ns)
        netns.add(self.control_plane_ns)
        for node in self.nodes:
            netns.add(self.node_ns(node.name))
        switch = ["link set lo up", f"link add {SWITCH_BRIDGE} type bridge"]
        switch += [f"addr add {UNDERLAY_GATEWAY}/{UNDERLAY_CIDR.prefixlen} dev {SWITCH_BRIDGE}"]
        for index, node in enumerate(self.nodes):
            port = self._switch_port(index, node)
            # Created inside the switch namespace with its peer created directly in the node's:
            # the pair never exists in the root namespace, not even for a moment.
            switch.append(
                f"link add {port} type veth peer name {NODE_UPLINK} netns {self.node_ns(node.name)}"
            )
            switch.append(f"link set {port} master {SWITCH_BRIDGE} up")
        switch.append(
            f"link add {CONTROL_PLANE_PORT} type veth peer name {NODE_UPLINK} netns {self.control_plane_ns}"
        )
        switch.append(f"link set {CONTROL_PLANE_PORT} master {SWITCH_BRIDGE} up")
        switch.append(f"link set {SWITCH_BRIDGE} up")
        netns.ip_batch(self.switch_ns, switch)
        no_ipv6 = {"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1}
        netns.sysctl(self.switch_ns, no_ipv6)
        netns.sysctl(self.control_plane_ns, no_ipv6)
        self._control_plane_up()
        for node in self.nodes:
            self._node_up(node)

    def _control_plane_up(self) -> None:
        # Pods reach the API with their own source address (kube-proxy DNATs 10.96.0.1 to this
        # node without masquerading pod traffic), so replies need a route to every podCIDR: via
        # the node that owns it, as host-gw routes are on any flat underlay.
        cmds = [
            "link set lo up",
            f"addr add {CONTROL_PLANE_IP}/{UNDERLAY_CIDR.prefixlen} dev {NODE_UPLINK}",
            f"link set {NODE_UPLINK} mtu {UNDERLAY_MTU} up",
            f"route add default via {UNDERLAY_GATEWAY} dev {NODE_UPLINK}",
        ]
        cmds += [f"route add {n.pod_cidr} via {n.underlay_ip} dev {NODE_UPLINK}" for n in self.nodes]
        netns.ip_batch(self.control_plane_ns, cmds)

    def _node_sysctls(self) -> dict[str, str | int]:
        values: dict[str, str | int] = {
            "net.ipv4.ip_forward": 1,
            # Loose by default in a fresh netns anyway; set explicitly so the host's choice
            # (inherited via devconf_inherit_init_net) cannot change the lab's behaviour.
            "net.ipv4.conf.all.rp_filter": 0,
            "net.ipv4.conf.default.rp_filter": 0,
            f"net.ipv4.conf.{NODE_UPLINK}.rp_filter": 0,
            # Nodes are IPv4-only; no router solicitations or MLD on the underlay captures.
            "net.ipv6.conf.all.disable_ipv6": 1,
            "net.ipv6.conf.default.disable_ipv6": 1,
        }
        if self.datapath == PTP:
            # Every cali* veth made later inherits this (eth0, made earlier, stays a plain port):
            # proxy ARP answers the pods' ARP for 169.254.1.1.
            values["net.ipv4.conf.default.proxy_arp"] = 1
        return values

    def _node_up(self, node: NodeSpec) -> None:
        ns = self.node_ns(node.name)
        netns.sysctl(ns, self._node_sysctls())
        cmds = [
            "link set lo up",
            f"addr add {node.underlay_ip}/{UNDERLAY_CIDR.prefixlen} dev {NODE_UPLINK}",
            f"link set {NODE_UPLINK} mtu {UNDERLAY_MTU} up",
            f"route add default via {UNDERLAY_GATEWAY} dev {NODE_UPLINK}",
        ]
        cidr = ipaddress.IPv4Network(node.pod_cidr)
        if self.datapath in (BRIDGE_VXLAN, BRIDGE_HOSTGW):
            cmds += [
                f"link add {CNI_BRIDGE} type bridge",
                f"link set {CNI_BRIDGE} mtu {self.mtu}",
                f"addr add {node.bridge_gateway}/{cidr.prefixlen} dev {CNI_BRIDGE}",
                f"link set {CNI_BRIDGE} up",
            ]
        else:
            # Calico's blackhole for its own block: unknown local pod IPs die here, not upstream.
            cmds.append(f"route add blackhole {node.pod_cidr}")
        fdb: list[str] = []
        if self.datapath == BRIDGE_VXLAN:
            cmds += [
                f"link add {VXLAN_DEVICE} address {self.vtep_mac(node.name)} type vxlan id {VXLAN_VNI}"
                f" local {node.underlay_ip} dev {NODE_UPLINK} dstport {VXLAN_PORT} nolearning",
                f"link set {VXLAN_DEVICE} mtu {self.mtu} up",
                f"addr add {cidr.network_address}/32 dev {VXLAN_DEVICE}",
            ]
        for peer in self.nodes:
            if peer.name == node.name:
                continue
            if self.datapath == BRIDGE_VXLAN:
                # What flanneld programs per peer: the peer's VTEP (its .0) is a permanent
                # neighbour at the peer's VtepMAC, the FDB maps that MAC to the peer's underlay IP.
                vtep_ip = ipaddress.IPv4Network(peer.pod_cidr).network_address
                mac = self.vtep_mac(peer.name)
                cmds += [
                    f"neigh add {vtep_ip} lladdr {mac} dev {VXLAN_DEVICE} nud permanent",
                    f"route add {peer.pod_cidr} via {vtep_ip} dev {VXLAN_DEVICE} onlink",
                ]
                fdb.append(f"fdb append {mac} dev {VXLAN_DEVICE} dst {peer.underlay_ip} self permanent")
            else:
                cmds.append(f"route add {peer.pod_cidr} via {peer.underlay_ip} dev {NODE_UPLINK}")
        netns.ip_batch(ns, cmds)
        if fdb:
            _bridge_batch(ns, fdb)

    def down(self) -> None:
        """Remove every namespace carrying this lab's prefix (pods, then nodes, then the switch)."""
        order = {"pod": 0, "node": 1}
        names = netns.names(self.prefix)
        names.sort(key=lambda n: order.get(n[len(self.prefix) :].split("-", 1)[0], 2))
        for name in names:
            netns.delete(name)
        with self._lock:
            self._pods.clear()

    # -- pods -------------------------------------------------------------------------------
    def add_pod(self, node: str, key: str, ip: str) -> PodNet:
        """Create the pod's namespace and veth, address and route it. About 15 ms."""
        spec = self.node(node)
        cidr = ipaddress.IPv4Network(spec.pod_cidr)
        if ipaddress.IPv4Address(ip) not in cidr:
            raise ValueError(f"{ip} is not in {node}'s podCIDR {spec.pod_cidr}")
        pod = PodNet(
            key=key,
            node=node,
            netns=self.pod_ns(key),
            ip=ip,
            mac=pod_mac(ip),
            host_veth=host_veth_name(self.datapath, key),
            mtu=self.mtu,
        )
        self.remove_pod(key, node=node)  # a leftover from a crash or a quick re-create
        node_ns = self.node_ns(node)
        netns.add(pod.netns)
        try:
            peer = f"peer name {POD_IFACE} address {pod.mac} mtu {pod.mtu} netns {pod.netns}"
            if self.datapath == PTP:
                host = [
                    f"link add {pod.host_veth} address {PTP_HOST_MAC} mtu {pod.mtu} type veth {peer}",
                    # As Calico does: answer proxy ARP at once, not after a random delay of up
                    # to 0.8 s. Per device, as a netns has no neigh/default to inherit from.
                    f"ntable change name arp_cache dev {pod.host_veth} proxy_delay 0",
                    f"link set {pod.host_veth} up",
                    f"route add {ip}/32 dev {pod.host_veth} scope link",
                ]
                inside = [
                    f"addr add {ip}/32 dev {POD_IFACE}",
                    f"link set {POD_IFACE} up",
                    f"route add {PTP_GATEWAY} dev {POD_IFACE} scope link",
                    f"route add default via {PTP_GATEWAY} dev {POD_IFACE}",
                ]
            else:
                host = [
                    f"link add {pod.host_veth} mtu {pod.mtu} type veth {peer}",
                    f"link set {pod.host_veth} master {CNI_BRIDGE} up",
                    # hairpinMode, as flannel's bridge plugin config sets it: a pod reaching its
                    # own Service's ClusterIP gets DNATed back out of the port it came in on.
                    f"link set {pod.host_veth} type bridge_slave hairpin on",
                ]
                inside = [
                    f"addr add {ip}/{cidr.prefixlen} dev {POD_IFACE}",
                    f"link set {POD_IFACE} up",
                    f"route add default via {spec.bridge_gateway} dev {POD_IFACE}",
                ]
            netns.ip_batch(node_ns, host)
            netns.ip_batch(pod.netns, ["link set lo up", *inside])
        except BaseException:
            self.remove_pod(key, node=node)
            raise
        with self._lock:
            self._pods[key] = pod
        return pod

    def remove_pod(self, key: str, node: str | None = None) -> None:
        """Remove the pod's veth and namespace (killing what runs there). Unknown pods are fine."""
        with self._lock:
            known = self._pods.pop(key, None)
        veth = host_veth_name(self.datapath, key)
        nodes = [known.node] if known else [node] if node else [n.name for n in self.nodes]
        for name in nodes:
            # Deleting one end removes the pair now; waiting for the netns to be reaped would leave
            # the name taken for a while and break a quick re-create of the same pod.
            if netns.exists(self.node_ns(name)):
                netns.ip(self.node_ns(name), "link", "del", veth, check=False)
        netns.delete(self.pod_ns(key))

    # -- running things ---------------------------------------------------------------------
    def run(self, ns: str, argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside one of this lab's namespaces and capture its output."""
        self._own(ns)
        return netns.run_in(ns, argv, check=check)

    def popen(self, ns: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start a command inside one of this lab's namespaces (kwargs go to subprocess.Popen)."""
        self._own(ns)
        return subprocess.Popen(netns.exec_argv(ns, argv), **kwargs)  # type: ignore[call-overload, no-any-return]

    def _own(self, ns: str) -> None:
        if not ns.startswith(self.prefix):
            raise ValueError(f"{ns!r} is not a namespace of lab {self.lab_id}")


def _bridge_batch(ns: str, lines: Sequence[str]) -> None:
    proc = subprocess.run(
        ["bridge", "-n", ns, "-batch", "-"],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise netns.NetnsError(f"bridge -n {ns} -batch: {proc.stderr.strip()}")


def destroy(lab_id: str) -> None:
    """Remove all of a lab's namespaces given only its id (after a crash, or from another process)."""
    LabNetwork(lab_id).down()
