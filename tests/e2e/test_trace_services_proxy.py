"""`kdiag trace` through Services on a lab that runs kube-proxy (each proxy mode), CoreDNS behind
kube-dns and the EndpointSlice controller: the healthy chain to svc/helm-wp-wordpress by every name
form, and real faults (one replica unreachable, a wrong targetPort, CoreDNS scaled to zero,
kube-proxy gone with its rules removed on the source node), each named with its node.

The nftables lab is the session lab; the iptables one is private to this module. Faults are undone
and the undo is awaited (the Service answers again), so later tests see a healthy lab.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kdiag_lab import binaries, faults, lifecycle, netns, processes, service_sync
from kdiag_lab.coredns import COREFILE
from kdiag_lab.kubelet_config import DataplaneConfig
from kdiag_lab.paths import LabPaths
from kdiag_lab.topology import LabNetwork
from tests.conftest import Lab
from tests.e2e.trace_helpers import HELLO_1, codes, finding, probe_pods, trace
from tests.lab.topology_helpers import tcp_ok

pytestmark = pytest.mark.lab
SRC_NODE = "worker24"  # HELLO_1's node
WP = "helm-wp-wordpress"
MODES = ["nftables", "iptables"]


@dataclass
class ProxyLab:
    lab: Lab
    mode: str
    net: LabNetwork


def _until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module", params=MODES)
def plab(request: pytest.FixtureRequest, lab: Lab) -> Iterator[ProxyLab]:
    mode: str = request.param
    state = lifecycle.LabState.load(lab.paths)
    if state is not None and getattr(state, "proxy_mode", "") == mode:
        yield ProxyLab(lab, mode, DataplaneConfig.load(lab.paths).network())
        return
    root = Path(tempfile.mkdtemp(prefix=f"kdiag-test-svc-{mode}-"))
    paths = LabPaths(root / "lab")
    try:
        state = lifecycle.up(paths, datapath="bridge-vxlan", workers=2, emit=lambda _m: None,
                             proxy_mode=mode)  # type: ignore[call-arg]
        yield ProxyLab(Lab(paths, state.server, binaries.resolve(build=False).kubectl), mode,
                       DataplaneConfig.load(paths).network())
    finally:
        lifecycle.down(paths, emit=lambda _m: None)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def namespace(plab: ProxyLab) -> Iterator[str]:
    """A fresh namespace in this module's lab (the iptables one is not the session lab)."""
    lab, name = plab.lab, f"t-{uuid.uuid4().hex[:8]}"
    lab.kubectl("create", "namespace", name)
    lab.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=30s")
    yield name
    lab.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _ready_endpoints(lab: Lab, namespace: str, service: str, *, ready_only: bool = True) -> list[str]:
    which = "[?(@.conditions.ready==true)]" if ready_only else "[*]"
    ready = f"jsonpath={{range .items[*].endpoints{which}}}{{.addresses[0]}} {{end}}"
    out = lab.kubectl("get", "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service}",
                      "-o", ready, check=False).stdout
    return out.split()


def _ok(result: Any, doc: dict[str, Any]) -> None:
    assert result.exit_code == 0, (result.stderr, codes(doc), doc.get("verdict"))
    assert doc["verdict"]["status"] == "ok"


def test_healthy_chain_by_every_name(plab: ProxyLab) -> None:
    lab = plab.lab
    _until(lambda: _ready_endpoints(lab, "default", WP) == ["10.244.2.3"], f"the {WP} EndpointSlice")
    cluster_ip = lab.kubectl("get", "service", WP, "-o", "jsonpath={.spec.clusterIP}").stdout.strip()
    for dst in (f"svc/{WP}", WP, f"{WP}.default", f"{WP}.default.svc.cluster.local", cluster_ip,
                f"{cluster_ip}:80"):
        result, doc = trace(lab, HELLO_1, dst)
        _ok(result, doc)
        svc = doc["service"]
        assert svc["name"] == WP and svc["translatedBy"]["implementation"] == "kube-proxy"
        assert svc["translatedBy"]["mode"] == plab.mode
        assert svc["frontends"][0]["result"]["state"] == "open"
        assert [(e["address"], e["node"], e["result"]["state"]) for e in svc["endpoints"]] == [
            ("10.244.2.3", "worker25", "open")]
        assert "SVC_AS_EXPECTED" in codes(doc)
        if dst.startswith(cluster_ip):
            assert doc["dns"] is None
        else:
            assert doc["dns"]["observed"]["outcome"] == "answer", doc["dns"]
            assert doc["dns"]["observed"]["addresses"] == [cluster_ip] and "DNS_AS_EXPECTED" in codes(doc)
    text = lab.kdiag("trace", HELLO_1, f"svc/{WP}").stdout
    assert "Service chain" in text and f"translated by kube-proxy ({plab.mode})" in text
    assert probe_pods(lab) == []


def _web(plab: ProxyLab, namespace: str, target_port: int = 8080) -> None:
    lab, mode = plab.lab, plab.mode
    for name, node in (("web-a", "worker24"), ("web-b", "worker25")):
        lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
                   "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0, "containers": [
                       {"name": "main", "image": "nicolaka/netshoot:v0.13",
                        "ports": [{"name": "http", "containerPort": 8080}]}]}}, namespace)
    lab.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80,
                                                                "targetPort": target_port}]}}, namespace)
    _until(lambda: len(_ready_endpoints(lab, namespace, "web")) == 2, "two ready endpoints of web")
    # The lab's kube-router programs a new pod's firewall a moment after it runs, rejecting until
    # then (as on a real cluster): wait until both pods answer their containerPort directly.
    net = plab.net
    ips = []
    for name in ("web-a", "web-b"):
        ip = lab.kubectl("get", "pod", name, "-n", namespace, "-o", "jsonpath={.status.podIP}").stdout
        _until(lambda ip=ip: tcp_ok(net, net.pod_ns(f"default/{HELLO_1}"), ip, 8080),
               f"{name} reachable from {HELLO_1}")
        ips.append(ip)
    # kube-proxy on the source node programs the Service a moment after its EndpointSlice is
    # ready (its minSyncPeriod); until then the ClusterIP goes untranslated, as on a real node.
    cluster_ip = lab.kubectl("get", "service", "web", "-n", namespace,
                             "-o", "jsonpath={.spec.clusterIP}").stdout
    endpoints = [(ip, target_port) for ip in ips]
    _until(lambda: service_sync.translates(service_sync.rules(net, SRC_NODE, mode), cluster_ip, endpoints),
           f"kube-proxy on {SRC_NODE} translating {cluster_ip} to {ips} port {target_port}")


def test_one_replica_unreachable_is_named_with_its_node(plab: ProxyLab, namespace: str) -> None:
    lab = plab.lab
    _web(plab, namespace)
    with faults.drop(plab.net.pod_ns(f"{namespace}/web-b"), "tcp", 8080):
        result, doc = trace(lab, HELLO_1, f"svc/{namespace}/web")
    assert result.exit_code == 1, result.stderr
    f = finding(doc, "ENDPOINT_UNREACHABLE")
    assert f["node"] == "worker25" and "web-b, on worker25" in f["message"] and "1 answer" in f["message"]
    assert "SVC_NOT_TRANSLATED" not in codes(doc)


def test_wrong_target_port_is_refused_through_the_cluster_ip(plab: ProxyLab, namespace: str) -> None:
    lab = plab.lab
    _web(plab, namespace, target_port=8081)
    result, doc = trace(lab, HELLO_1, f"svc/{namespace}/web")
    assert result.exit_code == 1, result.stderr
    f = finding(doc, "SVC_PORT_MISMATCH")
    assert "2 of 2 endpoint(s)" in f["message"] and "declare containerPorts 8080" in f["hint"]
    assert doc["service"]["frontends"][0]["result"]["state"] == "closed"  # DNAT to :8081, then RST


def test_coredns_scaled_to_zero_is_dns_failed(plab: ProxyLab) -> None:
    lab = plab.lab
    lab.kubectl("scale", "deployment", "coredns", "-n", "kube-system", "--replicas=0")
    try:
        # Gone, not just unready: kube-proxy keeps sending to serving, terminating endpoints when no
        # endpoint is ready (and CoreDNS answers while it shuts down).
        _until(lambda: _ready_endpoints(lab, "kube-system", "kube-dns", ready_only=False) == [],
               "kube-dns without endpoints", timeout=90)
        result, doc = trace(lab, HELLO_1, f"svc/{WP}")
        assert result.exit_code == 1, result.stderr
        f = finding(doc, "DNS_FAILED")
        assert "nameserver 10.96.0.10" in f["message"] and "CoreDNS is scaled to zero" in f["hint"]
        assert doc["dns"]["nameserverEndpoints"] == 0
        assert "SVC_AS_EXPECTED" in codes(doc)  # the Service itself still works
    finally:
        lab.kubectl("scale", "deployment", "coredns", "-n", "kube-system", "--replicas=1")
        _until(lambda: bool(_ready_endpoints(lab, "kube-system", "kube-dns")), "CoreDNS back")


def _coredns_serving(plab: ProxyLab, corefile: str) -> None:
    """Give CoreDNS this Corefile and restart it, as an operator's edit and rollout would; return
    once only the new pod is behind kube-dns and the source node's kube-proxy sends there."""
    lab = plab.lab
    old = lab.kubectl("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns",
                      "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    lab.apply({"apiVersion": "v1", "kind": "ConfigMap", "data": {"Corefile": corefile},
               "metadata": {"name": "coredns", "namespace": "kube-system"}})
    lab.kubectl("delete", "pods", "-n", "kube-system", *old, "--wait=false")

    def only_the_new_pod() -> bool:
        pods = json.loads(lab.kubectl("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns",
                                      "-o", "json").stdout)["items"]
        ips = [p["status"].get("podIP") for p in pods if p["metadata"]["name"] not in old]
        return (len(pods) == 1 and len(ips) == 1 and bool(ips[0])
                and _ready_endpoints(lab, "kube-system", "kube-dns", ready_only=False) == ips
                and service_sync.translates(service_sync.rules(plab.net, SRC_NODE, plab.mode), "10.96.0.10",
                                            [(ips[0], 53)]))

    _until(only_the_new_pod, "CoreDNS restarted with its new Corefile behind kube-dns", timeout=90)


def test_a_corefile_answering_the_wrong_address_is_dns_mismatch(plab: ProxyLab, namespace: str) -> None:
    lab = plab.lab
    _web(plab, namespace)
    name = f"web.{namespace}.svc.cluster.local"
    # A hosts entry left in the Corefile (hosts runs before the kubernetes plugin): the name
    # resolves, to an address that is not the Service's.
    hosts = f"    hosts {{\n       10.96.250.250 {name}\n       fallthrough\n    }}\n"
    stale = COREFILE.replace("    kubernetes ", hosts + "    kubernetes ", 1)
    assert stale != COREFILE
    _coredns_serving(plab, stale)
    try:
        result, doc = trace(lab, HELLO_1, f"svc/{namespace}/web")
    finally:
        _coredns_serving(plab, COREFILE)
    assert result.exit_code == 1, result.stderr
    f = finding(doc, "DNS_MISMATCH")
    assert "10.96.250.250" in f["message"] and "nameserver 10.96.0.10" in f["message"], f
    assert "rewrite or stub domain in the Corefile" in f["hint"]
    assert doc["dns"]["observed"]["addresses"] == ["10.96.250.250"]
    assert "SVC_AS_EXPECTED" in codes(doc)  # the Service itself, by its ClusterIP, works


def _stop_kube_proxy(lab: Lab, node: str) -> None:
    """Stop the node's kube-proxy as a crash would leave it: gone, its rules left in place."""
    state = lifecycle.LabState.load(lab.paths)
    assert state is not None
    daemon = next(d for d in state.daemons if d.name == f"kube-proxy/{node}")
    assert processes.stop(daemon.pid, daemon.marker), f"kube-proxy/{node} was not running"


def _remove_rules(net: LabNetwork, node: str, mode: str) -> None:
    ns = net.node_ns(node)
    if mode == "nftables":
        netns.run_in(ns, ["nft", "delete", "table", "ip", "kube-proxy"])
    else:
        netns.run_in(ns, ["iptables", "-t", "nat", "-F", "KUBE-SERVICES"])


def test_kube_proxy_gone_with_its_rules_removed_on_the_source_node(plab: ProxyLab) -> None:
    lab, net = plab.lab, plab.net
    _stop_kube_proxy(lab, SRC_NODE)
    try:
        _remove_rules(net, SRC_NODE, plab.mode)
        result, doc = trace(lab, HELLO_1, f"svc/{WP}")
    finally:
        # `lab up` on a lab with a daemon gone starts it again from its recorded command line and
        # waits for its health: a new kube-proxy syncs every rule at once (an old one, resumed,
        # would wait for a timer or a change to a Service it tracks).
        state = lifecycle.LabState.load(lab.paths)
        assert state is not None
        lifecycle.up(lab.paths, datapath=state.datapath, workers=state.workers, emit=lambda _m: None,
                     proxy_mode=plab.mode)
        _until(lambda: trace(lab, HELLO_1, f"svc/{WP}")[0].exit_code == 0,
               f"kube-proxy's rules back on {SRC_NODE}", timeout=60)
    assert result.exit_code == 1, result.stderr
    f = finding(doc, "SVC_NOT_TRANSLATED")
    assert f["node"] == SRC_NODE
    assert f"kube-proxy ({plab.mode}) does not translate it on {SRC_NODE}" in f["message"]
    # The DNS query goes to the kube-dns ClusterIP, which nothing translates either.
    assert "DNS_FAILED" in codes(doc)
