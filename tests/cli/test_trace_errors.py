"""`kdiag trace` input errors: one line on stderr, nothing on stdout, exit 2, no probe pod.

Flag errors need no cluster; name errors are checked against the session lab."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Lab, run_kdiag
from tests.e2e.trace_helpers import HELLO_1, HELLO_2, probe_pods


def _usage_error(result: Any, *needles: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.mark.parametrize(("flags", "needle"), [
    (["--proto", "sctp"], "unknown --proto 'sctp'"),
    (["--mode", "sidecar"], "unknown --mode 'sidecar'"),
    (["--engine", "magic"], "unknown --engine 'magic'"),
    (["--timeout", "0"], "--timeout must be more than 0"),
    (["--timeout", "soon"], "invalid --timeout 'soon'"),
    (["--mode", "ephemeral", "--probe-namespace", "x"], "--probe-namespace does not apply"),
    # A deadline the API would refuse as activeDeadlineSeconds is refused here, before any request.
    (["--timeout", "99999999999999h"], "--timeout 3.6e+17s is too long"),
    # kubectl refuses flags that cannot work together; ICMP has no ports.
    (["--proto", "icmp", "--port", "80"], "--port 80 does not apply to --proto icmp"),
    # --port is a number or a Service port's name (IANA_SVC_NAME); --max-endpoints is bounded.
    (["--proto", "icmp", "--port", "http"], "--port http does not apply to --proto icmp"),
    (["--port", "Not_A_Name"], "--port 'Not_A_Name' is neither a port number nor a valid port name"),
    (["--max-endpoints", "0"], "--max-endpoints"),
    (["--max-endpoints", "61"], "--max-endpoints"),
])
def test_bad_flags_need_no_cluster(flags: list[str], needle: str, tmp_path: Any) -> None:
    missing = tmp_path / "no-kubeconfig"
    _usage_error(run_kdiag("trace", "a", "b", *flags, f"--kubeconfig={missing}"), needle)


def test_out_of_range_port_is_a_usage_error() -> None:
    result = run_kdiag("trace", "a", "b", "--port", "70000")
    assert result.exit_code == 2 and "--port" in result.stderr and "65535" in result.stderr


@pytest.mark.lab
class TestAgainstTheLab:
    def test_no_match_lists_candidates(self, lab: Lab) -> None:
        _usage_error(lab.kdiag("trace", "nosuchpod", HELLO_2), 'pod "nosuchpod" not found', HELLO_1)

    def test_ambiguous_prefix_lists_candidates(self, lab: Lab) -> None:
        _usage_error(lab.kdiag("trace", HELLO_1, "hello-app"), "matches 2 pods", HELLO_1, HELLO_2)

    def test_same_pod_twice(self, lab: Lab) -> None:
        _usage_error(lab.kdiag("trace", HELLO_1, f"default/{HELLO_1}"), "same pod")

    def test_unknown_namespace(self, lab: Lab) -> None:
        _usage_error(lab.kdiag("trace", "nosuchns/x", HELLO_2), 'namespace "nosuchns" not found')

    def test_pod_that_is_not_running(self, lab: Lab, namespace: str) -> None:
        # No lab kubelet serves worker99: the pod stays Pending, without an IP.
        lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stuck"},
                   "spec": {"nodeName": "worker99", "containers": [{"name": "c", "image": "busybox:1.36"}]}},
                  namespace)
        _usage_error(lab.kdiag("trace", f"{namespace}/stuck", f"default/{HELLO_2}"), "is Pending")
        _usage_error(lab.kdiag("trace", f"default/{HELLO_1}", f"{namespace}/stuck"), "is Pending")

    def test_ipv6_destination(self, lab: Lab) -> None:
        _usage_error(lab.kdiag("trace", HELLO_1, "fd00::1"), "IPv6")

    def test_tcp_without_a_port(self, lab: Lab, namespace: str) -> None:
        lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "noports"},
                   "spec": {"nodeName": "worker24", "containers": [{"name": "c", "image": "busybox:1.36"}]}},
                  namespace)
        lab.kubectl("wait", "--for=condition=Ready", "pod/noports", "-n", namespace, "--timeout=30s")
        _usage_error(lab.kdiag("trace", f"default/{HELLO_1}", f"{namespace}/noports", "--proto", "tcp"),
                     "--proto tcp needs a port")
        _usage_error(lab.kdiag("trace", f"default/{HELLO_1}", f"{namespace}/noports", "--proto", "udp"),
                     "--proto udp needs a port")
        assert probe_pods(lab) == []
