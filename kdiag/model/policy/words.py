"""Policies and fixes in words: selectors as kubectl writes them, rules, the smallest change."""

from __future__ import annotations

from collections.abc import Mapping

from kdiag.model.objects import PodInfo
from kdiag.model.policy.objects import (
    EGRESS,
    METADATA_NAME,
    AdminPeer,
    AdminPort,
    AdminRule,
    Endpoint,
    Flow,
    LabelSelector,
    NamespacedPods,
    Peer,
    PolicyPort,
    PolicyRule,
)

# Labels that name an application, best first; generated ones (pod-template-hash, ...) never do.
APP_LABELS = ("app.kubernetes.io/name", "app", "k8s-app", "name", "app.kubernetes.io/instance", "component")
GENERATED_LABELS = ("pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
                    "pod-template-generation", "apps.kubernetes.io/pod-index", "batch.kubernetes.io/job-name",
                    "batch.kubernetes.io/controller-uid", "controller-uid", "job-name")


def selector_text(selector: LabelSelector) -> str:
    """kubectl's selector syntax: app=web,tier in (a,b),!debug,env."""
    parts = [f"{k}={v}" for k, v in selector.match_labels]
    for req in selector.expressions:
        values = ",".join(sorted(req.values))
        parts.append({"In": f"{req.key} in ({values})", "NotIn": f"{req.key} notin ({values})",
                      "Exists": req.key, "DoesNotExist": f"!{req.key}"}.get(req.operator, f"{req.key} ?"))
    return ",".join(parts)


def _pods(selector: LabelSelector) -> str:
    return "all pods" if selector.empty else f"pods {selector_text(selector)}"


def _namespaces(selector: LabelSelector) -> str:
    if selector.empty:
        return "all namespaces"
    labels = selector.match_labels
    if len(labels) == 1 and not selector.expressions and labels[0][0] == METADATA_NAME:
        return f"namespace {labels[0][1]}"
    return f"namespaces {selector_text(selector)}"


def peer_text(peer: Peer, policy_namespace: str) -> str:
    if peer.ip_block is not None:
        block = peer.ip_block
        return f"ipBlock {block.cidr}" + (f" except {', '.join(block.except_)}" if block.except_ else "")
    if peer.namespace_selector is not None:
        pods = _pods(peer.pod_selector) if peer.pod_selector is not None else "all pods"
        return f"{pods} in {_namespaces(peer.namespace_selector)}"
    if peer.pod_selector is not None:
        return f"{_pods(peer.pod_selector)} in namespace {policy_namespace}"
    return "nothing (a peer with no selector)"


def port_text(port: PolicyPort) -> str:
    if port.port is None:
        return f"all {port.protocol} ports"
    if port.end_port is not None:
        return f"{port.port}-{port.end_port}/{port.protocol}"
    return f"{port.port}/{port.protocol}"


def rule_text(rule: PolicyRule, direction: str, policy_namespace: str) -> str:
    way = "to" if direction == EGRESS else "from"
    peers = "; ".join(peer_text(p, policy_namespace) for p in rule.peers) if rule.peers else "anywhere"
    ports = ", ".join(port_text(p) for p in rule.ports) if rule.ports else "all ports"
    return f"{way} {peers}; ports {ports}"


def _namespaced_pods(pods: NamespacedPods) -> str:
    return f"{_pods(pods.pod_selector)} in {_namespaces(pods.namespace_selector)}"


def admin_peer_text(peer: AdminPeer) -> str:
    if peer.namespaces is not None:
        return f"all pods in {_namespaces(peer.namespaces)}"
    if peer.pods is not None:
        return _namespaced_pods(peer.pods)
    if peer.networks:
        return f"networks {', '.join(peer.networks)}"
    if peer.nodes is not None:
        return f"nodes {selector_text(peer.nodes) or '(all)'}"
    if peer.domain_names:
        return f"domains {', '.join(peer.domain_names)}"
    return "a peer kind kdiag does not know"


def admin_port_text(port: AdminPort) -> str:
    if port.name:
        return f"named port {port.name}"
    if port.end is not None:
        return f"{port.port}-{port.end}/{port.protocol}"
    return f"{port.port}/{port.protocol}"


def admin_rule_text(rule: AdminRule, direction: str) -> str:
    way = "to" if direction == EGRESS else "from"
    peers = "; ".join(admin_peer_text(p) for p in rule.peers)
    ports = ", ".join(admin_port_text(p) for p in rule.ports) if rule.ports is not None else "all ports"
    return f"{rule.action} {way} {peers}; ports {ports}"


def app_labels(labels: Mapping[str, str]) -> str:
    """The labels a rule should select a pod by: its application label, else its non-generated ones."""
    for key in APP_LABELS:
        if key in labels:
            return f"{key}={labels[key]}"
    kept = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in GENERATED_LABELS]
    return ",".join(kept)


def endpoint_text(end: Endpoint) -> str:
    """The peer as a rule would name it: pods by label in a namespace, or an address block."""
    pod = end.pod
    if pod is None or pod.host_network:
        return f"ipBlock {end.address}/32" if ":" not in end.address else f"ipBlock {end.address}/128"
    labels = app_labels(pod.labels)
    pods = f"pods {labels}" if labels else "all pods"
    return f"{pods} in namespace {pod.namespace}"


def flow_port_text(flow: Flow) -> str:
    name = next((p.name for p in (flow.dst.pod.ports if flow.dst.pod else ())
                 if p.port == flow.port and p.protocol.upper() == flow.protocol and p.name), "")
    return f"port {flow.port}/{flow.protocol}" + (f" (named {name})" if name else "")


def subject_text(pod: PodInfo) -> str:
    labels = app_labels(pod.labels)
    return f"pods {labels}" if labels else f"pod {pod.name} (give it a label to select it by)"
