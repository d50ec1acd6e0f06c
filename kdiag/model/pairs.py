"""Which pod pairs kdiag can reason about, and which path class each pair falls in.

A pair is unordered. Its class decides the datapath kdiag expects (see DESIGN.md):
`same-node` (bridge or one routed hop on the node), `cross-node` (routed between nodes, maybe an
overlay), `host-network` (at least one side shares its node's network namespace, so the node's own
stack is involved; same or different node is kept alongside).

There are n(n-1)/2 pairs, 50 million for 10,000 pods, so the summary is computed from per-node
counts in O(pods + nodes²) and concrete pairs are only ever produced lazily, up to a limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from itertools import combinations, islice

from kdiag.model.objects import NodeInfo, PodInfo


class PairKind(str, Enum):
    SAME_NODE = "same-node"
    CROSS_NODE = "cross-node"
    HOST_NETWORK = "host-network"


class LeftOutReason(str, Enum):
    """Why a pod takes part in no pair: it has no datapath worth probing (yet, or any more)."""

    NOT_SCHEDULED = "not-scheduled"  # no spec.nodeName
    TERMINATING = "terminating"  # deletionTimestamp set: being torn down
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOT_RUNNING = "not-running"  # Pending or Unknown phase
    NO_IP = "no-ip"  # running, but no pod IP reported yet


@dataclass(frozen=True)
class LeftOut:
    pod: PodInfo
    reason: LeftOutReason


@dataclass(frozen=True)
class PodPair:
    a: PodInfo
    b: PodInfo
    kind: PairKind
    same_node: bool  # also meaningful for host-network pairs


@dataclass(frozen=True)
class NodeCounts:
    """Pods on one node that take part in pairs."""

    pod_network: int
    host_network: int

    @property
    def total(self) -> int:
        return self.pod_network + self.host_network


@dataclass(frozen=True)
class PairSummary:
    pods: int  # pods that take part in pairs
    pairs: int
    same_node: int
    cross_node: int
    host_network: int
    host_network_same_node: int
    host_network_cross_node: int
    left_out: dict[LeftOutReason, int]  # only reasons that occur
    nodes: tuple[str, ...]  # sorted; the rows and columns of `matrix`
    per_node: tuple[NodeCounts, ...]  # in `nodes` order
    # matrix[i][j]: pairs with one pod on nodes[i] and the other on nodes[j], all classes;
    # symmetric; the diagonal counts pairs within one node.
    matrix: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Classification:
    eligible: tuple[PodInfo, ...]  # in input order; pairs are formed among these
    left_out: tuple[LeftOut, ...]


def left_out_reason(pod: PodInfo) -> LeftOutReason | None:
    """Why `pod` is left out of pairs, or None when it takes part. The first matching reason wins."""
    if not pod.node_name:
        return LeftOutReason.NOT_SCHEDULED
    if pod.deleted is not None:
        return LeftOutReason.TERMINATING
    if pod.phase == "Succeeded":
        return LeftOutReason.SUCCEEDED
    if pod.phase == "Failed":
        return LeftOutReason.FAILED
    if pod.phase != "Running":
        return LeftOutReason.NOT_RUNNING
    if not (pod.pod_ips or pod.pod_ip):
        return LeftOutReason.NO_IP
    return None


def classify(pods: Iterable[PodInfo]) -> Classification:
    eligible: list[PodInfo] = []
    left_out: list[LeftOut] = []
    for pod in pods:
        reason = left_out_reason(pod)
        if reason is None:
            eligible.append(pod)
        else:
            left_out.append(LeftOut(pod, reason))
    return Classification(tuple(eligible), tuple(left_out))


def classify_pair(a: PodInfo, b: PodInfo) -> PodPair:
    same_node = a.node_name == b.node_name
    if a.host_network or b.host_network:
        kind = PairKind.HOST_NETWORK
    elif same_node:
        kind = PairKind.SAME_NODE
    else:
        kind = PairKind.CROSS_NODE
    return PodPair(a, b, kind, same_node)


def iter_pairs(classification: Classification, limit: int | None = None) -> Iterator[PodPair]:
    """Concrete pairs, lazily, in input order ((p0,p1), (p0,p2), ... (p1,p2), ...), at most `limit`."""
    pairs = (classify_pair(a, b) for a, b in combinations(classification.eligible, 2))
    return islice(pairs, limit)


def _two_of(n: int) -> int:
    return n * (n - 1) // 2


def summarize(classification: Classification) -> PairSummary:
    """Pair counts from per-node pod counts, never enumerating pairs."""
    pod_network: dict[str, int] = {}
    host_network: dict[str, int] = {}
    for pod in classification.eligible:
        counts = host_network if pod.host_network else pod_network
        counts[pod.node_name] = counts.get(pod.node_name, 0) + 1
    nodes = tuple(sorted(pod_network.keys() | host_network.keys()))
    per_node = tuple(NodeCounts(pod_network.get(n, 0), host_network.get(n, 0)) for n in nodes)

    pod_total = sum(c.pod_network for c in per_node)
    all_total = sum(c.total for c in per_node)
    # Pod-network pods pair among themselves; every other pair involves a host-network pod.
    same_node = sum(_two_of(c.pod_network) for c in per_node)
    pod_pairs = _two_of(pod_total)
    all_pairs = _two_of(all_total)
    host_pairs = all_pairs - pod_pairs
    host_same = sum(_two_of(c.total) - _two_of(c.pod_network) for c in per_node)

    totals = [c.total for c in per_node]
    matrix = tuple(
        tuple(_two_of(ti) if i == j else ti * tj for j, tj in enumerate(totals))
        for i, ti in enumerate(totals)
    )

    left_out: dict[LeftOutReason, int] = {}
    for item in classification.left_out:
        left_out[item.reason] = left_out.get(item.reason, 0) + 1

    return PairSummary(
        pods=all_total,
        pairs=all_pairs,
        same_node=same_node,
        cross_node=pod_pairs - same_node,
        host_network=host_pairs,
        host_network_same_node=host_same,
        host_network_cross_node=host_pairs - host_same,
        left_out=left_out,
        nodes=nodes,
        per_node=per_node,
        matrix=matrix,
    )


# --- placement facts shared by the table and JSON views --------------------------------------


def pods_per_node(pods: Iterable[PodInfo]) -> dict[str, int]:
    """Pods occupying each node: scheduled and not in a terminal phase (as `kubectl describe node`)."""
    counts: dict[str, int] = {}
    for pod in pods:
        if pod.node_name and pod.phase not in ("Succeeded", "Failed"):
            counts[pod.node_name] = counts.get(pod.node_name, 0) + 1
    return counts


@lru_cache(maxsize=4096)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPv4Network | IPv6Network, ...]:
    # Nodes are few and their CIDRs are shared by every pod on them: parse each set once.
    parsed = []
    for cidr in cidrs:
        try:
            parsed.append(ip_network(cidr, strict=False))
        except ValueError:
            continue  # a malformed podCIDR proves nothing about the pod
    return tuple(parsed)


def outside_pod_cidr(pod: PodInfo, node: NodeInfo | None) -> bool:
    """True when one of the pod's IPs lies outside every podCIDR its node has for that IP family.

    Host-network pods carry the node's address, never a podCIDR one, so they are not checked. Nodes
    without podCIDRs (many CNIs do their own IPAM) and families the node has no CIDR for prove
    nothing, so they never flag.
    """
    if pod.host_network or node is None or not node.pod_cidrs:
        return False
    networks = _networks(node.pod_cidrs)
    for raw_ip in pod.pod_ips or ((pod.pod_ip,) if pod.pod_ip else ()):
        try:
            address = ip_address(raw_ip)
        except ValueError:
            continue
        same_family = [net for net in networks if net.version == address.version]
        if same_family and not any(address in net for net in same_family):
            return True
    return False
