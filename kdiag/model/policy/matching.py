"""Selector, address and port matching, three-valued where kdiag lacks facts.

A match is True, False or None ("cannot tell"): None arises only from a namespace whose labels
kdiag could not read. Even then its `kubernetes.io/metadata.name` label is known (the apiserver
sets it to the name on every namespace), so a selector on that label alone still decides.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping

from kdiag.model.objects import PodInfo
from kdiag.model.policy.objects import (
    METADATA_NAME,
    IPBlock,
    LabelSelector,
    PolicyPort,
    PolicySet,
    Requirement,
)

Tri = bool | None


def all_of(results: Iterable[Tri]) -> Tri:
    """Three-valued AND: one False decides; otherwise one None leaves it open."""
    unsure = False
    for result in results:
        if result is False:
            return False
        if result is None:
            unsure = True
    return None if unsure else True


def any_of(results: Iterable[Tri]) -> Tri:
    """Three-valued OR: one True decides; otherwise one None leaves it open."""
    unsure = False
    for result in results:
        if result is True:
            return True
        if result is None:
            unsure = True
    return None if unsure else False


def _requirement(req: Requirement, labels: Mapping[str, str], complete: bool) -> Tri:
    present = req.key in labels
    if not present and not complete:
        return None  # the label may or may not be there
    value = labels.get(req.key)
    if req.operator == "In":
        return present and value in req.values
    if req.operator == "NotIn":
        return not present or value not in req.values
    if req.operator == "Exists":
        return present
    if req.operator == "DoesNotExist":
        return not present
    return False  # an operator the API would have refused: select nothing


def selects(selector: LabelSelector, labels: Mapping[str, str], *, complete: bool = True) -> Tri:
    """Does `selector` match `labels`? With complete=False, labels not in `labels` are unknown."""
    results: list[Tri] = []
    for key, value in selector.match_labels:
        if key in labels:
            results.append(labels[key] == value)
        else:
            results.append(False if complete else None)
    results.extend(_requirement(req, labels, complete) for req in selector.expressions)
    return all_of(results)


def namespace_labels(policies: PolicySet, namespace: str) -> tuple[Mapping[str, str], bool]:
    """(labels, complete): a namespace kdiag could not read is known only by its name label."""
    labels = policies.namespaces.get(namespace)
    if labels is not None:
        return labels, True
    return {METADATA_NAME: namespace}, False


def selects_namespace(selector: LabelSelector, policies: PolicySet, namespace: str) -> Tri:
    labels, complete = namespace_labels(policies, namespace)
    return selects(selector, labels, complete=complete)


@functools.lru_cache(maxsize=4096)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=65536)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def in_cidr(address: str, cidr: str) -> bool:
    ip, network = _address(address), _network(cidr)
    return ip is not None and network is not None and ip.version == network.version and ip in network


def in_ip_block(address: str, block: IPBlock) -> bool:
    """Inside cidr and outside every except entry."""
    return in_cidr(address, block.cidr) and not any(in_cidr(address, e) for e in block.except_)


def named_port(pod: PodInfo | None, name: str, protocol: str) -> int | None:
    """The number a port name stands for on `pod` (the destination), for that protocol."""
    for port in pod.ports if pod else ():
        if port.name == name and port.protocol.upper() == protocol:
            return port.port
    return None


def port_matches(rule_port: PolicyPort, port: int, protocol: str, destination: PodInfo | None) -> bool:
    """NetworkPolicyPort against the flow. A named port resolves against the destination pod's
    containerPorts (for ingress and egress alike); a destination without it matches nothing."""
    if rule_port.protocol.upper() != protocol:
        return False
    wanted = rule_port.port
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return named_port(destination, wanted, protocol) == port
    if rule_port.end_port is not None:
        return wanted <= port <= rule_port.end_port
    return wanted == port


def ports_match(ports: tuple[PolicyPort, ...], port: int, protocol: str, destination: PodInfo | None) -> bool:
    return not ports or any(port_matches(p, port, protocol, destination) for p in ports)
