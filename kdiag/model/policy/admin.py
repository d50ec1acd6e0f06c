"""AdminNetworkPolicy / BaselineAdminNetworkPolicy subjects, peers and ports (policy.networking.k8s.io
v1alpha1, https://network-policy-api.sigs.k8s.io/reference/spec/).

Subjects and pod/namespace peers never include host-network pods. A peer with no field set is a kind
newer than kdiag: fail closed, as the API asks (an Allow rule matches nothing, a Deny or Pass rule
matches everything). A namedPort resolves against the destination pod, as NetworkPolicy's does.
"""

from __future__ import annotations

from kdiag.model.objects import PodInfo
from kdiag.model.policy.matching import Tri, all_of, any_of, in_cidr, named_port, selects, selects_namespace
from kdiag.model.policy.objects import (
    AdminPeer,
    AdminPort,
    AdminRule,
    AdminSubject,
    Endpoint,
    Flow,
    NamespacedPods,
    PolicySet,
)


def _namespaced(pods: NamespacedPods, pod: PodInfo, policies: PolicySet) -> Tri:
    return all_of((selects(pods.pod_selector, pod.labels),
                   selects_namespace(pods.namespace_selector, policies, pod.namespace)))


def admin_selects(subject: AdminSubject, pod: PodInfo, policies: PolicySet) -> Tri:
    if pod.host_network:
        return False
    if subject.namespaces is not None:
        return selects_namespace(subject.namespaces, policies, pod.namespace)
    if subject.pods is not None:
        return _namespaced(subject.pods, pod, policies)
    return False


def admin_peer_matches(peer: AdminPeer, end: Endpoint, action: str, policies: PolicySet) -> Tri:
    if peer.unknown_kind:
        return action != "Allow"
    if peer.networks:
        return bool(end.address) and any(in_cidr(end.address, cidr) for cidr in peer.networks)
    pod = end.pod
    if peer.nodes is not None:
        # A node peer matches node addresses: a host-network pod's, perhaps (kdiag has no node labels here).
        return None if pod is None or pod.host_network else False
    if peer.domain_names:
        return False  # names are resolved by the plugin; a pod-to-pod flow is not to a domain
    if pod is None or pod.host_network:
        return False
    if peer.namespaces is not None:
        return selects_namespace(peer.namespaces, policies, pod.namespace)
    if peer.pods is not None:
        return _namespaced(peer.pods, pod, policies)
    return False


def admin_port_matches(port: AdminPort, flow: Flow) -> bool:
    if port.name:
        return named_port(flow.dst.pod, port.name, flow.protocol) == flow.port
    if port.protocol.upper() != flow.protocol:
        return False
    if port.end is not None:
        return port.port is not None and port.port <= flow.port <= port.end
    return port.port == flow.port


def admin_rule_matches(rule: AdminRule, other: Endpoint, flow: Flow, policies: PolicySet) -> Tri:
    if rule.ports is not None and not any(admin_port_matches(p, flow) for p in rule.ports):
        return False
    return any_of(admin_peer_matches(p, other, rule.action, policies) for p in rule.peers)
