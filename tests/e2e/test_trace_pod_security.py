"""Pod Security and host-network sources: the probe must share the host network, which no engine
fallback can fix, so kdiag says what can (an ephemeral container in the source pod itself)."""

from __future__ import annotations

import json

from kdiag.exitcodes import ExitCode
from tests.conftest import Lab
from tests.e2e.trace_helpers import probe_pods

WORDPRESS = "helm-wp-wordpress-57b6df6549-drbbk"


def test_host_network_source_into_a_baseline_namespace_points_at_ephemeral_mode(
    lab: Lab, namespace: str
) -> None:
    lab.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=baseline")
    flannel = json.loads(lab.kubectl("get", "pods", "-n", "kube-flannel", "-o", "json").stdout)["items"]
    source = next(p["metadata"]["name"] for p in flannel if p["spec"]["nodeName"] == "worker24")
    result = lab.kdiag("trace", f"kube-flannel/{source}", f"default/{WORDPRESS}",
                       "--probe-namespace", namespace)
    assert result.exit_code == ExitCode.CANNOT_PROBE
    assert "falling back" not in result.stderr  # the unprivileged engine needs the host network too
    error = result.stderr.strip().splitlines()[-1]
    assert "host" in error and "--mode ephemeral" in error
    assert probe_pods(lab) == []
