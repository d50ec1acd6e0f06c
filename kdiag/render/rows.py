"""Header and row builders for kdiag's tables; `tabwriter.format_table` turns them into text.

Rows are tuples of already formatted cells. Absent values print as "<none>", as kubectl does, so
no cell is empty and no line ends in padding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.podstatus import (
    first_pod_ip,
    node_status,
    readiness_gates_text,
    restarts_text,
    summarize_pod,
    translate_timestamp_since,
)

NONE = "<none>"
NAMESPACE = "NAMESPACE"
# Column names as kubectl prints them: the server's column definitions, upper-cased by the client.
POD_HEADER: tuple[str, ...] = ("NAME", "READY", "STATUS", "RESTARTS", "AGE")
POD_WIDE_HEADER: tuple[str, ...] = (*POD_HEADER, "IP", "NODE", "NOMINATED NODE", "READINESS GATES")
POD_NET_HEADER: tuple[str, ...] = (
    "NAME",
    "IPS",
    "NODE",
    "NODE IP",
    "POD CIDR",
    "HOST NETWORK",
    "PORTS",
    "FLAGS",
)
NODE_HEADER: tuple[str, ...] = ("NAME", "STATUS", "ROLES", "INTERNAL-IP", "POD CIDR(S)", "PODS")
OUTSIDE_CIDR_FLAG = "OUTSIDE-CIDR"


def pod_row(pod: PodInfo, now: datetime) -> tuple[str, ...]:
    """`kubectl get pod` cells: NAME READY STATUS RESTARTS AGE."""
    summary = summarize_pod(pod)
    return (
        pod.name,
        summary.ready,
        summary.status,
        restarts_text(summary, now),
        translate_timestamp_since(pod.created, now),
    )


def pod_wide_row(pod: PodInfo, now: datetime) -> tuple[str, ...]:
    """`kubectl get pod -o wide` cells, in POD_WIDE_HEADER order."""
    return (
        *pod_row(pod, now),
        first_pod_ip(pod) or NONE,
        pod.node_name or NONE,
        pod.nominated_node_name or NONE,
        readiness_gates_text(pod) or NONE,
    )


def node_roles_text(node: NodeInfo) -> str:
    return ",".join(node.roles) or NONE


def _with_namespace(header: tuple[str, ...], all_namespaces: bool) -> tuple[str, ...]:
    return (NAMESPACE, *header) if all_namespaces else header


def pod_wide_header(all_namespaces: bool) -> tuple[str, ...]:
    """`kubectl get pod -o wide` columns; `-A` puts NAMESPACE first."""
    return _with_namespace(POD_WIDE_HEADER, all_namespaces)


def pod_wide_rows(pods: Iterable[PodInfo], now: datetime, all_namespaces: bool) -> Iterator[tuple[str, ...]]:
    for pod in pods:
        row = pod_wide_row(pod, now)
        yield (pod.namespace, *row) if all_namespaces else row


def pod_net_header(all_namespaces: bool) -> tuple[str, ...]:
    return _with_namespace(POD_NET_HEADER, all_namespaces)


def ports_text(pod: PodInfo) -> str:
    """Declared container ports, e.g. "8080/TCP,443/TCP"."""
    return ",".join(f"{p.port}/{p.protocol}" for p in pod.ports) or NONE


def pod_net_row(pod: PodInfo, node: NodeInfo | None) -> tuple[str, ...]:
    """The networking view of one pod; `node` is the pod's node, None when unknown or unscheduled."""
    from kdiag.model.pairs import outside_pod_cidr  # -o net only: the wide view never loads the pair rules

    ips = pod.pod_ips or ((pod.pod_ip,) if pod.pod_ip else ())
    # Without the Node object (e.g. no RBAC to list nodes), status.hostIP is still the node's IP.
    node_ip = (node.internal_ip if node else "") or pod.host_ip
    return (
        pod.name,
        ",".join(ips) or NONE,
        pod.node_name or NONE,
        node_ip or NONE,
        ",".join(node.pod_cidrs) if node and node.pod_cidrs else NONE,
        "true" if pod.host_network else "false",
        ports_text(pod),
        OUTSIDE_CIDR_FLAG if outside_pod_cidr(pod, node) else NONE,
    )


def pod_net_rows(
    pods: Iterable[PodInfo], nodes: Mapping[str, NodeInfo], all_namespaces: bool
) -> Iterator[tuple[str, ...]]:
    """`kdiag pods -o net` rows; `nodes` maps node name to NodeInfo (missing nodes are tolerated)."""
    for pod in pods:
        row = pod_net_row(pod, nodes.get(pod.node_name))
        yield (pod.namespace, *row) if all_namespaces else row


def node_row(node: NodeInfo, pod_count: int) -> tuple[str, ...]:
    return (
        node.name,
        node_status(node),
        node_roles_text(node),
        node.internal_ip or NONE,
        ",".join(node.pod_cidrs) or NONE,
        str(pod_count),
    )


def node_rows(nodes: Iterable[NodeInfo], pod_counts: Mapping[str, int]) -> Iterator[tuple[str, ...]]:
    """`kdiag nodes` rows; `pod_counts` comes from `kdiag.model.pairs.pods_per_node`."""
    for node in nodes:
        yield node_row(node, pod_counts.get(node.name, 0))
