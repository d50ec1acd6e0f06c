"""Raw policy JSON (NetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy) to kdiag's frozen
policy objects. Pure, like `parse.py`: missing fields get the API's zero values and defaults."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kdiag.model.policy.objects import (
    EVERYTHING,
    AdminNetworkPolicy,
    AdminPeer,
    AdminPort,
    AdminRule,
    AdminSubject,
    IPBlock,
    LabelSelector,
    NamespacedPods,
    NetworkPolicy,
    Peer,
    PolicyPort,
    PolicyRule,
    Requirement,
)

JSON = Mapping[str, Any]
_EMPTY: JSON = {}


def label_selector(raw: JSON | None) -> LabelSelector | None:
    """None for an absent selector (null), which differs from an empty one ({}: everything)."""
    if raw is None:
        return None
    labels = tuple(sorted((str(k), str(v)) for k, v in (raw.get("matchLabels") or {}).items()))
    expressions = tuple(
        Requirement(str(e.get("key", "")), str(e.get("operator", "")),
                    frozenset(str(v) for v in e.get("values") or ()))
        for e in raw.get("matchExpressions") or ()
    )
    return LabelSelector(labels, expressions)


def _selector(raw: JSON | None) -> LabelSelector:
    return label_selector(raw) or EVERYTHING


def _peer(raw: JSON) -> Peer:
    block = raw.get("ipBlock")
    return Peer(
        pod_selector=label_selector(raw.get("podSelector")),
        namespace_selector=label_selector(raw.get("namespaceSelector")),
        ip_block=IPBlock(str(block.get("cidr", "")), tuple(str(e) for e in block.get("except") or ()))
        if block is not None else None,
    )


def _port(raw: JSON) -> PolicyPort:
    port = raw.get("port")
    if isinstance(port, str) and port.isdigit():
        port = int(port)  # an IntOrString written as a numeric string
    end = raw.get("endPort")
    return PolicyPort(str(raw.get("protocol") or "TCP").upper(), port, int(end) if end is not None else None)


def _rule(raw: JSON, peers_key: str) -> PolicyRule:
    return PolicyRule(tuple(_peer(p) for p in raw.get(peers_key) or ()),
                      tuple(_port(p) for p in raw.get("ports") or ()))


def parse_network_policy(obj: JSON) -> NetworkPolicy:
    meta = obj.get("metadata") or _EMPTY
    spec = obj.get("spec") or _EMPTY
    return NetworkPolicy(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        pod_selector=_selector(spec.get("podSelector")),
        ingress=tuple(_rule(r or _EMPTY, "from") for r in spec.get("ingress") or ()),
        egress=tuple(_rule(r or _EMPTY, "to") for r in spec.get("egress") or ()),
        policy_types=tuple(str(t) for t in spec.get("policyTypes") or ()),
    )


def _namespaced_pods(raw: JSON | None) -> NamespacedPods | None:
    if raw is None:
        return None
    return NamespacedPods(_selector(raw.get("namespaceSelector")), _selector(raw.get("podSelector")))


def _admin_peer(raw: JSON) -> AdminPeer:
    return AdminPeer(
        namespaces=label_selector(raw.get("namespaces")),
        pods=_namespaced_pods(raw.get("pods")),
        networks=tuple(str(n) for n in raw.get("networks") or ()),
        nodes=label_selector(raw.get("nodes")),
        domain_names=tuple(str(d) for d in raw.get("domainNames") or ()),
    )


def _admin_port(raw: JSON) -> AdminPort:
    if raw.get("namedPort"):
        return AdminPort(name=str(raw["namedPort"]))
    number = raw.get("portNumber")
    if number is not None:
        return AdminPort(str(number.get("protocol") or "TCP").upper(), int(number.get("port", 0)))
    span = raw.get("portRange") or _EMPTY
    return AdminPort(str(span.get("protocol") or "TCP").upper(), int(span.get("start", 0)),
                     int(span.get("end", 0)))


def _admin_rule(raw: JSON, peers_key: str) -> AdminRule:
    ports = raw.get("ports")
    return AdminRule(
        name=str(raw.get("name", "")),
        action=str(raw.get("action", "")),
        peers=tuple(_admin_peer(p) for p in raw.get(peers_key) or ()),
        ports=tuple(_admin_port(p) for p in ports) if ports is not None else None,
    )


def parse_admin_policy(obj: JSON, *, baseline: bool = False) -> AdminNetworkPolicy:
    meta = obj.get("metadata") or _EMPTY
    spec = obj.get("spec") or _EMPTY
    subject = spec.get("subject") or _EMPTY
    return AdminNetworkPolicy(
        name=str(meta.get("name", "")),
        subject=AdminSubject(label_selector(subject.get("namespaces")),
                             _namespaced_pods(subject.get("pods"))),
        priority=int(spec.get("priority", 0) or 0),
        ingress=tuple(_admin_rule(r, "from") for r in spec.get("ingress") or ()),
        egress=tuple(_admin_rule(r, "to") for r in spec.get("egress") or ()),
        baseline=baseline,
    )


def parse_network_policies(items: Iterable[JSON]) -> tuple[NetworkPolicy, ...]:
    return tuple(parse_network_policy(item) for item in items)
