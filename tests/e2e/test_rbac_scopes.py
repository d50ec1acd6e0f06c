"""Users with less than cluster-admin: kdiag does what their RBAC allows, like kubectl."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kdiag.exitcodes import ExitCode
from tests.conftest import Lab, run_kdiag


@pytest.fixture
def namespace_reader(lab: Lab, namespace: str, tmp_path: Path) -> Iterator[str]:
    """A kubeconfig for a service account that may list pods in `namespace` and nothing else
    (not even get the namespace itself)."""
    lab.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    lab.kubectl("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", namespace)
    lab.kubectl("create", "rolebinding", "pod-reader", "--role=pod-reader",
                f"--serviceaccount={namespace}:reader", "-n", namespace)
    token = lab.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
    config = yaml.safe_load(lab.kubeconfig.read_text())
    config["users"] = [{"name": "reader", "user": {"token": token}}]
    config["contexts"] = [{"name": "reader", "context": {"cluster": "kdiag-lab", "user": "reader",
                                                         "namespace": namespace}}]
    config["current-context"] = "reader"
    path = tmp_path / "reader.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    yield str(path)


def test_namespace_scoped_rbac_is_enough_to_list_pods(
    lab: Lab, namespace: str, namespace_reader: str
) -> None:
    lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo"},
               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, namespace)
    listed = run_kdiag("pods", "--kubeconfig", namespace_reader)
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.splitlines()[1].startswith("solo ")
    empty = run_kdiag("pods", "-l", "app=none", "--kubeconfig", namespace_reader)
    assert (empty.exit_code, empty.stderr.strip()) == (0, f"No resources found in {namespace} namespace.")


def test_viewer_without_nodes_still_gets_the_net_and_json_views(lab: Lab) -> None:
    for output in ("net", "json"):
        result = lab.kdiag("pods", "-o", output, context="kdiag-lab-viewer")
        assert result.exit_code == 0, result.stderr
        assert "nodes" in result.stderr and "warning" in result.stderr  # says what it could not read
    document = json.loads(lab.kdiag("pods", "-o", "json", context="kdiag-lab-viewer").stdout)
    hello = next(p for p in document["items"] if p["name"].startswith("hello-app-1"))
    assert hello["nodeIP"] == "10.250.0.24"  # from status.hostIP when the Node cannot be read


def test_viewer_tracing_an_unknown_pod_hears_not_found_not_forbidden(lab: Lab) -> None:
    result = lab.kdiag("trace", "hello-app-1", "no-such-pod", context="kdiag-lab-viewer")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "not found" in result.stderr
