"""Issue 2 acceptance: the lab runs a real kube-apiserver that behaves like a cluster's."""

from __future__ import annotations

import json
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

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


def test_in_lab_clients_reach_the_apiserver_by_the_names_kubeadm_signs(lab: Lab) -> None:
    """The `kubernetes` Service points at the control-plane node's underlay address on the
    apiserver's port, and the serving certificate covers every name a pod may dial."""
    import ssl

    from cryptography import x509

    from kdiag_lab.topology import CONTROL_PLANE_IP

    port = int(lab.server.rsplit(":", 1)[1])
    service = json.loads(lab.kubectl("get", "service", "kubernetes", "-n", "default", "-o", "json").stdout)
    assert service["spec"]["clusterIP"] == "10.96.0.1"
    endpoints = json.loads(
        lab.kubectl("get", "endpoints", "kubernetes", "-n", "default", "-o", "json").stdout
    )
    subset = endpoints["subsets"][0]
    assert [a["ip"] for a in subset["addresses"]] == [CONTROL_PLANE_IP]
    assert [p["port"] for p in subset["ports"]] == [port]
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    names = x509.load_pem_x509_certificate(pem.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value
    ips = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    dns = set(names.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", CONTROL_PLANE_IP, "10.96.0.1"} <= ips
    assert {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local"} <= dns


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.2)


def _json(lab: Lab, *args: str) -> Any:
    return json.loads(lab.kubectl(*args, "-o", "json").stdout)


def test_a_deployment_is_scheduled_running_and_collected_by_the_real_controllers(
    lab: Lab, namespace: str
) -> None:
    lab.kubectl("create", "deployment", "web", "--image=gcr.io/google-samples/hello-app:1.0",
                "--replicas=2", "--port=8080", "-n", namespace)
    lab.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=60s")
    pods = _json(lab, "get", "pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == 2
    nodes = {n["metadata"]["name"] for n in _json(lab, "get", "nodes")["items"]}
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["nodeName"] in nodes  # bound by kube-scheduler: the manifest names none
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert pod["metadata"]["name"].startswith(pod["metadata"]["generateName"])
    lab.kubectl("expose", "deployment", "web", "--port=8080", "-n", namespace)

    def both_ready() -> bool:
        slices = _json(lab, "get", "endpointslices", "-n", namespace,
                       "-l", "kubernetes.io/service-name=web")["items"]
        ready = {e["addresses"][0] for s in slices for e in s.get("endpoints") or []
                 if e["conditions"].get("ready")}
        return ready == {p["status"]["podIP"] for p in pods}

    _wait(both_ready, 30, "the EndpointSlice of Service web lists both pods ready")
    # Foreground deletion: the garbage collector removes the ReplicaSet and its pods first.
    lab.kubectl("delete", "deployment", "web", "-n", namespace, "--cascade=foreground", "--timeout=60s")
    _wait(lambda: not _json(lab, "get", "pods", "-n", namespace, "-l", "app=web")["items"], 60,
          "the garbage collector deleted the Deployment's pods")


def test_controller_manager_and_scheduler_are_the_pinned_upstream_binaries(lab: Lab) -> None:
    status = run_kdiag("lab", "status", "--dir", str(lab.paths.root), "-o", "json").json()
    components = {c["name"]: c for c in status["daemons"]}
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert components[name]["healthy"], components[name]
        assert components[name]["version"] == f"Kubernetes {binaries.KUBERNETES_VERSION}"
    assert "controllers" not in components  # the hand-written controllers daemon is gone


def test_lab_nodes_stay_ready_and_untainted_past_the_node_monitor_grace_period(lab: Lab) -> None:
    """The node-lifecycle controller taints a node whose Lease is older than 50 s; the lab
    kubelet renews it. Wait until every node has existed for more than a minute, then look."""
    nodes = _json(lab, "get", "nodes")["items"]
    oldest_needed = max(
        datetime.fromisoformat(n["metadata"]["creationTimestamp"].replace("Z", "+00:00")) for n in nodes
    ) + timedelta(seconds=65)
    # A duration, not a condition: nothing announces "no taint appeared", so wait it out.
    time.sleep(max(0.0, (oldest_needed - datetime.now(timezone.utc)).total_seconds()))
    for node in _json(lab, "get", "nodes")["items"]:
        name = node["metadata"]["name"]
        assert not node["spec"].get("taints"), (name, node["spec"].get("taints"))
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", (name, ready)
        lease = _json(lab, "get", "lease", name, "-n", "kube-node-lease")
        renewed = datetime.fromisoformat(lease["spec"]["renewTime"].replace("Z", "+00:00"))
        assert datetime.now(timezone.utc) - renewed < timedelta(seconds=20), (name, lease["spec"])
        assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]


def test_seed_services_select_their_seed_pods(lab: Lab) -> None:
    from kdiag_lab.seed import SEED_PODS, SEED_SERVICES

    ip_of = {p.name: p.ip for p in SEED_PODS}
    wanted = {
        "hello-app-1": ["hello-app-1-675b9f655c-8r76c"],
        "hello-app-2": ["hello-app-2-787d8656bb-dfl8c"],
        "helm-wp-wordpress": ["helm-wp-wordpress-57b6df6549-drbbk"],
        "helm-wp-mariadb": ["helm-wp-mariadb-0"],
        "k8s-ingress-nginx-ingress": ["k8s-ingress-nginx-ingress-68467f5768-mkm5m"],
    }
    assert {s.name for s in SEED_SERVICES} == set(wanted)

    def endpoints(service: str) -> set[str]:
        slices = _json(lab, "get", "endpointslices", "-n", "default",
                       "-l", f"kubernetes.io/service-name={service}")["items"]
        return {e["addresses"][0] for s in slices for e in s.get("endpoints") or []
                if e["conditions"].get("ready")}

    for service, pods in wanted.items():
        ips = {ip_of[n] for n in pods}
        _wait(lambda: endpoints(service) == ips, 30, f"Service {service} selects {pods}")  # noqa: B023
    ports = {s["metadata"]["name"]: [(p["port"], p["targetPort"]) for p in s["spec"]["ports"]]
             for s in _json(lab, "get", "services", "-n", "default")["items"]}
    assert ports["helm-wp-wordpress"] == [(80, "http")]
    assert ports["helm-wp-mariadb"] == [(3306, "mysql")]
    assert ports["k8s-ingress-nginx-ingress"] == [(80, 80), (443, 443)]
    assert ports["hello-app-1"] == ports["hello-app-2"] == [(8080, 8080)]
