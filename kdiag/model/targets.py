"""What a trace is aimed at: a pod, an address, a Service or a DNS name. Pure: no I/O.

`kdiag trace` resolves DST into one of these (kdiag.cluster.inventory reads the API; the choice
between the variants is made here, from what was read). The path model works on `Endpoint`, the
part of a target the packets are addressed to: a pod, or an address with the node that holds it.
A Service target (reached by `svc/NAME`, a DNS name or a ClusterIP) carries `via`, the endpoint
its path is traced to (kdiag.model.service_trace holds the DNS -> ClusterIP -> endpoints chain);
`endpoint_of` and `target_pod` answer for that endpoint, so the pod-to-pod model applies unchanged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from kdiag.model.objects import ContainerPort, NodeInfo, PodInfo


class AddressScope(str, Enum):
    """Where an address that no Running pod holds sits, as far as the API shows."""

    POD_RANGE = "pod-range"  # inside a node's podCIDR: a pod address (maybe of a pod that is gone)
    NODE = "node"  # one of a node's InternalIP / ExternalIP: its host network namespace
    EXTERNAL = "external"  # none of the cluster's nodes or podCIDRs


@dataclass(frozen=True)
class PodTarget:
    pod: PodInfo


@dataclass(frozen=True)
class AddressTarget:
    ip: str
    scope: AddressScope
    node: str = ""  # the node whose podCIDR or address holds it ("" when external)


@dataclass(frozen=True)
class ServiceTarget:
    """A Service, as read, and `via`: the endpoint whose pod-to-pod path is traced (None when the
    Service has no endpoint to trace to; the path then ends at its ClusterIP)."""

    namespace: str
    name: str
    cluster_ips: tuple[str, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    via: PodTarget | AddressTarget | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class DnsTarget:
    """A DNS name and what it resolved to, as read: plain data (the DNS issue fills it)."""

    name: str
    addresses: tuple[str, ...] = ()


Target = PodTarget | AddressTarget | ServiceTarget | DnsTarget


@dataclass(frozen=True)
class Endpoint:
    """One end of a path, as the path model needs it."""

    name: str  # ns/name of a pod, "" for a bare address
    ip: str
    node: str = ""
    host_network: bool = False  # in the node's own network namespace (a host-network pod, a node IP)
    host_ip: str = ""  # the node's address as the pod's status reports it

    @classmethod
    def of_pod(cls, pod: PodInfo) -> Endpoint:
        return cls(pod.key, pod.pod_ip, pod.node_name, pod.host_network, pod.host_ip)

    @property
    def label(self) -> str:
        """How hop labels name the end: the pod's name, else its address."""
        return self.name.split("/", 1)[-1] if self.name else self.ip


class UnsupportedTarget(ValueError):
    """A target the path model cannot place yet (Service, DNS name: see the module docstring)."""


def endpoint_of(target: Target) -> Endpoint:
    """Where the packets to `target` are addressed (a Service's: the endpoint its path goes to)."""
    if isinstance(target, ServiceTarget):
        if target.via is not None:
            return endpoint_of(target.via)
        if target.cluster_ips:
            return Endpoint("", target.cluster_ips[0])
    if isinstance(target, PodTarget):
        return Endpoint.of_pod(target.pod)
    if isinstance(target, AddressTarget):
        node_side = target.scope is AddressScope.NODE
        return Endpoint("", target.ip, target.node, host_network=node_side,
                        host_ip=target.ip if node_side else "")
    raise UnsupportedTarget(f"{type(target).__name__} has no path model yet")


def target_pod(target: Target) -> PodInfo | None:
    """The pod a target is, when it is one (readiness, declared ports); a Service's endpoint pod."""
    if isinstance(target, ServiceTarget):
        return target_pod(target.via) if target.via is not None else None
    return target.pod if isinstance(target, PodTarget) else None


def address_target(ip: str, *, nodes: Iterable[NodeInfo]) -> AddressTarget:
    """An address no Running pod holds, placed on the node that owns it (its IPs, then its podCIDR).
    The podCIDR's first two addresses are the node's own (.0 the tunnel device, .1 cni0 / the
    gateway), as kdiag.model.findings.node_addresses maps them: a trace there reaches the node."""
    for node in nodes:
        if ip in node.internal_ips or ip in node.external_ips:
            return AddressTarget(ip, AddressScope.NODE, node.name)
        for cidr in node.pod_cidrs:
            try:
                net, address = ipaddress.ip_network(cidr, strict=False), ipaddress.ip_address(ip)
            except ValueError:
                continue
            if address in net:
                own = net.version == 4 and address in (net.network_address, net.network_address + 1)
                return AddressTarget(ip, AddressScope.NODE if own else AddressScope.POD_RANGE, node.name)
    return AddressTarget(ip, AddressScope.EXTERNAL)


def special_address(text: str) -> str:
    """Why an IPv4 address cannot be a trace's destination ("" when it can): it never leaves the
    probe (loopback), is no one (unspecified), is everyone (broadcast, multicast) or never leaves a
    link (link-local; on Calico-style datapaths 169.254.1.1 is every pod's own gateway)."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        return ""
    if address.is_loopback:
        return "is a loopback address: the probe would answer itself"
    if address.is_unspecified:
        return "is the unspecified address: it names no host"
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return "is the broadcast address: every host on a link answers it, so it has no path"
    if address.is_multicast:
        return "is a multicast address: group members answer it, so it has no single path"
    if address.is_link_local:
        return "is link-local (169.254.0.0/16): it never leaves a link, so it has no path to trace"
    return ""
