"""What a trace is aimed at: a pod, an address, a Service or a DNS name. Pure: no I/O.

`kdiag trace` resolves DST into one of these (kdiag.cluster.inventory reads the API; the choice
between the variants is made here, from what was read). The path model works on `Endpoint`, the
part of a target the packets are addressed to: a pod, or an address with the node that holds it.
Service and DNS targets are plain data for now: their resolution, translation and endpoints are
the Service issue's; `endpoint_of` refuses them until then.
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
    """A Service, as read: plain data (resolution and translation come with the Service issue)."""

    namespace: str
    name: str
    cluster_ips: tuple[str, ...] = ()
    ports: tuple[ContainerPort, ...] = ()

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
    """Where the packets to `target` are addressed."""
    if isinstance(target, PodTarget):
        return Endpoint.of_pod(target.pod)
    if isinstance(target, AddressTarget):
        node_side = target.scope is AddressScope.NODE
        return Endpoint("", target.ip, target.node, host_network=node_side,
                        host_ip=target.ip if node_side else "")
    raise UnsupportedTarget(f"{type(target).__name__} has no path model yet")


def target_pod(target: Target) -> PodInfo | None:
    """The pod a target is, when it is one (readiness, declared ports)."""
    return target.pod if isinstance(target, PodTarget) else None


def address_target(ip: str, *, nodes: Iterable[NodeInfo]) -> AddressTarget:
    """An address no Running pod holds, placed on the node that owns it (its IPs, then its podCIDR)."""
    for node in nodes:
        if ip in node.internal_ips or ip in node.external_ips:
            return AddressTarget(ip, AddressScope.NODE, node.name)
        for cidr in node.pod_cidrs:
            try:
                if ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False):
                    return AddressTarget(ip, AddressScope.POD_RANGE, node.name)
            except ValueError:
                continue
    return AddressTarget(ip, AddressScope.EXTERNAL)
