"""Pair classification; the O(pods) summary is checked against brute-force enumeration."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import datetime, timezone
from itertools import combinations

import pytest

from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.pairs import (
    LeftOutReason,
    PairKind,
    classify,
    classify_pair,
    iter_pairs,
    left_out_reason,
    outside_pod_cidr,
    pods_per_node,
    summarize,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def running(name: str, node: str, ip: str = "10.0.0.1", host_network: bool = False) -> PodInfo:
    return PodInfo(
        "ns", name, node_name=node, phase="Running", pod_ip=ip, pod_ips=(ip,), host_network=host_network
    )


@pytest.mark.parametrize(
    ("pod", "reason"),
    [
        (PodInfo("ns", "p", phase="Pending"), LeftOutReason.NOT_SCHEDULED),
        (
            PodInfo("ns", "p", node_name="n", phase="Running", pod_ip="1.1.1.1", deleted=T0),
            LeftOutReason.TERMINATING,
        ),
        (PodInfo("ns", "p", node_name="n", phase="Succeeded"), LeftOutReason.SUCCEEDED),
        (PodInfo("ns", "p", node_name="n", phase="Failed"), LeftOutReason.FAILED),
        (PodInfo("ns", "p", node_name="n", phase="Pending", pod_ip="1.1.1.1"), LeftOutReason.NOT_RUNNING),
        (PodInfo("ns", "p", node_name="n", phase="Unknown"), LeftOutReason.NOT_RUNNING),
        (PodInfo("ns", "p", node_name="n", phase="Running"), LeftOutReason.NO_IP),
        (running("p", "n"), None),
    ],
)
def test_left_out_reason(pod: PodInfo, reason: LeftOutReason | None) -> None:
    assert left_out_reason(pod) == reason


def test_classify_pair() -> None:
    a, b, c = running("a", "n1"), running("b", "n1"), running("c", "n2")
    host = running("h", "n2", host_network=True)
    assert (classify_pair(a, b).kind, classify_pair(a, b).same_node) == (PairKind.SAME_NODE, True)
    assert (classify_pair(a, c).kind, classify_pair(a, c).same_node) == (PairKind.CROSS_NODE, False)
    assert (classify_pair(c, host).kind, classify_pair(c, host).same_node) == (PairKind.HOST_NETWORK, True)
    assert (classify_pair(host, a).kind, classify_pair(host, a).same_node) == (PairKind.HOST_NETWORK, False)


def random_pods(rng: random.Random, count: int, nodes: int) -> list[PodInfo]:
    pods = []
    for i in range(count):
        node = rng.choice([f"n{j}" for j in range(nodes)] + [""])
        phase = rng.choice(["Running"] * 6 + ["Pending", "Succeeded", "Failed", "Unknown"])
        ip = "" if rng.random() < 0.1 else f"10.0.{i // 250}.{i % 250}"
        pods.append(
            PodInfo(
                "ns",
                f"p{i}",
                node_name=node,
                phase=phase,
                pod_ip=ip,
                pod_ips=(ip,) if ip else (),
                host_network=rng.random() < 0.15,
                deleted=T0 if rng.random() < 0.05 else None,
            )
        )
    return pods


@pytest.mark.parametrize("seed", range(12))
def test_summary_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    pods = random_pods(rng, rng.randint(0, 120), rng.randint(1, 7))
    classification = classify(pods)
    summary = summarize(classification)

    pairs = [classify_pair(a, b) for a, b in combinations(classification.eligible, 2)]
    kinds = Counter(p.kind for p in pairs)
    assert summary.pairs == len(pairs)
    assert summary.same_node == kinds[PairKind.SAME_NODE]
    assert summary.cross_node == kinds[PairKind.CROSS_NODE]
    assert summary.host_network == kinds[PairKind.HOST_NETWORK]
    host = [p for p in pairs if p.kind is PairKind.HOST_NETWORK]
    assert summary.host_network_same_node == sum(p.same_node for p in host)
    assert summary.host_network_cross_node == sum(not p.same_node for p in host)

    index = {name: i for i, name in enumerate(summary.nodes)}
    matrix = [[0] * len(index) for _ in index]
    for p in pairs:
        i, j = index[p.a.node_name], index[p.b.node_name]
        matrix[i][j] += 1
        if i != j:
            matrix[j][i] += 1
    assert [list(row) for row in summary.matrix] == matrix

    expected_left_out = Counter(left_out_reason(p) for p in pods)
    del expected_left_out[None]
    assert summary.left_out == dict(expected_left_out)
    assert summary.pods == len(classification.eligible)
    assert sum(c.total for c in summary.per_node) == summary.pods
    assert list(iter_pairs(classification)) == pairs


def test_iter_pairs_limit_and_order() -> None:
    classification = classify([running(f"p{i}", "n1") for i in range(5)])
    listed = [(p.a.name, p.b.name) for p in iter_pairs(classification, limit=3)]
    assert listed == [("p0", "p1"), ("p0", "p2"), ("p0", "p3")]
    assert len(list(iter_pairs(classification, limit=0))) == 0


def test_summary_of_ten_thousand_pods_is_instant() -> None:
    pods = [running(f"p{i}", f"n{i % 100}", host_network=i % 50 == 0) for i in range(10_000)]
    started = time.perf_counter()
    summary = summarize(classify(pods))
    elapsed = time.perf_counter() - started
    assert summary.pairs == 10_000 * 9_999 // 2
    # Every 50th pod is host-network: that is all 100 pods of n0 and of n50, none elsewhere.
    assert summary.same_node == 98 * (100 * 99 // 2)
    assert summary.host_network_same_node == 2 * (100 * 99 // 2)
    assert elapsed < 1.0


def test_pods_per_node_skips_terminal_and_unscheduled() -> None:
    pods = [
        running("a", "n1"),
        running("b", "n1"),
        PodInfo("ns", "c", node_name="n1", phase="Succeeded"),
        PodInfo("ns", "d", phase="Pending"),
        PodInfo("ns", "e", node_name="n2", phase="Pending"),
    ]
    assert pods_per_node(pods) == {"n1": 2, "n2": 1}


NODE = NodeInfo("n1", pod_cidrs=("10.244.1.0/24", "fd00:1::/64"))


@pytest.mark.parametrize(
    ("pod", "node", "outside"),
    [
        (running("in", "n1", "10.244.1.7"), NODE, False),
        (running("out", "n1", "10.244.2.7"), NODE, True),
        (running("host", "n1", "192.168.0.10", host_network=True), NODE, False),
        (PodInfo("ns", "v6", pod_ips=("10.244.1.7", "fd00:2::7")), NODE, True),
        (PodInfo("ns", "v6", pod_ips=("10.244.1.7", "fd00:1::7")), NODE, False),
        (running("no-v6-cidr", "n1", "fd00:9::1"), NodeInfo("n1", pod_cidrs=("10.244.1.0/24",)), False),
        (running("no-cidrs", "n1", "10.9.9.9"), NodeInfo("n1"), False),
        (running("no-node", "n1", "10.9.9.9"), None, False),
        (running("bad-ip", "n1", "not-an-ip"), NODE, False),
        (running("bad-cidr", "n1", "10.9.9.9"), NodeInfo("n1", pod_cidrs=("garbage",)), False),
    ],
)
def test_outside_pod_cidr(pod: PodInfo, node: NodeInfo | None, outside: bool) -> None:
    assert outside_pod_cidr(pod, node) is outside
