"""`kdiag lab exec` through the real command line: a node's and a pod's network namespace."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import Lab


def _lab_exec(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kdiag", "lab", "exec", "--dir", str(lab.paths.root), *args],
                          capture_output=True, text=True, timeout=60)


def test_exec_in_a_pod_sees_the_pods_address(lab: Lab) -> None:
    pod = "pod/default/hello-app-1-675b9f655c-8r76c"
    result = _lab_exec(lab, pod, "--", "ip", "-4", "-br", "addr", "show", "eth0")
    assert result.returncode == 0, result.stderr
    assert "10.244.1.6/24" in result.stdout


def test_exec_in_a_node_passes_the_exit_code_through(lab: Lab) -> None:
    routes = _lab_exec(lab, "node/worker24", "--", "ip", "-4", "route")
    assert "10.244.2.0/24" in routes.stdout  # the peer node's pod CIDR is routed from this node
    assert _lab_exec(lab, "node/worker24", "--", "sh", "-c", "exit 3").returncode == 3


def test_exec_unknown_target_is_a_usage_error(lab: Lab) -> None:
    result = _lab_exec(lab, "pod/no-such-pod", "--", "true")
    assert result.returncode == 2 and result.stderr.startswith("error: ")
