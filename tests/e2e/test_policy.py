"""`kdiag policy` against the lab's real kube-apiserver: real NetworkPolicies, namespaces, RBAC.

The lab has no NetworkPolicy enforcer yet, so these tests check what kdiag reads and concludes from
the API objects (and its errors and exit codes), not what packets do.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kdiag.exitcodes import ExitCode
from tests.conftest import CliResult, Lab, run_kdiag
from tests.unit.test_documents import validator

pytestmark = pytest.mark.lab


def _pod(
    name: str, labels: dict[str, str], ports: list[dict[str, Any]], node: str = "worker24"
) -> dict[str, Any]:
    container = {"name": "main", "image": "nicolaka/netshoot:v0.13", "ports": ports}
    spec = {"nodeName": node, "terminationGracePeriodSeconds": 0, "containers": [container]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec}


def _netpol(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture
def shop(lab: Lab, namespace: str) -> Iterator[tuple[str, str]]:
    """(front namespace with web and batch pods, shop namespace with a db pod), all Running."""
    other = f"t-{uuid.uuid4().hex[:8]}"
    lab.kubectl("create", "namespace", other)
    lab.kubectl("label", "namespace", other, "team=shop")
    lab.kubectl("wait", "--for=create", "serviceaccount/default", "-n", other, "--timeout=30s")
    lab.apply(_pod("web", {"app": "web"}, [{"containerPort": 8080, "name": "http"}]), namespace)
    lab.apply(_pod("batch", {"app": "batch"}, []), namespace)
    lab.apply(
        _pod("db", {"app": "db"}, [{"containerPort": 5432, "name": "postgres"}], node="worker25"), other
    )
    for ns, name in ((namespace, "web"), (namespace, "batch"), (other, "db")):
        lab.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "-n", ns, "--timeout=30s")
    yield namespace, other
    lab.kubectl("delete", "namespace", other, "--wait=false", check=False)


def policy(
    lab: Lab, *args: str, context: str | None = None, kubeconfig: str | None = None
) -> tuple[CliResult, dict[str, Any]]:
    if kubeconfig:
        result = run_kdiag("policy", *args, "-o", "json", "--kubeconfig", kubeconfig)
    else:
        result = lab.kdiag("policy", *args, "-o", "json", context=context)
    document: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip() else {}
    if document:
        validator(
            "policymatrix.schema.json" if document["kind"] == "PolicyMatrix" else "policyverdict.schema.json"
        ).validate(document)
    return result, document


def test_default_deny_then_an_allow_from_label_policy(lab: Lab, shop: tuple[str, str]) -> None:
    front, back = shop
    open_result, document = policy(lab, f"{front}/web", f"{back}/db", "-p", "5432")
    assert (open_result.exit_code, document["verdict"]) == (ExitCode.OK, "allowed"), open_result.stderr
    lab.apply(_netpol("default-deny", {"podSelector": {}, "policyTypes": ["Ingress"]}), back)
    denied, document = policy(lab, f"{front}/web", f"{back}/db", "-p", "5432")
    assert (denied.exit_code, document["verdict"]) == (ExitCode.PROBLEM, "denied")
    assert document["ingress"]["isolated"] and document["ingress"]["rule"] is None
    assert document["ingress"]["fix"] == (
        f"add to policy default-deny an ingress rule from pods app=web in "
        f"namespace {front}, port 5432/TCP (named postgres)"
    )
    lab.apply(
        _netpol(
            "allow-web",
            {
                "podSelector": {"matchLabels": {"app": "db"}},
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": front}},
                                "podSelector": {"matchLabels": {"app": "web"}},
                            }
                        ],
                        "ports": [{"port": "postgres"}],
                    }
                ],
            },
        ),
        back,
    )
    allowed, document = policy(lab, f"{front}/web", f"{back}/db", "-p", "postgres")
    assert (allowed.exit_code, document["verdict"], document["port"]) == (ExitCode.OK, "allowed", 5432)
    assert document["ingress"]["rule"]["name"] == "allow-web" and document["ingress"]["rule"]["index"] == 1
    batch, document = policy(lab, f"{front}/batch", f"{back}/db", "-p", "5432")
    assert (batch.exit_code, document["verdict"]) == (ExitCode.PROBLEM, "denied")  # wrong label
    text = lab.kdiag("policy", f"{front}/web", f"{back}/db", "-p", "5433")
    assert text.exit_code == ExitCode.PROBLEM
    assert f"Ingress to {back}/db: denied (isolated; decided by NetworkPolicy)" in text.stdout
    assert "NetworkPolicy " + back + "/allow-web: no rule matches" in text.stdout


def test_egress_deny_and_ip_block_with_except(lab: Lab, shop: tuple[str, str]) -> None:
    front, back = shop
    db_ip = json.loads(lab.kubectl("get", "pod", "db", "-n", back, "-o", "json").stdout)["status"]["podIP"]
    lab.apply(
        _netpol(
            "egress",
            {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": [f"{db_ip}/32"]}}]}],
            },
        ),
        front,
    )
    result, document = policy(lab, f"{front}/web", f"{back}/db", "-p", "5432")
    assert (result.exit_code, document["egress"]["verdict"], document["ingress"]["verdict"]) == (
        ExitCode.PROBLEM,
        "denied",
        "allowed",
    )
    assert document["egress"]["fix"].startswith(
        f"add to policy egress an egress rule to pods app=db in namespace {back}"
    )
    batch, document = policy(lab, f"{front}/batch", f"{back}/db", "-p", "5432")
    assert batch.exit_code == ExitCode.OK and not document["egress"]["isolated"]  # not selected
    lab.apply(
        _netpol(
            "egress",
            {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.244.0.0/16"}}]}],
            },
        ),
        front,
    )
    result, document = policy(lab, f"{front}/web", f"{back}/db", "-p", "5432")
    assert result.exit_code == ExitCode.OK
    assert document["egress"]["rule"]["text"] == "to ipBlock 10.244.0.0/16; ports all ports"


def test_pod_ip_resolves_to_the_pod(lab: Lab, shop: tuple[str, str]) -> None:
    front, back = shop
    web_ip = json.loads(lab.kubectl("get", "pod", "web", "-n", front, "-o", "json").stdout)["status"]["podIP"]
    result, document = policy(lab, web_ip, f"{back}/db", "-p", "5432")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert (document["source"]["namespace"], document["source"]["name"]) == (front, "web")
    assert document["notes"] == [f"{web_ip} is pod {front}/web"]


def test_bad_input_is_one_line_with_exit_2(lab: Lab, shop: tuple[str, str]) -> None:
    front, back = shop
    cases = [
        (("policy", f"{front}/nosuch", f"{back}/db", "-p", "5432"), 'pod "nosuch" not found'),
        (
            ("policy", f"{front}/web", f"{back}/db", "-p", "mysql"),
            f'error: port name "mysql" (TCP): no container of {back}/db declares it '
            "(its ports: 5432/TCP (postgres))",
        ),
        (
            ("policy", f"{front}/web", f"{front}/batch"),
            f"error: --port is needed: {front}/batch declares no TCP",
        ),
    ]
    for args, message in cases:
        result = lab.kdiag(*args)
        assert result.exit_code == ExitCode.USAGE, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == "" and "Traceback" not in result.stderr


def test_sctp_with_only_tcp_rules_is_denied_and_says_so(lab: Lab, shop: tuple[str, str]) -> None:
    front, back = shop
    lab.apply(_netpol("tcp-only", {"podSelector": {}, "ingress": [{"ports": [{"port": 5432}]}]}), back)
    tcp, _ = policy(lab, f"{front}/web", f"{back}/db", "-p", "5432")
    assert tcp.exit_code == ExitCode.OK
    sctp, document = policy(lab, f"{front}/web", f"{back}/db", "-p", "5432", "--proto", "sctp")
    assert (sctp.exit_code, document["protocol"], document["verdict"]) == (ExitCode.PROBLEM, "SCTP", "denied")
    assert document["ingress"]["fix"].endswith("port 5432/SCTP")


def test_matrix_over_two_namespaces(lab: Lab, shop: tuple[str, str]) -> None:
    front, back = shop
    lab.apply(_netpol("default-deny", {"podSelector": {}, "policyTypes": ["Ingress"]}), back)
    lab.apply(
        _netpol(
            "allow-web",
            {
                "podSelector": {},
                "ingress": [
                    {"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "web"}}}]}
                ],
            },
        ),
        back,
    )
    result, document = policy(lab, "--matrix", "-n", f"{front},{back}", "-p", "5432")
    assert result.exit_code == ExitCode.OK, result.stderr
    web, batch, db = f"{front}/web", f"{front}/batch", f"{back}/db"
    assert sorted(document["pods"]) == sorted([batch, web, db])
    assert document["allowed"][web][db] is True and document["allowed"][batch][db] is False
    assert document["allowed"][db][web] is True and document["allowed"][db][db] is True
    assert document["summary"] == {"allowed": 8, "denied": 1, "unknown": 0}
    text = lab.kdiag("policy", "--matrix", "-n", f"{front},{back}", "-p", "5432")
    assert text.stdout.startswith("3 pods, 9 ordered pairs on 5432/TCP: 8 allowed, 1 denied, 0 unknown")


def test_viewer_context_reads_everything_it_needs(lab: Lab, shop: tuple[str, str]) -> None:
    front, back = shop
    lab.apply(_netpol("default-deny", {"podSelector": {}, "policyTypes": ["Ingress"]}), back)
    result, document = policy(lab, f"{front}/web", f"{back}/db", "-p", "5432", context="kdiag-lab-viewer")
    assert (result.exit_code, document["verdict"]) == (ExitCode.PROBLEM, "denied"), result.stderr
    assert document["policies"]["unreadable"] == []


@pytest.fixture
def half_reader(lab: Lab, shop: tuple[str, str], tmp_path: Path) -> str:
    """A kubeconfig for a user who may read pods in both namespaces but NetworkPolicies only in the
    front one, and no Namespace at all."""
    front, back = shop
    lab.kubectl("create", "serviceaccount", "half", "-n", front)
    lab.kubectl(
        "create",
        "role",
        "pods-and-policies",
        "--verb=get,list",
        "--resource=pods,networkpolicies",
        "-n",
        front,
    )
    lab.kubectl("create", "role", "pods", "--verb=get,list", "--resource=pods", "-n", back)
    for ns, role in ((front, "pods-and-policies"), (back, "pods")):
        lab.kubectl(
            "create", "rolebinding", "half", f"--role={role}", f"--serviceaccount={front}:half", "-n", ns
        )
    token = lab.kubectl("create", "token", "half", "-n", front).stdout.strip()
    config = yaml.safe_load(lab.kubeconfig.read_text())
    config["users"] = [{"name": "half", "user": {"token": token}}]
    config["contexts"] = [
        {"name": "half", "context": {"cluster": "kdiag-lab", "user": "half", "namespace": front}}
    ]
    config["current-context"] = "half"
    path = tmp_path / "half.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_policies_that_may_not_be_listed_make_the_verdict_unknown_naming_the_permission(
    lab: Lab, shop: tuple[str, str], half_reader: str
) -> None:
    front, back = shop
    lab.apply(_netpol("default-deny", {"podSelector": {}, "policyTypes": ["Ingress"]}), back)
    result, document = policy(lab, "web", f"{back}/db", "-p", "5432", kubeconfig=half_reader)
    assert (result.exit_code, document["verdict"]) == (ExitCode.CANNOT_PROBE, "unknown"), result.stderr
    assert document["egress"]["verdict"] == "allowed"
    assert (
        f"could not list the NetworkPolicies of namespace {back} (needs permission to list "
        f"networking.k8s.io/networkpolicies in namespace {back})"
    ) in document["ingress"]["reasons"]
    unreadable = {(g["kind"], g["namespace"]) for g in document["policies"]["unreadable"]}
    assert {("NetworkPolicy", back), ("Namespace", front), ("Namespace", back)} <= unreadable
    # A namespaceSelector on a label other than the name cannot be judged without the namespace's labels:
    lab.apply(
        _netpol(
            "from-team",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "shop"}}}]}],
            },
        ),
        front,
    )
    result, document = policy(lab, "web", f"{back}/db", "-p", "5432", kubeconfig=half_reader)
    assert document["egress"]["verdict"] == "unknown"
    assert "labels could not be read" in document["egress"]["reasons"][0]
    matrix, table = policy(lab, "--matrix", "-n", f"{front},{back}", "-p", "5432", kubeconfig=half_reader)
    assert matrix.exit_code == ExitCode.OK, matrix.stderr
    assert table["allowed"][f"{front}/batch"][f"{back}/db"] is None  # ingress to db cannot be judged
    # batch's egress is open only towards namespaces labelled team=shop, and front's labels are unreadable:
    assert table["allowed"][f"{front}/batch"][f"{front}/web"] is None
    # db's own namespace hides its NetworkPolicies, so its egress cannot be judged either; only the
    # diagonal is certain (a pod cannot block access to itself).
    assert table["allowed"][f"{back}/db"][f"{front}/web"] is None
    assert table["summary"] == {"allowed": 3, "denied": 0, "unknown": 6}


def _crd(group: str, version: str, kind: str, plural: str, scope: str) -> dict[str, Any]:
    """A minimal CustomResourceDefinition (kdiag's own, schema-less) standing in for the real one:
    what kdiag needs is that the API group is served and objects can be listed."""
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        # *.k8s.io groups are protected; "unapproved, ..." is the documented value for stand-ins.
        "metadata": {
            "name": f"{plural}.{group}",
            "annotations": {"api-approved.kubernetes.io": "unapproved, kdiag test stand-in"},
        },
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"kind": kind, "plural": plural},
            "versions": [{"name": version, "served": True, "storage": True, "schema": schema}],
        },
    }


@pytest.fixture
def crds(lab: Lab) -> Iterator[None]:
    made = [
        _crd("policy.networking.k8s.io", "v1alpha1", "AdminNetworkPolicy", "adminnetworkpolicies", "Cluster"),
        _crd("cilium.io", "v2", "CiliumNetworkPolicy", "ciliumnetworkpolicies", "Namespaced"),
    ]
    for crd in made:
        lab.apply(crd)
        lab.kubectl("wait", "--for=condition=Established", f"crd/{crd['metadata']['name']}", "--timeout=30s")
    yield
    lab.kubectl("delete", "adminnetworkpolicies.policy.networking.k8s.io", "--all", check=False)
    for crd in made:
        lab.kubectl("delete", "crd", crd["metadata"]["name"], "--wait=false", check=False)


def test_admin_policy_deny_beats_a_networkpolicy_allow(lab: Lab, shop: tuple[str, str], crds: None) -> None:
    front, back = shop
    lab.apply(_netpol("allow-all", {"podSelector": {}, "ingress": [{}]}), back)
    lab.apply(
        {
            "apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "AdminNetworkPolicy",
            "metadata": {"name": f"lock-{back}"},
            "spec": {
                "priority": 10,
                "subject": {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": back}}},
                "ingress": [
                    {
                        "name": "no-front",
                        "action": "Deny",
                        "from": [{"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": front}}}],
                    }
                ],
            },
        }
    )
    result, document = policy(lab, f"{front}/web", f"{back}/db", "-p", "5432")
    assert (result.exit_code, document["verdict"]) == (ExitCode.PROBLEM, "denied"), result.stderr
    assert document["ingress"]["decidedBy"] == "AdminNetworkPolicy"
    assert document["ingress"]["rule"]["ruleName"] == "no-front"
    assert "NetworkPolicy cannot override that" in document["ingress"]["fix"]


def test_cni_specific_policy_makes_the_verdict_unknown(lab: Lab, shop: tuple[str, str], crds: None) -> None:
    front, back = shop
    lab.apply(
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": "l7"},
            "spec": {"endpointSelector": {}},
        },
        back,
    )
    result, document = policy(lab, f"{front}/web", f"{back}/db", "-p", "5432")
    assert (result.exit_code, document["verdict"]) == (ExitCode.CANNOT_PROBE, "unknown"), result.stderr
    assert document["egress"]["verdict"] == "allowed"  # the Cilium policy lives in the other namespace
    assert document["ingress"]["reasons"][0].startswith(
        f"CiliumNetworkPolicy {back}/l7 may select pods in {back}"
    )
    assert document["policies"]["cniPolicies"] == [
        {"kind": "CiliumNetworkPolicy", "namespace": back, "name": "l7"}
    ]
