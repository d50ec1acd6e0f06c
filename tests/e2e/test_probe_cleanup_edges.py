"""Probe pods are deleted even when the create request itself fails half-way."""

from __future__ import annotations

from kdiag.exitcodes import ExitCode
from tests.conftest import Lab
from tests.e2e.trace_helpers import probe_pods

SRC, DST = "hello-app-1-675b9f655c-8r76c", "hello-app-2-787d8656bb-dfl8c"


def test_a_create_that_times_out_leaves_no_probe_pod(lab: Lab) -> None:
    """With a few-millisecond request timeout the create may reach the server and still time
    out on the client: kdiag cannot know, so it must delete the pod anyway."""
    codes = set()
    for attempt in range(40):
        timeout = f"{2 + attempt % 10}ms"
        result = lab.kdiag("trace", SRC, DST, "--request-timeout", timeout, "-o", "json")
        codes.add(result.exit_code)
        assert "Traceback" not in result.stderr
    assert ExitCode.CANNOT_PROBE in codes  # the timeouts did happen
    assert probe_pods(lab) == []


def test_cleanup_spares_a_probe_pod_whose_trace_may_still_run(lab: Lab, namespace: str) -> None:
    """A probe pod is young and within its activeDeadlineSeconds while its trace runs: another
    operator's `kdiag cleanup` must not pull it from under them, unless asked with --all."""
    from tests.e2e.test_trace_probe import pod, running

    live = pod("kdiag-probe-live", labels={"app.kubernetes.io/managed-by": "kdiag"})
    live["spec"]["activeDeadlineSeconds"] = 600
    running(lab, namespace, live)
    spared = lab.kdiag("cleanup", "-n", namespace)
    assert spared.exit_code == 0 and spared.stdout == ""
    assert "kdiag-probe-live" in spared.stderr and "--all" in spared.stderr
    remaining = lab.kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.split()
    assert remaining == ["pod/kdiag-probe-live"]
    forced = lab.kdiag("cleanup", "-n", namespace, "--all")
    assert forced.exit_code == 0 and "kdiag-probe-live" in forced.stdout
    assert probe_pods(lab) == []
