"""Issue 2 acceptance: the lab runs a real kube-apiserver that behaves like a cluster's."""

from __future__ import annotations

import json
import socket
import tempfile
from pathlib import Path

from kdiag_lab import binaries, lifecycle
from kdiag_lab.paths import LabPaths
from kdiag_lab.processes import is_ours
from tests.conftest import Lab, _lab_prerequisites, run_kdiag


def _pod(name: str, *, node: str = "", capabilities: list[str] | None = None) -> dict[str, object]:
    container: dict[str, object] = {"name": "main", "image": "registry.k8s.io/pause:3.10"}
    if capabilities is not None:
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
            "capabilities": {"drop": ["ALL"], "add": capabilities},
        }
    spec: dict[str, object] = {"containers": [container]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def test_kubectl_sees_a_ready_apiserver_of_the_pinned_release(lab: Lab) -> None:
    assert lab.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
    version = json.loads(lab.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == binaries.KUBERNETES_VERSION
    assert version["clientVersion"]["gitVersion"] == binaries.KUBERNETES_VERSION
    names = lab.kubectl("get", "ns", "-o", "name").stdout.split()
    assert "namespace/default" in names and "namespace/kube-system" in names


def test_a_pod_bound_to_a_node_is_accepted(lab: Lab, namespace: str) -> None:
    lab.apply(_pod("bound", node="no-such-node-yet"), namespace)
    got = json.loads(lab.kubectl("get", "pod", "bound", "-n", namespace, "-o", "json").stdout)
    assert got["spec"]["nodeName"] == "no-such-node-yet"
    lab.kubectl("delete", "pod", "bound", "-n", namespace, "--grace-period=0", "--force", "--wait=false")


def test_pod_security_restricted_rejects_net_raw(lab: Lab, namespace: str) -> None:
    lab.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    rejected = lab.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        check=False,
        input=json.dumps(_pod("raw", capabilities=["NET_RAW"])),
    )
    assert rejected.returncode != 0
    assert "violates PodSecurity" in rejected.stderr and "NET_RAW" in rejected.stderr
    # The same pod without the capability is fine: the rejection is about NET_RAW, not the rest.
    lab.apply(_pod("plain", capabilities=[]), namespace)


def test_namespaces_get_a_default_service_account_and_the_root_ca(lab: Lab, namespace: str) -> None:
    lab.kubectl("wait", "--for=create", "configmap/kube-root-ca.crt", "-n", namespace, "--timeout=30s")
    ca = lab.kubectl(
        "get", "configmap", "kube-root-ca.crt", "-n", namespace, "-o", "jsonpath={.data.ca\\.crt}"
    ).stdout
    assert ca.strip() == lab.paths.ca_cert.read_text().strip()


def test_deleted_namespaces_are_finalized(lab: Lab) -> None:
    lab.kubectl("create", "namespace", "t-finalize")
    lab.kubectl("create", "configmap", "leftover", "-n", "t-finalize", "--from-literal=a=b")
    lab.kubectl("delete", "namespace", "t-finalize", "--timeout=60s")
    assert lab.kubectl("get", "namespace", "t-finalize", check=False).returncode != 0


def test_viewer_context_lists_pods_but_cannot_create_them(lab: Lab, namespace: str) -> None:
    assert lab.kubectl("get", "pods", "-n", namespace, context="kdiag-lab-viewer").returncode == 0
    denied = lab.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        check=False,
        context="kdiag-lab-viewer",
        input=json.dumps(_pod("nope")),
    )
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()


def _listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_up_twice_status_and_down_leaves_nothing_running() -> None:
    """A second, control-plane-only lab of its own, so the suite's lab is not disturbed."""
    _lab_prerequisites()
    paths = LabPaths(Path(tempfile.mkdtemp(prefix="kdiag-test-updown-")) / "lab")
    first = lifecycle.up(paths, datapath="", workers=0, emit=lambda _m: None, dataplane=False)
    try:
        again = run_kdiag("lab", "up", "--control-plane-only", "--dir", str(paths.root))
        assert again.exit_code == 0 and "already up" in again.stderr
        status = run_kdiag("lab", "status", "--dir", str(paths.root), "-o", "json").json()
        assert status["up"] is True and status["server"] == first.server
        port = int(first.server.rsplit(":", 1)[1])
        assert port in _listening_ports()
    finally:
        down = run_kdiag("lab", "down", "--dir", str(paths.root))
    assert down.exit_code == 0
    assert not any(is_ours(d.pid, d.marker) for d in first.daemons)
    assert port not in _listening_ports()
    with socket.socket() as sock:  # and the port is genuinely free again
        sock.bind(("127.0.0.1", port))
    assert not paths.root.exists()
    nothing = run_kdiag("lab", "down", "--dir", str(paths.root))
    assert nothing.exit_code == 0 and "nothing to do" in nothing.stderr
