"""Resolving a trace's two ends: SRC is a Running pod; DST a target (kdiag.model.targets): a Running
pod, or an IPv4 address placed on the node that owns it (a pod's podCIDR, or a node's own address)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from kdiag.cluster.client import Cluster
from kdiag.cluster.inventory import PodQuery, find_pod, list_pods
from kdiag.errors import CannotProbeError, UsageError
from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.targets import PodTarget, Target, address_target, endpoint_of


@dataclass(frozen=True)
class Ends:
    source: PodInfo
    destination: Target


def _usable(pod: PodInfo, role: str) -> None:
    where = f"{role} pod {pod.key}"
    hint = f"kubectl describe pod -n {pod.namespace} {pod.name}"
    if pod.deleted is not None:
        raise UsageError(f"{where} is being deleted", hint="pick a pod that is not terminating")
    if pod.phase != "Running":
        why = f" ({pod.status_reason})" if pod.status_reason else ""
        raise UsageError(f"{where} is {pod.phase or 'not running'}{why}: only a Running pod has a network "
                         "to probe", hint=hint)
    if not pod.pod_ip:
        raise UsageError(f"{where} has no IP address yet", hint=hint)
    if role == "source" and not pod.node_name:
        raise UsageError(f"{where} is not bound to a node", hint=hint)


def refuse_cidr(text: str, role: str) -> None:
    """`10.244.1.7/24` is a range, not an end: say so instead of reading it as NAMESPACE/NAME."""
    if "/" not in text:
        return
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return
    address = text.split("/", 1)[0]
    what = "a pod or an address" if role == "destination" else "a pod"
    raise UsageError(f"{role} {text} is a CIDR range, not {what}",
                     hint=f"trace one address, e.g. {address}" if role == "destination" else "name the pod")


def _ipv4(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version != 4:
        raise UsageError(f"destination {text} is IPv6; the probe agent speaks IPv4 only",
                         hint="give the pod's IPv4 address or its name")
    return str(address)


def _pod_with_ip(cluster: Cluster, ip: str, nodes: Mapping[str, NodeInfo]) -> Target:
    """The Running pod holding `ip`, else the address, placed on the node that owns it."""
    try:
        holders = [p for p in list_pods(cluster, PodQuery(None, field_selector=f"status.podIP={ip}"))
                   if p.phase == "Running" and not p.host_network and p.deleted is None]
    except CannotProbeError:  # may not list pods cluster-wide: treat it as a bare address
        holders = []
    if len(holders) == 1:
        return PodTarget(holders[0])
    return address_target(ip, nodes=nodes.values())


def resolve_source(cluster: Cluster, reference: str, *, namespace: str) -> PodInfo:
    refuse_cidr(reference, "source")
    src = find_pod(cluster, reference=reference, default_namespace=namespace)
    _usable(src, "source")
    return src


def resolve_destination(cluster: Cluster, reference: str, *, namespace: str, source: PodInfo,
                        nodes: Mapping[str, NodeInfo]) -> Ends:
    refuse_cidr(reference, "destination")
    ip = _ipv4(reference)
    target: Target
    if ip is not None:
        target = _pod_with_ip(cluster, ip, nodes)
    else:
        target = PodTarget(find_pod(cluster, reference=reference, default_namespace=namespace))
        _usable(target.pod, "destination")
    if isinstance(target, PodTarget) and target.pod.key == source.key:
        raise UsageError(f"source and destination are the same pod {source.key}", hint="trace two pods")
    end = endpoint_of(target)
    if end.ip == source.pod_ip and not (source.host_network and end.host_network):
        raise UsageError(f"source and destination share the address {source.pod_ip}", hint="trace two pods")
    return Ends(source, target)
