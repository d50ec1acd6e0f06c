"""Issue 3 acceptance on the lab: `kdiag pods` is `kubectl get pod -o wide`, line for line."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import Lab

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schema"
GHOST = "ghost-node"
KNOWN_IMAGE = "nicolaka/netshoot:v0.13"  # no kubelet serves it: the test writes these pods' status itself


def _ago(**delta: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _container_status(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "imageID": "", "ready": False, "restartCount": 0, **fields}


def _pod(lab: Lab, ns: str, name: str, status: dict[str, Any] | None, image: str = "busybox",
         **spec: Any) -> None:
    body = {"containers": [{"name": "main", "image": image}], **spec}
    lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}, ns)
    if status is not None:
        lab.kubectl("patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": status}))


def _varied_pods(lab: Lab, ns: str) -> None:
    """Pods in the states kubectl's STATUS column distinguishes."""
    # No node has the label: kube-scheduler leaves it Pending (PodScheduled False, Unschedulable).
    _pod(lab, ns, "pending", None, nodeSelector={"kdiag.dev/no-such-node": "true"})
    # Run by the lab kubelet, which knows the probe image and fails to pull any unknown one.
    _pod(lab, ns, "running", None, image=KNOWN_IMAGE, nodeName="worker24")
    _pod(lab, ns, "hostnet", None, image=KNOWN_IMAGE, nodeName="worker25", hostNetwork=True)
    _pod(lab, ns, "nopull", None, image="registry.invalid/nothing:1", nodeName="worker25")
    _pod(lab, ns, "init", {
        "phase": "Pending",
        "initContainerStatuses": [
            _container_status("setup", state={"running": {"startedAt": _ago(hours=1)}})
        ],
        "containerStatuses": [_container_status("main", state={"waiting": {"reason": "PodInitializing"}})],
    }, nodeName=GHOST, initContainers=[{"name": "setup", "image": "busybox"}])
    _pod(lab, ns, "crashloop", {
        "phase": "Running", "podIP": "10.244.9.5", "podIPs": [{"ip": "10.244.9.5"}, {"ip": "fd00::5"}],
        "containerStatuses": [_container_status(
            "main", restartCount=2, state={"waiting": {"reason": "CrashLoopBackOff"}},
            lastState={"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": _ago(hours=3)}},
        )],
    }, nodeName=GHOST)
    _pod(lab, ns, "completed", {
        "phase": "Succeeded",
        "containerStatuses": [_container_status(
            "main",
            state={"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": _ago(hours=2)}},
        )],
    }, nodeName=GHOST)
    _pod(lab, ns, "failed", {
        "phase": "Failed",
        "containerStatuses": [_container_status(
            "main", state={"terminated": {"exitCode": 2, "reason": "Error", "finishedAt": _ago(hours=2)}})],
    }, nodeName=GHOST)
    _pod(lab, ns, "creating", {
        "phase": "Pending",
        "containerStatuses": [_container_status("main", state={"waiting": {"reason": "ContainerCreating"}})],
    }, nodeName=GHOST)
    _pod(lab, ns, "terminating", {
        "phase": "Running", "podIP": "10.244.9.6", "podIPs": [{"ip": "10.244.9.6"}],
        "containerStatuses": [
            _container_status("main", ready=True, state={"running": {"startedAt": _ago(hours=1)}})
        ],
    }, nodeName=GHOST)
    lab.kubectl("delete", "pod", "terminating", "-n", ns, "--wait=false")
    lab.kubectl("wait", "--for=condition=Ready", "pod/running", "pod/hostnet", "-n", ns, "--timeout=30s")
    lab.kubectl("wait", "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=ImagePullBackOff",
                "pod/nopull", "-n", ns, "--timeout=30s")


def _cells(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]


def assert_same_table(kubectl_out: str, kdiag_out: str) -> None:
    """Identical text, or identical cell by cell but for AGE when the clock ticked between runs."""
    if kubectl_out == kdiag_out:
        return
    want, got = _cells(kubectl_out), _cells(kdiag_out)
    assert len(want) == len(got), f"kubectl:\n{kubectl_out}\nkdiag:\n{kdiag_out}"
    age = want[0].index("AGE")
    for expected, actual in zip(want, got, strict=True):
        masked = [c for i, c in enumerate(expected) if i != age]
        assert masked == [c for i, c in enumerate(actual) if i != age], f"{expected} != {actual}"


@pytest.fixture(scope="module")
def varied(lab: Lab) -> Iterator[str]:
    ns = f"t-pods-{uuid.uuid4().hex[:6]}"
    lab.kubectl("create", "namespace", ns)
    lab.kubectl("wait", "--for=create", "serviceaccount/default", "-n", ns, "--timeout=30s")
    # The Node exists (no kubelet serves it): kube-controller-manager's pod GC deletes pods bound
    # to a node that does not exist after 40 s, as on any cluster, and these must stay put.
    lab.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": GHOST}})
    _varied_pods(lab, ns)
    yield ns
    lab.kubectl("delete", "namespace", ns, "--wait=false", check=False)
    lab.kubectl("delete", "node", GHOST, "--wait=false", check=False)


def test_pods_match_kubectl_line_for_line_in_one_namespace(lab: Lab, varied: str) -> None:
    kubectl = lab.kubectl("get", "pod", "-o", "wide", "-n", varied).stdout
    result = lab.kdiag("pods", "-n", varied)
    assert result.exit_code == 0, result.stderr
    assert_same_table(kubectl, result.stdout)
    statuses = {row[0]: row[2] for row in _cells(result.stdout)[1:]}
    assert statuses == {
        "completed": "Completed", "crashloop": "CrashLoopBackOff", "creating": "ContainerCreating",
        "failed": "Error", "hostnet": "Running", "init": "Init:0/1", "pending": "Pending",
        "running": "Running", "terminating": "Terminating", "nopull": "ImagePullBackOff",
    }
    assert "2 (3h ago)" in result.stdout


def test_pods_match_kubectl_with_all_namespaces(lab: Lab, varied: str) -> None:
    kubectl = lab.kubectl("get", "pod", "-o", "wide", "-A").stdout
    result = lab.kdiag("pods", "-A")
    assert result.exit_code == 0, result.stderr
    assert_same_table(kubectl, result.stdout)
    assert result.stdout.startswith("NAMESPACE")


def test_empty_namespace_says_so_on_stderr_like_kubectl(lab: Lab, namespace: str) -> None:
    result = lab.kdiag("pods", "-n", namespace)
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr.strip() == f"No resources found in {namespace} namespace."
    assert lab.kubectl("get", "pods", "-n", namespace).stderr.strip() == result.stderr.strip()


def test_net_view_flags_ips_outside_the_node_cidr(lab: Lab, varied: str) -> None:
    rows = {r[0]: r for r in _cells(lab.kdiag("pods", "-n", varied, "-o", "net").stdout)}
    assert rows["NAME"][:4] == ["NAME", "IPS", "NODE", "NODE IP"]
    assert rows["crashloop"][1] == "10.244.9.5,fd00::5"
    assert rows["running"][3] == "10.250.0.24" and rows["running"][4] == "10.244.1.0/24"
    assert rows["running"][-1] == "<none>"
    assert rows["hostnet"][5] == "true"


def test_json_and_yaml_follow_the_schema(lab: Lab, varied: str) -> None:
    schema = json.loads((SCHEMAS / "podlist.schema.json").read_text())
    document = lab.kdiag("pods", "-n", varied, "-o", "json").json()
    jsonschema.validate(document, schema)
    assert document["kind"] == "PodList" and len(document["items"]) == 10
    by_name = {item["name"]: item for item in document["items"]}
    assert by_name["running"]["nodeIP"] == "10.250.0.24"
    assert by_name["crashloop"]["podIPs"] == ["10.244.9.5", "fd00::5"]
    import yaml

    assert yaml.safe_load(lab.kdiag("pods", "-n", varied, "-o", "yaml").stdout) == document
    names = lab.kdiag("pods", "-n", varied, "-o", "name").stdout.split()
    assert names == lab.kubectl("get", "pods", "-n", varied, "-o", "name").stdout.split()


def test_nodes_view(lab: Lab) -> None:
    result = lab.kdiag("nodes")
    rows = {r[0]: r for r in _cells(result.stdout)}
    assert rows["worker24"][:5] == ["worker24", "Ready", "<none>", "10.250.0.24", "10.244.1.0/24"]
    one = lab.kdiag("nodes", "worker25")
    assert [r[0] for r in _cells(one.stdout)] == ["NAME", "worker25"]
    missing = lab.kdiag("nodes", "worker99")
    assert missing.exit_code == 2 and 'nodes "worker99" not found' in missing.stderr
    document = lab.kdiag("nodes", "-o", "json").json()
    jsonschema.validate(document, json.loads((SCHEMAS / "nodelist.schema.json").read_text()))


def test_pairs_counts_match_a_brute_force_count(lab: Lab, varied: str) -> None:
    document = lab.kdiag("pairs", "-A", "-o", "json", "--list", "--limit", "0").json()
    jsonschema.validate(document, json.loads((SCHEMAS / "pairlist.schema.json").read_text()))
    pods = json.loads(lab.kubectl("get", "pods", "-A", "-o", "json").stdout)["items"]
    eligible = [
        p for p in pods
        if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")
        and p["status"].get("phase") == "Running" and p["status"].get("podIP")
    ]
    counts = {"same-node": 0, "cross-node": 0, "host-network": 0}
    for a, b in itertools.combinations(eligible, 2):
        if a["spec"].get("hostNetwork") or b["spec"].get("hostNetwork"):
            counts["host-network"] += 1
        elif a["spec"]["nodeName"] == b["spec"]["nodeName"]:
            counts["same-node"] += 1
        else:
            counts["cross-node"] += 1
    summary = document["summary"]
    assert (summary["sameNode"], summary["crossNode"], summary["hostNetwork"]) == (
        counts["same-node"], counts["cross-node"], counts["host-network"])
    assert len(document["items"]) == sum(counts.values()) == summary["pairs"]
    left_out = {(p["namespace"], p["name"]): p["reason"] for p in document["leftOut"]}
    assert left_out[(varied, "pending")] == "not-scheduled"
    assert left_out[(varied, "terminating")] == "terminating"
    assert left_out[(varied, "completed")] == "succeeded"


def _complete(lab: Lab, words: str) -> list[str]:
    """What bash completion offers for the last word of `words` (through the real entry point)."""
    env = dict(os.environ, _KDIAG_COMPLETE="complete_bash", COMP_WORDS=words,
               COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)),
               KUBECONFIG=str(lab.kubeconfig))
    result = subprocess.run([sys.executable, "-m", "kdiag"], env=env, capture_output=True, text=True,
                            timeout=60)
    return result.stdout.split()


def test_completion_offers_names_from_the_cluster(lab: Lab, varied: str) -> None:
    assert {"kdiag-lab", "kdiag-lab-viewer"} <= set(_complete(lab, "kdiag pods --context "))
    assert varied in _complete(lab, "kdiag pods -n t-pods-")
    assert _complete(lab, f"kdiag pods -n {varied} -o n") == ["net", "name"]
    assert set(_complete(lab, f"kdiag pairs -n {varied} -o ")) >= {"summary", "json"}
    assert _complete(lab, "kdiag trace hello-app-1") == ["hello-app-1-675b9f655c-8r76c"]
    assert _complete(lab, "kdiag nodes work") == ["worker24", "worker25"]
    assert _complete(lab, f"kdiag trace {varied}/cra") == [f"{varied}/crashloop"]
