"""`kdiag pods NAME...` as `kubectl get pods NAME...`, and a pod named in the wrong namespace."""

from __future__ import annotations

from kdiag.exitcodes import ExitCode
from tests.conftest import Lab
from tests.e2e.test_pods import assert_same_table

PODS = ("hello-app-2-787d8656bb-dfl8c", "helm-wp-mariadb-0")


def test_pods_by_name_match_kubectl(lab: Lab) -> None:
    kubectl = lab.kubectl("get", "pods", *PODS, "-o", "wide").stdout
    result = lab.kdiag("pods", *PODS)
    assert result.exit_code == 0, result.stderr
    assert_same_table(kubectl, result.stdout)
    assert [item["name"] for item in lab.kdiag("pods", *reversed(PODS), "-o", "json").json()["items"]] == [
        *reversed(PODS)]


def test_pods_by_name_missing_and_across_namespaces(lab: Lab) -> None:
    missing = lab.kdiag("pods", PODS[0], "nope")
    assert missing.exit_code == ExitCode.USAGE and 'pods "nope" not found' in missing.stderr
    across = lab.kdiag("pods", "-A", PODS[0])
    assert across.exit_code == ExitCode.USAGE and "across all namespaces" in across.stderr


def test_a_pod_in_another_namespace_is_suggested(lab: Lab, namespace: str) -> None:
    lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
               "spec": {"nodeName": "ghost-node", "containers": [{"name": "main", "image": "busybox"}]}},
              namespace)
    result = lab.kdiag("trace", "web", PODS[0])
    assert result.exit_code == ExitCode.USAGE
    assert f"{namespace}/web" in result.stderr, result.stderr
