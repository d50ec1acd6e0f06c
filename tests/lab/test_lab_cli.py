"""`kdiag lab exec` and `kdiag lab status/up` through the real command line: a node's and a pod's
network namespace, component health, and a degraded lab brought back."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kdiag_lab import binaries, lifecycle
from kdiag_lab.paths import LabPaths
from kdiag_lab.processes import wait_gone
from tests.conftest import Lab, _lab_prerequisites, run_kdiag
from tests.schemas import validator


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


def test_exec_without_a_command_is_a_one_line_usage_error(lab: Lab) -> None:
    for target in ("node/worker24", "pod/default/hello-app-1-675b9f655c-8r76c"):
        result = _lab_exec(lab, target)
        assert result.returncode == 2, result
        lines = result.stderr.strip().splitlines()
        assert lines[0].startswith(f"error: no command to run in {target} (kdiag lab exec {target} --")
        assert len(lines) == 1
        assert "Traceback" not in result.stderr


def test_exec_without_dir_finds_the_lab_of_the_current_kubeconfig(lab: Lab, tmp_path: Path) -> None:
    # The default lab directory (under XDG_STATE_HOME) holds no lab: only KUBECONFIG can lead there.
    env = dict(os.environ, KUBECONFIG=f"{tmp_path / 'absent'}:{lab.kubeconfig}", XDG_STATE_HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "kdiag", "lab", "exec", "node/worker24", "--", "ip", "-4", "-br", "addr"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "10.250.0.24/24" in result.stdout
    env["KUBECONFIG"] = str(tmp_path / "absent")
    lost = subprocess.run([sys.executable, "-m", "kdiag", "lab", "exec", "node/worker24", "--", "true"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert lost.returncode != 0 and f"no lab data plane in {tmp_path}" in lost.stderr


def test_status_json_matches_its_schema_and_names_every_component(lab: Lab) -> None:
    result = run_kdiag("lab", "status", "--dir", str(lab.paths.root), "-o", "json")
    assert result.exit_code == 0, result.stdout
    document = result.json()
    validator("lab-status.schema.json").validate(document)
    names = [c["name"] for c in document["daemons"]]
    assert names[:4] == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert "lab-kubelet" in names
    assert {"api-relay", "kube-proxy/worker24", "kube-proxy/worker25", "coredns"} <= set(names)
    assert all(c["healthy"] for c in document["daemons"]), document["daemons"]
    checks = {c["name"]: c["check"] for c in document["daemons"]}
    assert checks["kube-apiserver"] == "readyz" and checks["kube-scheduler"] == "healthz"
    assert checks["api-relay"] == "relay-readyz" and checks["kube-proxy/worker24"] == "netns-healthz"
    coredns = next(c for c in document["daemons"] if c["name"] == "coredns")
    assert coredns["check"] == "dns"
    assert coredns["version"] == f"CoreDNS-{binaries.COREDNS_VERSION.lstrip('v')}"
    text = run_kdiag("lab", "status", "--dir", str(lab.paths.root))
    assert "kube-scheduler" in text.stdout and f"Kubernetes {binaries.KUBERNETES_VERSION}" in text.stdout


@pytest.fixture(scope="module")
def small_lab() -> Iterator[LabPaths]:
    """A control-plane-only lab of its own: these tests break it on purpose."""
    _lab_prerequisites()
    paths = LabPaths(Path(tempfile.mkdtemp(prefix="kdiag-test-degraded-")) / "lab")
    lifecycle.up(paths, datapath="", workers=0, emit=lambda _m: None, dataplane=False)
    yield paths
    lifecycle.down(paths, emit=lambda _m: None)
    shutil.rmtree(paths.root.parent, ignore_errors=True)


def _component(paths: LabPaths, name: str) -> dict[str, Any]:
    status = run_kdiag("lab", "status", "--dir", str(paths.root), "-o", "json").json()
    return next(c for c in status["daemons"] if c["name"] == name)


def test_up_on_a_degraded_lab_restarts_what_is_gone(small_lab: LabPaths) -> None:
    for name in ("kube-scheduler", "kube-controller-manager"):
        pid = _component(small_lab, name)["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_gone([pid], timeout=10)
    status = run_kdiag("lab", "status", "--dir", str(small_lab.root))
    assert status.exit_code == 1 and "DEGRADED" in status.stdout and "GONE" in status.stdout
    again = run_kdiag("lab", "up", "--control-plane-only", "--dir", str(small_lab.root))
    assert again.exit_code == 0, again.stderr
    assert "restarted kube-scheduler" in again.stderr and "restarted kube-controller-manager" in again.stderr
    assert "already up" not in again.stderr
    healthy = run_kdiag("lab", "status", "--dir", str(small_lab.root), "-o", "json")
    assert healthy.exit_code == 0 and healthy.json()["up"] is True


def test_up_on_a_lab_whose_component_hangs_fails_in_one_line(small_lab: LabPaths) -> None:
    scheduler = _component(small_lab, "kube-scheduler")
    os.kill(scheduler["pid"], signal.SIGSTOP)  # running, but its /healthz cannot answer
    try:
        status = run_kdiag("lab", "status", "--dir", str(small_lab.root), "-o", "json")
        assert status.exit_code == 1
        hung = next(c for c in status.json()["daemons"] if c["name"] == "kube-scheduler")
        assert hung["running"] and not hung["healthy"] and "/healthz" in hung["health"]
        again = run_kdiag("lab", "up", "--control-plane-only", "--dir", str(small_lab.root))
        assert again.exit_code != 0
        first = again.stderr.strip().splitlines()[0]
        assert first.startswith("error: ") and "kube-scheduler" in first and "not healthy" in first
    finally:
        os.kill(scheduler["pid"], signal.SIGCONT)
