"""Benchmark the policy matrix: 1,000 x 1,000 pods evaluated (pure, synthetic objects) under 10 s.

    python3 benchmarks/policy_bench.py [--pods 1000] [--policies 60] [--runs 3] [--kubeconfig PATH]

The synthetic cluster is realistic rather than trivial: 20 namespaces with team/env labels, pods
with app/tier labels and named container ports, and dozens of NetworkPolicies mixing default
denies, podSelector and namespaceSelector peers (alone and together), matchExpressions, ipBlocks
with except, named ports and endPort ranges, plus a few AdminNetworkPolicies (Allow/Deny/Pass)
and a BaselineAdminNetworkPolicy. Times the matrix alone and with its JSON document, for the
large case and a small one (50 pods), and prints the median. With --kubeconfig (e.g. a running
lab's) it also times `kubectl get networkpolicies -A` for a ratio against one API read.
Target (issue 15): the 1,000-pod matrix in under 10 s.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kdiag.cluster.policy_parse import parse_admin_policy, parse_network_policy
from kdiag.model.objects import ContainerPort, PodInfo
from kdiag.model.policy import Endpoint, Flow, evaluate
from kdiag.model.policy.documents import policy_matrix_document
from kdiag.model.policy.matrix import matrix
from kdiag.model.policy.objects import METADATA_NAME, AdminNetworkPolicy, NetworkPolicy, PolicySet

NAMESPACES = 20
APPS = ("web", "api", "db", "cache", "worker", "gateway", "metrics", "auth")


def _selector(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.2:
        return {}
    if roll < 0.7:
        return {"matchLabels": {"app": rng.choice(APPS)}}
    return {"matchExpressions": [{"key": "tier", "operator": rng.choice(("In", "NotIn")),
                                  "values": rng.sample(("front", "back", "data"), 2)}]}


def _peer(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.35:
        return {"podSelector": _selector(rng)}
    if roll < 0.6:
        return {"namespaceSelector": {"matchLabels": {"team": f"team-{rng.randrange(5)}"}}}
    if roll < 0.9:
        return {"namespaceSelector": {"matchLabels": {"env": rng.choice(("prod", "dev"))}},
                "podSelector": _selector(rng)}
    return {"ipBlock": {"cidr": "10.0.0.0/8", "except": [f"10.{rng.randrange(4)}.0.0/16"]}}


def _ports(rng: random.Random) -> list[dict[str, Any]]:
    choices: list[list[dict[str, Any]]] = [[{"port": "http"}], [{"port": 80}],
                                           [{"port": 8000, "endPort": 8100}],
                                           [{"port": "metrics"}, {"port": 443}], []]
    return rng.choice(choices)


def synthetic(pods: int, policies: int, seed: int = 7) -> tuple[list[PodInfo], PolicySet]:
    rng = random.Random(seed)
    namespaces = {f"ns-{i:02d}": {METADATA_NAME: f"ns-{i:02d}", "team": f"team-{i % 5}",
                                  "env": "prod" if i % 3 else "dev"} for i in range(NAMESPACES)}
    names = sorted(namespaces)
    pod_list = []
    for i in range(pods):
        app = rng.choice(APPS)
        ports = (ContainerPort("main", rng.choice((80, 8080)), "TCP", "http"),
                 ContainerPort("main", 9090, "TCP", "metrics"))
        pod_list.append(PodInfo(names[i % NAMESPACES], f"{app}-{i:05d}", node_name=f"node-{i % 50}",
                                phase="Running", pod_ip=f"10.{i // 65536 % 4}.{i // 256 % 256}.{i % 256}",
                                labels={"app": app, "tier": rng.choice(("front", "back", "data")),
                                        "pod-template-hash": f"{i:x}"}, ports=ports))
    objects: list[NetworkPolicy] = []
    for i in range(policies):
        namespace = names[i % NAMESPACES]
        spec: dict[str, Any] = {"podSelector": _selector(rng)}
        if i % 7 == 0:
            spec |= {"podSelector": {}, "policyTypes": ["Ingress"]}  # a default deny
        else:
            spec["ingress"] = [{"from": [_peer(rng) for _ in range(rng.randrange(1, 4))],
                                "ports": _ports(rng)} for _ in range(rng.randrange(1, 3))]
            if rng.random() < 0.3:
                spec["egress"] = [{"to": [_peer(rng)], "ports": _ports(rng)}]
        objects.append(parse_network_policy({"metadata": {"namespace": namespace, "name": f"np-{i}"},
                                             "spec": spec}))
    admins: list[AdminNetworkPolicy] = [parse_admin_policy({"metadata": {"name": f"anp-{i}"}, "spec": {
        "priority": 10 * i,
        "subject": {"namespaces": {"matchLabels": {"env": "prod"}}},
        "ingress": [{"name": "r", "action": action,
                     "from": [{"namespaces": {"matchLabels": {"team": f"team-{i}"}}}],
                     "ports": [{"portNumber": {"protocol": "TCP", "port": 80}}]}]}})
        for i, action in enumerate(("Allow", "Deny", "Pass"))]
    baseline = parse_admin_policy({"metadata": {"name": "default"}, "spec": {
        "subject": {"namespaces": {}},
        "ingress": [{"name": "dev-deny", "action": "Deny",
                     "from": [{"namespaces": {"matchLabels": {"env": "dev"}}}]}],
    }}, baseline=True)
    return pod_list, PolicySet(tuple(objects), tuple(admins), baseline, namespaces)


def _spot_check(pods: list[PodInfo], policies: PolicySet, table: Any, cells: int = 2000) -> None:
    """The matrix must agree with the pair evaluator: a fast wrong table is worth nothing."""
    rng = random.Random(1)
    expect = {"allowed": True, "denied": False, "unknown": None}
    for _ in range(cells):
        s, d = rng.randrange(len(pods)), rng.randrange(len(pods))
        verdict = evaluate(Flow(Endpoint.of(pods[s]), Endpoint.of(pods[d]), 80, "TCP"), policies=policies)
        if table.cell(s, d) is not expect[verdict.verdict]:
            raise SystemExit(f"matrix and evaluator disagree on {pods[s].key} -> {pods[d].key}")


def _median(runs: int, work: Any) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _kubectl(kubeconfig: str, runs: int) -> float | None:
    kubectl = shutil.which("kubectl") or str(next(Path.home().glob(".cache/kdiag/lab/*/bin/kubectl"), ""))
    if not kubectl:
        return None
    argv = [kubectl, f"--kubeconfig={kubeconfig}", "get", "networkpolicies", "-A", "-o", "json"]
    return _median(runs, lambda: subprocess.run(argv, capture_output=True, check=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--policies", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kubeconfig",
                        help="time `kubectl get networkpolicies -A` against this cluster too")
    args = parser.parse_args()
    results: dict[str, float] = {}
    for label, count in (("small", 50), ("large", args.pods)):
        pods, policies = synthetic(count, args.policies)
        table = matrix(pods, port=80, protocol="TCP", policies=policies)
        counts = policy_matrix_document(table, policies)["summary"]
        seconds = _median(args.runs,
                          lambda p=pods, s=policies: matrix(p, port=80, protocol="TCP", policies=s))
        document = _median(args.runs, lambda p=pods, s=policies: json.dumps(policy_matrix_document(
            matrix(p, port=80, protocol="TCP", policies=s), s)))
        results[label] = seconds
        _spot_check(pods, policies, table)
        print(f"{label}: {count} x {count} pods, {len(policies.network_policies)} NetworkPolicies, "
              f"{len(policies.admin_policies)} ANPs + baseline: matrix {seconds:.3f} s, with JSON document "
              f"{document:.3f} s (median of {args.runs}); cells {counts}")
    if args.kubeconfig:
        kubectl = _kubectl(args.kubeconfig, args.runs)
        if kubectl is not None:
            print(f"kubectl get networkpolicies -A -o json: {kubectl:.3f} s; matrix / kubectl = "
                  f"{results['large'] / kubectl:.2f}")
    ok = results["large"] < 10.0
    print(f"target: {args.pods}-pod matrix < 10 s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
