"""The matrix (bit masks) agrees with the pair evaluator cell by cell, on hand-made and generated
clusters that mix every feature: selectors with expressions, both-selector peers, ipBlocks, named
ports, endPort, admin tiers with Pass, unreadable namespaces, host-network pods and gaps."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kdiag.model.objects import PodInfo
from kdiag.model.policy import Endpoint, Flow, PolicySet, evaluate
from kdiag.model.policy.matrix import matrix
from kdiag.model.policy.objects import CniPolicy, Gap
from tests.unit.policy_helpers import anp, banp, netpol, pod, policies

NAMESPACES = ("shop", "web", "ops", "dark")  # "dark": labels unreadable
APPS = ("web", "db", "cache", "agent")
CELL = {"allowed": True, "denied": False, "unknown": None}


def _selector(rng: random.Random) -> dict[str, Any]:
    choice = rng.randrange(5)
    if choice == 0:
        return {}
    if choice == 1:
        return {"matchLabels": {"app": rng.choice(APPS)}}
    operator = rng.choice(("In", "NotIn", "Exists", "DoesNotExist"))
    key = rng.choice(("app", "tier"))
    expression: dict[str, Any] = {"key": key, "operator": operator}
    if operator in ("In", "NotIn"):
        expression["values"] = rng.sample(APPS, 2)
    return {"matchExpressions": [expression]}


def _ns_selector(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.4:
        return {"matchLabels": {"kubernetes.io/metadata.name": rng.choice(NAMESPACES)}}
    return rng.choice(
        (
            {},
            {"matchLabels": {"env": "prod"}},
            {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]},
        )
    )


def _peer(rng: random.Random) -> dict[str, Any]:
    kind = rng.randrange(4)
    if kind == 0:
        return {"podSelector": _selector(rng)}
    if kind == 1:
        return {"namespaceSelector": _ns_selector(rng)}
    if kind == 2:
        return {"namespaceSelector": _ns_selector(rng), "podSelector": _selector(rng)}
    return {"ipBlock": {"cidr": "10.0.0.0/16", "except": [f"10.0.{rng.randrange(4)}.0/24"]}}


def _ports(rng: random.Random) -> list[dict[str, Any]]:
    return rng.choice(
        (
            [],
            [{"port": 80}],
            [{"port": "http"}],
            [{"port": 70, "endPort": 90}],
            [{"protocol": "UDP"}],
            [{"port": 8080}],
        )
    )


def _cluster(seed: int) -> tuple[list[PodInfo], PolicySet]:
    rng = random.Random(seed)
    pods = []
    for i in range(24):
        namespace = NAMESPACES[i % len(NAMESPACES)]
        lab = {"app": rng.choice(APPS)} | ({"tier": "x"} if rng.random() < 0.3 else {})
        ports = [("http", rng.choice((80, 8080)), "TCP")] if rng.random() < 0.6 else []
        host = rng.random() < 0.1
        pods.append(
            pod(
                f"{namespace}/p{i}",
                f"10.0.{i % 5}.{i + 10}",
                lab,
                node=f"n{i % 3}",
                ports=ports,
                host_network=host,
            )
        )
    objects: list[Any] = []
    for i in range(rng.randrange(3, 9)):
        spec: dict[str, Any] = {"podSelector": _selector(rng)}
        if rng.random() < 0.8:
            spec["ingress"] = [
                {"from": [_peer(rng) for _ in range(rng.randrange(3))], "ports": _ports(rng)}
                for _ in range(rng.randrange(3))
            ]
        if rng.random() < 0.5:
            spec["egress"] = [
                {"to": [_peer(rng) for _ in range(rng.randrange(3))], "ports": _ports(rng)}
                for _ in range(rng.randrange(3))
            ]
        if rng.random() < 0.5:
            spec["policyTypes"] = rng.choice((["Ingress"], ["Egress"], ["Ingress", "Egress"]))
        objects.append(netpol(f"{rng.choice(NAMESPACES)}/np{i}", spec))

    def admin_rules(action_choices: tuple[str, ...], key: str) -> list[dict[str, Any]]:
        rules = []
        for j in range(rng.randrange(3)):
            peer = rng.choice(
                (
                    {"namespaces": _ns_selector(rng)},
                    {"pods": {"namespaceSelector": _ns_selector(rng), "podSelector": _selector(rng)}},
                )
            )
            rule: dict[str, Any] = {"name": f"r{j}", "action": rng.choice(action_choices), key: [peer]}
            if rng.random() < 0.5:
                rule["ports"] = [
                    rng.choice(
                        (
                            {"portNumber": {"protocol": "TCP", "port": 80}},
                            {"namedPort": "http"},
                            {"portRange": {"start": 79, "end": 81}},
                        )
                    )
                ]
            rules.append(rule)
        return rules

    for i in range(rng.randrange(3)):
        subject = rng.choice(
            (
                {"namespaces": _ns_selector(rng)},
                {"pods": {"namespaceSelector": _ns_selector(rng), "podSelector": _selector(rng)}},
            )
        )
        objects.append(
            anp(
                f"anp{i}",
                rng.randrange(5),
                {
                    "subject": subject,
                    "ingress": admin_rules(("Allow", "Deny", "Pass"), "from"),
                    "egress": admin_rules(("Allow", "Deny", "Pass"), "to"),
                },
            )
        )
    if rng.random() < 0.5:
        objects.append(
            banp(
                {
                    "subject": {"namespaces": _ns_selector(rng)},
                    "ingress": admin_rules(("Allow", "Deny"), "from"),
                    "egress": admin_rules(("Allow", "Deny"), "to"),
                }
            )
        )
    readable = {
        n: {"kubernetes.io/metadata.name": n} | ({"env": "prod"} if n != "web" else {})
        for n in NAMESPACES
        if n != "dark"
    }
    cni = [CniPolicy("CiliumNetworkPolicy", "ops", "x")] if seed % 4 == 0 else []
    gaps = (
        [Gap("NetworkPolicy", "web", "list networking.k8s.io/networkpolicies in namespace web")]
        if seed % 5 == 0
        else []
    )
    return pods, policies(*objects, ns=readable, cni=cni, gaps=gaps)


def _assert_agrees(pods: list[PodInfo], policy_set: PolicySet, port: int, protocol: str) -> None:
    table = matrix(pods, port=port, protocol=protocol, policies=policy_set)
    assert table.pods == tuple(p.key for p in pods)
    for s, src in enumerate(pods):
        row = table.row(s)
        for d, dst in enumerate(pods):
            expected = evaluate(Flow(Endpoint.of(src), Endpoint.of(dst), port, protocol), policies=policy_set)
            assert row[d] is CELL[expected.verdict], (src.key, dst.key, expected)
            assert table.cell(s, d) is row[d]


@pytest.mark.parametrize("seed", range(40))
def test_matrix_agrees_with_the_pair_evaluator_on_generated_clusters(seed: int) -> None:
    pods, policy_set = _cluster(seed)
    _assert_agrees(pods, policy_set, 80, "TCP")
    _assert_agrees(pods, policy_set, 53, "UDP")


def test_default_deny_namespace_matrix() -> None:
    a = pod("shop/a", "10.0.0.1", {"app": "web"})
    b = pod("shop/b", "10.0.0.2", {"app": "db"})
    c = pod("web/c", "10.0.1.1", {"app": "web"})
    deny = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    table = matrix([a, b, c], port=80, protocol="tcp", policies=policies(deny))
    assert table.protocol == "TCP"
    assert [table.row(i) for i in range(3)] == [
        [True, False, True],
        [False, True, True],
        [False, False, True],
    ]


def test_empty_matrix() -> None:
    table = matrix([], port=80, protocol="TCP", policies=policies())
    assert table.pods == () and table.allowed == ()
