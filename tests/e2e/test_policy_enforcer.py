"""NetworkPolicy end to end: the lab's real enforcer (kube-router, one per node namespace) against
real TCP connections between lab pods, `kdiag policy` against what it does to them, and `kdiag
trace`'s POLICY_* codes and probe identity (issues 12 and 15).

Enforcement is asynchronous (kube-router syncs on watch events), so every expectation about
packets is polled with a deadline; it fails if the enforcer never gets there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from kdiag_lab.kubelet_config import lab_id_for
from kdiag_lab.processes import wait_gone
from kdiag_lab.topology import LabNetwork
from tests.conftest import Lab, run_kdiag
from tests.e2e.test_policy import _netpol, _pod
from tests.e2e.trace_helpers import trace_validator

pytestmark = pytest.mark.lab

ENFORCED_WITHIN = 30.0
# argv: PORT ADDRESS...; one line per address, all connects at once (one thread each).
CONNECT = ("import socket, sys, concurrent.futures as cf\n"
           "def one(address):\n"
           "    s = socket.socket(); s.settimeout(1.5)\n"
           "    try:\n        s.connect((address, int(sys.argv[1]))); return 'open'\n"
           "    except ConnectionRefusedError: return 'refused'\n"
           "    except OSError: return 'filtered'\n"
           "    finally: s.close()\n"
           "with cf.ThreadPoolExecutor(len(sys.argv) - 2) as pool:\n"
           "    print('\\n'.join(pool.map(one, sys.argv[2:])))\n")


@dataclass(frozen=True)
class Shop:
    front: str  # web (app=web) and batch (app=batch) on worker24
    back: str  # db (app=db, 5432 postgres, 8080 http) on worker25
    ips: dict[str, str]


def connect_all(lab: Lab, source: str, addresses: list[str], port: int) -> list[str]:
    """Real TCP connects from inside pod `source` (ns/name), in parallel: open, refused (RST or
    REJECT) or filtered, per address."""
    ns = LabNetwork(lab_id_for(lab.paths)).pod_ns(source)
    out = subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", CONNECT, str(port), *addresses],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.split()


def connect(lab: Lab, source: str, address: str, port: int) -> str:
    return connect_all(lab, source, [address], port)[0]


def reaches(lab: Lab, source: str, address: str, port: int, *, expected: bool) -> bool:
    """Poll until the connection's outcome is `expected` (open or not); the last outcome decides."""
    deadline = time.monotonic() + ENFORCED_WITHIN
    while True:
        opened = connect(lab, source, address, port) == "open"
        if opened == expected or time.monotonic() > deadline:
            return opened
        time.sleep(0.2)  # kube-router's sync has no event a test can wait on


def policy_verdict(lab: Lab, src: str, dst: str, port: str) -> str:
    result = lab.kdiag("policy", src, dst, "-p", port, "-o", "json")
    assert result.stdout, result.stderr
    verdict: str = json.loads(result.stdout)["verdict"]
    return verdict


def trace(lab: Lab, src: str, dst: str, port: int) -> dict[str, Any]:
    result = lab.kdiag("trace", src, dst, "-p", str(port), "--timeout", "40s", "-o", "json")
    assert result.stdout, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    trace_validator().validate(document)
    return document


def codes(document: dict[str, Any]) -> list[str]:
    return [f["code"] for f in document["verdict"]["findings"]]


@pytest.fixture
def shop(lab: Lab, namespace: str) -> Iterator[Shop]:
    back = f"t-{uuid.uuid4().hex[:8]}"
    lab.kubectl("create", "namespace", back)
    lab.kubectl("wait", "--for=create", "serviceaccount/default", "-n", back, "--timeout=30s")
    lab.apply(_pod("web", {"app": "web"}, []), namespace)
    lab.apply(_pod("batch", {"app": "batch"}, []), namespace)
    lab.apply(_pod("db", {"app": "db"}, [{"containerPort": 5432, "name": "postgres"},
                                         {"containerPort": 8080, "name": "http"}], node="worker25"), back)
    ips = {}
    for ns, name in ((namespace, "web"), (namespace, "batch"), (back, "db")):
        lab.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "-n", ns, "--timeout=30s")
        ips[name] = lab.kubectl("get", "pod", name, "-n", ns, "-o", "jsonpath={.status.podIP}").stdout
    yield Shop(namespace, back, ips)
    lab.kubectl("delete", "namespace", back, "--wait=false", check=False)


DENY_INGRESS = {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_the_lab_runs_kube_router_firewall_only_on_every_node(lab: Lab) -> None:
    status = run_kdiag("lab", "status", "--dir", str(lab.paths.root), "-o", "json").json()
    routers = [c for c in status["daemons"] if c["name"].startswith("kube-router/")]
    assert {c["name"] for c in routers} == {"kube-router/worker24", "kube-router/worker25"}, status
    assert all(c["running"] and c["version"] == "kube-router v2.1.0" for c in routers), routers


def test_default_deny_then_allow_one_label_then_removed(lab: Lab, shop: Shop) -> None:
    """Issue 12's acceptance: real packets, both directions of the change."""
    web, batch, db = f"{shop.front}/web", f"{shop.front}/batch", shop.ips["db"]
    assert reaches(lab, web, db, 5432, expected=True) and reaches(lab, batch, db, 5432, expected=True)
    lab.apply(_netpol("deny", DENY_INGRESS), shop.back)
    assert not reaches(lab, web, db, 5432, expected=False)
    assert not reaches(lab, batch, db, 5432, expected=False)
    allow = {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": shop.front}},
        "podSelector": {"matchLabels": {"app": "web"}}}]}]}
    lab.apply(_netpol("db-from-web", allow), shop.back)
    assert reaches(lab, web, db, 5432, expected=True)
    assert not reaches(lab, batch, db, 5432, expected=False)
    lab.kubectl("delete", "networkpolicy", "--all", "-n", shop.back)
    assert reaches(lab, batch, db, 5432, expected=True)


def test_default_deny_kdiag_policy_and_trace_agree_with_the_enforcer(lab: Lab, shop: Shop) -> None:
    web, db = f"{shop.front}/web", f"{shop.back}/db"
    lab.apply(_netpol("deny", DENY_INGRESS), shop.back)
    assert not reaches(lab, web, shop.ips["db"], 5432, expected=False)
    assert policy_verdict(lab, web, db, "5432") == "denied"
    document = trace(lab, web, db, 5432)
    assert codes(document)[0] == "POLICY_DENIES", codes(document)
    assert document["policy"]["verdict"] == "denied" and document["policy"]["judgedAsSource"]


def test_a_flow_allowed_only_for_the_sources_labels_traces_ok(lab: Lab, shop: Shop) -> None:
    web, batch, db = f"{shop.front}/web", f"{shop.front}/batch", f"{shop.back}/db"
    allow = {"podSelector": {}, "ingress": [{"from": [{
        "namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "web"}}}]}]}
    lab.apply(_netpol("from-web", allow), shop.back)
    assert reaches(lab, web, shop.ips["db"], 5432, expected=True)
    assert not reaches(lab, batch, shop.ips["db"], 5432, expected=False)
    assert (policy_verdict(lab, web, db, "5432"),
            policy_verdict(lab, batch, db, "5432")) == ("allowed", "denied")
    ok = trace(lab, web, db, 5432)
    assert ok["verdict"]["status"] == "ok", codes(ok)
    assert (ok["policy"]["probeIdentity"], ok["policy"]["judgedAsSource"], ok["probe"]["mode"]) == (
        "source", True, "ephemeral")
    denied = trace(lab, batch, db, 5432)
    assert codes(denied)[0] == "POLICY_DENIES", codes(denied)


def test_an_egress_deny_on_the_source(lab: Lab, shop: Shop) -> None:
    web, batch, db = f"{shop.front}/web", f"{shop.front}/batch", f"{shop.back}/db"
    egress = {"podSelector": {"matchLabels": {"app": "batch"}}, "policyTypes": ["Egress"]}
    lab.apply(_netpol("batch-no-egress", egress), shop.front)
    assert not reaches(lab, batch, shop.ips["db"], 5432, expected=False)
    assert reaches(lab, web, shop.ips["db"], 5432, expected=True)
    assert (policy_verdict(lab, batch, db, "5432"),
            policy_verdict(lab, web, db, "5432")) == ("denied", "allowed")
    document = trace(lab, batch, db, 5432)
    first = document["verdict"]["findings"][0]
    assert first["code"] == "POLICY_DENIES" and "egress from" in first["message"], first
    assert document["policy"]["probeIdentity"] == "source"


def test_a_named_port_rule(lab: Lab, shop: Shop) -> None:
    web, db = f"{shop.front}/web", f"{shop.back}/db"
    named = {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"ports": [{"port": "postgres"}]}]}
    lab.apply(_netpol("postgres-only", named), shop.back)
    assert not reaches(lab, web, shop.ips["db"], 8080, expected=False)
    assert reaches(lab, web, shop.ips["db"], 5432, expected=True)
    assert (policy_verdict(lab, web, db, "postgres"),
            policy_verdict(lab, web, db, "8080")) == ("allowed", "denied")
    assert codes(trace(lab, web, db, 8080))[0] == "POLICY_DENIES"


def test_an_ip_block_with_except(lab: Lab, shop: Shop) -> None:
    web, batch, db = f"{shop.front}/web", f"{shop.front}/batch", f"{shop.back}/db"
    block = {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": [{"ipBlock": {
        "cidr": "10.244.1.0/24", "except": [f"{shop.ips['web']}/32"]}}]}]}
    lab.apply(_netpol("worker24-but-web", block), shop.back)
    assert not reaches(lab, web, shop.ips["db"], 5432, expected=False)
    assert reaches(lab, batch, shop.ips["db"], 5432, expected=True)
    assert (policy_verdict(lab, web, db, "5432"),
            policy_verdict(lab, batch, db, "5432")) == ("denied", "allowed")
    assert codes(trace(lab, web, db, 5432))[0] == "POLICY_DENIES"
    allowed = trace(lab, batch, db, 5432)  # admitted by its IP: only the source itself has it
    assert allowed["verdict"]["status"] == "ok", allowed["verdict"]["findings"]
    assert allowed["policy"]["probeIdentity"] == "source"


def test_the_matrix_agrees_cell_by_cell_with_the_enforcer_on_81_real_probes(lab: Lab) -> None:
    """3 namespaces x 3 pods, a mix of policies; every ordered pair (itself included) probed in
    parallel on real TCP, compared with `kdiag policy --matrix`."""
    tag = uuid.uuid4().hex[:6]
    names = [f"m{tag}-{i}" for i in range(3)]
    roles = ("web", "db", "batch")
    try:
        for i, ns in enumerate(names):
            lab.kubectl("create", "namespace", ns)
            lab.kubectl("label", "namespace", ns, f"tier={'front' if i == 0 else 'back'}")
            lab.kubectl("wait", "--for=create", "serviceaccount/default", "-n", ns, "--timeout=30s")
            for j, role in enumerate(roles):
                lab.apply(_pod(role, {"app": role}, [{"containerPort": 8080, "name": "http"}],
                               node="worker24" if (i + j) % 2 else "worker25"), ns)
        # ns0: open. ns1: default deny, db admits web pods from front namespaces. ns2: ingress
        # from its own namespace only, and batch may send nothing (egress deny).
        lab.apply(_netpol("deny", DENY_INGRESS), names[1])
        lab.apply(_netpol("db-from-front-web", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{
            "from": [{"namespaceSelector": {"matchLabels": {"tier": "front"}},
                      "podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": "http"}]}]}),
                  names[1])
        same_namespace = {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}
        lab.apply(_netpol("same-ns", same_namespace), names[2])
        lab.apply(_netpol("batch-silent", {"podSelector": {"matchLabels": {"app": "batch"}},
                                           "policyTypes": ["Egress"]}), names[2])
        for ns in names:
            lab.kubectl("wait", "--for=condition=Ready", "pod", "--all", "-n", ns, "--timeout=30s")
        result = lab.kdiag("policy", "--matrix", "-n", ",".join(names), "--port", "8080", "-o", "json")
        document = json.loads(result.stdout)
        pods = document["pods"]
        assert len(pods) == 9, pods
        expected = {(s, d): document["allowed"][s][d] for s in pods for d in pods}
        assert None not in expected.values() and False in expected.values() and True in expected.values()
        ips = {p: lab.kubectl("get", "pod", p.split("/")[1], "-n", p.split("/")[0], "-o",
                              "jsonpath={.status.podIP}").stdout for p in pods}
        deadline = time.monotonic() + ENFORCED_WITHIN
        while True:
            # 9 sources at once, each connecting to its 9 destinations at once: all 81 in parallel.
            with ThreadPoolExecutor(max_workers=len(pods)) as pool:
                rows = dict(zip(pods, pool.map(
                    lambda src: connect_all(lab, src, [ips[d] for d in pods], 8080), pods), strict=True))
            seen = {(s, d): rows[s][i] == "open" for s in pods for i, d in enumerate(pods)}
            wrong = {pair: seen[pair] for pair in expected if seen[pair] != expected[pair]}
            if not wrong or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # the enforcer may still be syncing the last policy
        assert wrong == {}, f"enforcer vs kdiag policy --matrix (pair: what the packets did): {wrong}"
    finally:
        for ns in names:
            lab.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_a_killed_kube_router_is_restarted_in_place_and_enforces_again(lab: Lab, shop: Shop) -> None:
    status = run_kdiag("lab", "status", "--dir", str(lab.paths.root), "-o", "json").json()
    router = next(c for c in status["daemons"] if c["name"] == "kube-router/worker25")
    assert router["check"] == "netns-healthz" and router["healthy"], router
    os.kill(router["pid"], signal.SIGKILL)
    wait_gone([router["pid"]], timeout=10)
    again = run_kdiag("lab", "up", "--dir", str(lab.paths.root))
    assert again.exit_code == 0 and "restarted kube-router/worker25" in again.stderr, again.stderr
    lab.apply(_netpol("deny", DENY_INGRESS), shop.back)  # db runs on worker25
    assert not reaches(lab, f"{shop.front}/web", shop.ips["db"], 5432, expected=False)
