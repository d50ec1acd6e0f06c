"""Services through the real kube-proxy in every node namespace: real packets to a ClusterIP.

The session lab runs nftables mode on bridge-vxlan; this module brings up two more labs for
iptables mode on ptp and on bridge-hostgw, so both proxy modes and all three datapaths carry
ClusterIP traffic same-node and cross-node.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kdiag_lab import binaries, lifecycle, netns
from kdiag_lab.kubelet_config import DataplaneConfig
from kdiag_lab.paths import LabPaths
from tests.conftest import Lab

pytestmark = pytest.mark.lab

TIMEOUT = 60.0
ASK = (
    "import socket, sys; s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3);"
    "s.sendall(b'hi'); print(s.recv(200).decode().split()[0])"
)


@pytest.fixture(scope="module", params=["nftables/bridge-vxlan", "iptables/ptp", "iptables/bridge-hostgw"])
def proxied_lab(request: pytest.FixtureRequest, lab: Lab) -> Iterator[tuple[Lab, str]]:
    mode, datapath = request.param.split("/")
    if (mode, datapath) == ("nftables", "bridge-vxlan"):  # the session lab
        yield lab, mode
        return
    root = Path(tempfile.mkdtemp(prefix="kdiag-test-proxy-"))
    paths = LabPaths(root / "lab")
    try:
        state = lifecycle.up(paths, datapath=datapath, workers=2, emit=print, proxy_mode=mode)
        yield Lab(paths, state.server, binaries.resolve(build=False).kubectl), mode
    finally:
        lifecycle.down(paths, emit=lambda _m: None)
        shutil.rmtree(root, ignore_errors=True)


def _web(lab: Lab, ns: str) -> str:
    """Deployment web (2 replicas, one per node by anti-affinity), Service web 80 -> 8080,
    and a client pod on each node. Returns the ClusterIP once both endpoints are ready."""
    lab.kubectl("create", "namespace", ns)
    lab.kubectl("wait", "--for=create", "serviceaccount/default", "-n", ns, "--timeout=30s")
    labels = {"app": "web"}
    container = {"name": "hello-app", "image": "gcr.io/google-samples/hello-app:1.0",
                 "ports": [{"containerPort": 8080}]}
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}}
    lab.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
               "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                        "template": {"metadata": {"labels": labels},
                                     "spec": {"affinity": anti, "containers": [container]}}}})
    lab.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
               "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}})
    for node in ("worker24", "worker25"):
        lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"client-{node}", "namespace": ns},
                   "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0, "containers": [
                       {"name": "c", "image": "busybox:1.36", "command": ["sleep", "infinity"]}]}})
    lab.kubectl("wait", "--for=condition=Ready", "pod", "--all", "-n", ns, "--timeout=60s")
    deadline = time.monotonic() + TIMEOUT
    while True:
        slices = json.loads(lab.kubectl("get", "endpointslices", "-n", ns, "-l",
                                        "kubernetes.io/service-name=web", "-o", "json").stdout)["items"]
        endpoints = [e for s in slices for e in s.get("endpoints") or []]
        ready = [e for e in endpoints if (e.get("conditions") or {}).get("ready")]
        if len(ready) == 2:
            break
        assert time.monotonic() < deadline, f"EndpointSlice of web never listed 2 ready endpoints: {slices}"
        time.sleep(0.3)
    service = json.loads(lab.kubectl("get", "svc", "web", "-n", ns, "-o", "json").stdout)
    return str(service["spec"]["clusterIP"])


def _answers(ns: str, cluster_ip: str, expected: set[str]) -> set[str]:
    """Connect again and again until every expected backend answered (kube-proxy picks at random)."""
    seen: set[str] = set()
    deadline = time.monotonic() + TIMEOUT
    while seen != expected and time.monotonic() < deadline:
        result = netns.run_in(ns, [sys.executable, "-c", ASK, cluster_ip, "80"], check=False)
        if result.returncode == 0:
            seen.add(result.stdout.strip())
    return seen


def test_cluster_ip_reaches_both_endpoints_from_a_pod_on_each_node(proxied_lab: tuple[Lab, str]) -> None:
    lab, mode = proxied_lab
    ns = f"t-{uuid.uuid4().hex[:8]}"
    try:
        cluster_ip = _web(lab, ns)
        net = DataplaneConfig.load(lab.paths).network()
        pods = json.loads(lab.kubectl("get", "pods", "-n", ns, "-l", "app=web", "-o", "json").stdout)["items"]
        backends = {p["metadata"]["name"] for p in pods}
        assert {p["spec"]["nodeName"] for p in pods} == {"worker24", "worker25"}
        for node in ("worker24", "worker25"):
            # One backend on the client's node, one on the other: same-node and cross-node.
            assert _answers(net.pod_ns(f"{ns}/client-{node}"), cluster_ip, backends) == backends, node
            assert _answers(net.node_ns(node), cluster_ip, backends) == backends, node
        # The rules that did it, where kube-proxy put them.
        for node in ("worker24", "worker25"):
            show = (["nft", "list", "table", "ip", "kube-proxy"] if mode == "nftables"
                    else ["iptables", "-t", "nat", "-S", "KUBE-SERVICES"])
            rules = netns.run_in(net.node_ns(node), show).stdout
            assert cluster_ip in rules and f"{ns}/web" in rules, rules
        # Cluster DNS through this proxy mode: CoreDNS behind 10.96.0.10, search path in the pod.
        for node in ("worker24", "worker25"):
            resolved = subprocess.run(
                [sys.executable, "-m", "kdiag", "lab", "exec", "--dir", str(lab.paths.root),
                 f"pod/{ns}/client-{node}", "--", "getent", "hosts", "web"],
                capture_output=True, text=True, timeout=60, check=False,
            )
            assert resolved.stdout.split()[:1] == [cluster_ip], (node, resolved.stdout, resolved.stderr)
    finally:
        lab.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_proxy_mode_is_in_the_kube_proxy_configmap_and_lab_state(proxied_lab: tuple[Lab, str]) -> None:
    import yaml

    lab, mode = proxied_lab
    cm = json.loads(lab.kubectl("get", "cm", "kube-proxy", "-n", "kube-system", "-o", "json").stdout)
    assert yaml.safe_load(cm["data"]["config.conf"])["mode"] == mode
    status = lifecycle.status(lab.paths)
    assert status["proxyMode"] == mode
    proxies = [d for d in status["daemons"] if d["name"].startswith("kube-proxy/")]
    assert sorted(d["name"] for d in proxies) == ["kube-proxy/worker24", "kube-proxy/worker25"]
    assert all(d["healthy"] and d["version"] == f"Kubernetes {binaries.KUBERNETES_VERSION}" for d in proxies)


def test_pods_reach_the_kubernetes_service(proxied_lab: tuple[Lab, str]) -> None:
    """10.96.0.1:443 -> the advertise address 10.250.0.2 -> the relay -> the apiserver."""
    lab, _mode = proxied_lab
    net = DataplaneConfig.load(lab.paths).network()
    readyz = ("import ssl, sys, urllib.request as u; c = ssl.create_default_context(cafile=sys.argv[1]);"
              "print(u.urlopen('https://10.96.0.1/readyz', context=c, timeout=10).read().decode())")
    for ns in (net.pod_ns("default/helm-wp-wordpress-57b6df6549-drbbk"), net.node_ns("worker24")):
        result = netns.run_in(ns, [sys.executable, "-c", readyz, str(lab.paths.ca_cert)], check=False)
        assert result.stdout.strip() == "ok", (ns, result.stderr)
