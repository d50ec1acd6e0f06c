"""Rough edges a new user hit (issue 11): each error is one short line that says what is true."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from kdiag_lab import faults, lifecycle
from kdiag_lab.kubelet_config import DataplaneConfig
from tests.conftest import Lab
from tests.e2e.test_trace_probe import probe_pod_watch, wait_line
from tests.e2e.trace_helpers import HELLO_1, HELLO_2, WORDPRESS, probe_pods

pytestmark = pytest.mark.lab


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_a_cidr_destination_is_called_a_range_not_a_namespace(lab: Lab) -> None:
    result = lab.kdiag("trace", HELLO_1, "10.244.1.7/24")
    assert result.exit_code == 2 and result.stdout == ""
    line = _one_line(result.stderr)
    assert "CIDR" in line and "not a pod or an address" in line and "10.244.1.7" in line
    assert "namespace" not in line
    assert probe_pods(lab) == []


def test_a_limit_refusal_names_the_probe_pods_needs_in_words(lab: Lab, namespace: str) -> None:
    """LimitRange admission refuses the probe pod's 500m CPU limit: the hint says what the probe pod
    asks for in words (it printed a Python dict before)."""
    lab.apply({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "small"},
               "spec": {"limits": [{"type": "Container", "max": {"cpu": "100m"}}]}}, namespace)
    result = lab.kdiag("trace", HELLO_1, HELLO_2, "--probe-namespace", namespace)
    assert result.exit_code == 3
    line = _one_line(result.stderr)
    assert "maximum cpu usage per Container is 100m" in line
    assert "requests cpu 50m, memory 32Mi; limits cpu 500m, memory 128Mi" in line
    assert "{'" not in line and "':" not in line  # no Python dict repr
    assert probe_pods(lab) == []


def test_an_image_that_cannot_be_pulled_is_one_short_line(lab: Lab) -> None:
    image = "registry.invalid/kdiag/probe:0"
    result = lab.kdiag("trace", HELLO_1, HELLO_2, "--image", image, "--timeout", "20s")
    assert result.exit_code == 3
    line = _one_line(result.stderr)
    assert "ErrImagePull" in line and "--image" in line
    assert line.count(image) == 1, line  # said once, not once per event
    assert len(line) <= 250, (len(line), line)
    assert probe_pods(lab) == []


def test_an_api_server_lost_mid_trace_is_called_lost(lab: Lab) -> None:
    """The API server stops answering while the probe runs (SIGSTOP: it hangs, as behind a dead
    network): the error says the API server was lost, not that --timeout was too short."""
    state = lifecycle.LabState.load(lab.paths)
    assert state is not None
    apiserver = next(d.pid for d in state.daemons if d.name == "kube-apiserver")
    net = DataplaneConfig.load(lab.paths).network()
    watch = probe_pod_watch(lab)
    stopped = False
    try:
        # TCP to the destination is dropped, so the agent runs long enough to lose the API under it.
        with faults.drop(net.pod_ns(f"default/{WORDPRESS}"), "tcp", 80):
            argv = [sys.executable, "-m", "kdiag", "trace", HELLO_1, WORDPRESS, "--timeout", "4s",
                    f"--kubeconfig={lab.kubeconfig}"]
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                assert wait_line(watch, 30).startswith("pod/kdiag-probe-")
                os.kill(apiserver, signal.SIGSTOP)
                stopped = True
                _, err = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
    finally:
        if stopped:
            os.kill(apiserver, signal.SIGCONT)
        watch.kill()
        watch.wait()
    assert proc.returncode == 3, err
    assert "lost the API server" in err.strip().splitlines()[-1], err
    assert "raise --timeout" not in err
    # The deletion could not reach the server either, and said so; with the server back, cleanup works.
    assert "kdiag cleanup" in err
    assert lab.kdiag("cleanup", "-A", "--all").exit_code == 0
    assert probe_pods(lab) == []
