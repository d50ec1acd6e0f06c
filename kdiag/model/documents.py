"""kdiag's machine-readable output as plain dicts, ready for json.dumps / yaml.safe_dump.

Every document carries `apiVersion: kdiag/v1` and a `kind`. Field names are camelCase like the
Kubernetes API's and are documented in docs/schema/*.schema.json, which the tests validate against;
within v1 fields are only ever added. Absent scalar values are null, absent lists are [].
Nothing here depends on the clock, so the same cluster state always gives the same document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from kdiag.model.datapath import Datapath
from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.pairs import Classification, PairSummary, PodPair, outside_pod_cidr
from kdiag.model.path import node_ip
from kdiag.model.podstatus import node_status, readiness_gates_text, summarize_pod
from kdiag.model.service_trace import dns_section, service_section
from kdiag.model.targets import Endpoint, endpoint_of, target_pod

if TYPE_CHECKING:  # kdiag.model.trace builds its document here: import the type only
    from kdiag.model.trace import TraceResult

API_VERSION = "kdiag/v1"
Document = dict[str, Any]


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with second precision, as the Kubernetes API writes metav1.Time."""
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _document(kind: str, body: Document) -> Document:
    """Every document: apiVersion and kind first, then its fields."""
    return {"apiVersion": API_VERSION, "kind": kind, **body}


def _list(kind: str, items: list[Document]) -> Document:
    return _document(kind, {"items": items})


def pod_document(pod: PodInfo, node: NodeInfo | None) -> Document:
    """One PodList item; `node` is the pod's node when known (for nodeIP, podCIDRs, outsidePodCIDR)."""
    summary = summarize_pod(pod)
    pod_ips = list(pod.pod_ips or ((pod.pod_ip,) if pod.pod_ip else ()))
    node_ip = (node.internal_ip if node else "") or pod.host_ip
    return {
        "namespace": pod.namespace,
        "name": pod.name,
        "uid": pod.uid or None,
        "node": pod.node_name or None,
        "phase": pod.phase or None,
        "status": summary.status,
        "ready": summary.ready,
        "restarts": summary.restarts,
        "lastRestartTime": timestamp(summary.last_restart),
        "podIP": pod_ips[0] if pod_ips else None,
        "podIPs": pod_ips,
        "hostIP": pod.host_ip or None,
        "hostNetwork": pod.host_network,
        "nodeIP": node_ip or None,
        "podCIDRs": list(node.pod_cidrs) if node else [],
        "outsidePodCIDR": outside_pod_cidr(pod, node),
        "ports": [
            {"container": p.container, "port": p.port, "protocol": p.protocol, "name": p.name or None}
            for p in pod.ports
        ],
        "nominatedNode": pod.nominated_node_name or None,
        "readinessGates": readiness_gates_text(pod) if pod.readiness_gates else None,
        "creationTimestamp": timestamp(pod.created),
        "deletionTimestamp": timestamp(pod.deleted),
        "labels": dict(pod.labels),
    }


def pod_list_document(pods: Iterable[PodInfo], nodes: Mapping[str, NodeInfo]) -> Document:
    """`kdiag pods -o json`: `nodes` maps node name to NodeInfo (pods on unknown nodes still appear)."""
    return _list("PodList", [pod_document(pod, nodes.get(pod.node_name)) for pod in pods])


def node_document(node: NodeInfo, pod_count: int) -> Document:
    return {
        "name": node.name,
        "status": node_status(node),
        "ready": node.ready or None,
        "unschedulable": node.unschedulable,
        "roles": list(node.roles),
        "internalIP": node.internal_ip or None,
        "internalIPs": list(node.internal_ips),
        "externalIPs": list(node.external_ips),
        "podCIDRs": list(node.pod_cidrs),
        "pods": pod_count,
        "kubeletVersion": node.kubelet_version or None,
        "creationTimestamp": timestamp(node.created),
        "labels": dict(node.labels),
    }


def node_list_document(nodes: Iterable[NodeInfo], pod_counts: Mapping[str, int]) -> Document:
    """`kdiag nodes -o json`; `pod_counts` comes from `kdiag.model.pairs.pods_per_node`."""
    return _list("NodeList", [node_document(node, pod_counts.get(node.name, 0)) for node in nodes])


def _pair_end(pod: PodInfo) -> Document:
    return {
        "namespace": pod.namespace,
        "name": pod.name,
        "node": pod.node_name,
        "podIP": pod.pod_ips[0] if pod.pod_ips else pod.pod_ip,
        "hostNetwork": pod.host_network,
    }


def _summary(summary: PairSummary) -> Document:
    return {
        "pods": summary.pods,
        "pairs": summary.pairs,
        "sameNode": summary.same_node,
        "crossNode": summary.cross_node,
        "hostNetwork": summary.host_network,
        "hostNetworkSameNode": summary.host_network_same_node,
        "hostNetworkCrossNode": summary.host_network_cross_node,
        "leftOut": {reason.value: count for reason, count in sorted(summary.left_out.items())},
        "nodes": [
            {"name": name, "pods": counts.pod_network, "hostNetworkPods": counts.host_network}
            for name, counts in zip(summary.nodes, summary.per_node, strict=True)
        ],
        "matrix": [list(row) for row in summary.matrix],
    }


def pair_list_document(
    classification: Classification,
    summary: PairSummary,
    pairs: Iterable[PodPair] | None = None,
) -> Document:
    """`kdiag pairs -o json`: the summary and left-out pods always; `items` only when pairs are listed."""
    document = _document("PairList", {
        "summary": _summary(summary),
        "leftOut": [
            {
                "namespace": item.pod.namespace,
                "name": item.pod.name,
                "node": item.pod.node_name or None,
                "reason": item.reason.value,
            }
            for item in classification.left_out
        ],
    })
    if pairs is not None:
        document["items"] = [
            {
                "kind": pair.kind.value,
                "sameNode": pair.same_node,
                "a": _pair_end(pair.a),
                "b": _pair_end(pair.b),
            }
            for pair in pairs
        ]
    return document


def datapath_document(datapath: Datapath) -> Document:
    """`kdiag cni -o json`: the detected datapath with its evidence."""
    return _document("Datapath", {"summary": datapath.summary(), **datapath.to_dict()})


def _trace_end(result: TraceResult, end: Endpoint, pod: PodInfo | None) -> Document:
    return {"namespace": pod.namespace if pod else None, "name": pod.name if pod else None,
            "ip": end.ip, "node": end.node or None,
            "nodeIP": node_ip(result.nodes.get(end.node)) or end.host_ip or None,
            "hostNetwork": end.host_network, "phase": (pod.phase or None) if pod else None,
            "ready": pod.ready if pod and pod.conditions else None}


def trace_document(result: TraceResult) -> Document:
    """`kdiag trace -o json`: the `kind: Trace` document (docs/schema/trace.schema.json)."""
    # Imported here: kdiag.model.policy.documents takes API_VERSION from this module.
    from kdiag.model.policy.trace_document import trace_policy_document

    return _document("Trace", {
        "source": _trace_end(result, Endpoint.of_pod(result.source), result.source),
        "destination": _trace_end(result, endpoint_of(result.destination), target_pod(result.destination)),
        "relation": result.relation.value,
        "datapath": result.datapath.to_dict(),
        "expected": result.expected.to_dict(),
        "observed": dict(result.observed),
        "hops": [hop.to_dict() for hop in result.spine.hops],
        "offPath": [s.to_dict() for s in result.spine.off_path],
        "verdict": result.verdict.to_dict(),
        "probe": result.probe.to_dict(),
        "warnings": list(result.warnings),
        "policy": trace_policy_document(result.policy),
        "service": service_section(result.service) if result.service is not None else None,
        "dns": dns_section(result.service) if result.service is not None else None,
    })
