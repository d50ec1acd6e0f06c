"""kdiag.cluster.services against the lab's real kube-apiserver: Services, EndpointSlices and the
Service-datapath objects parsed and translated; RBAC refusals as one line.

The lab in main has no kube-controller-manager yet, so the tests create the EndpointSlices
themselves (as the EndpointSlice controller would: one slice per resolved port set, labelled
kubernetes.io/service-name), under their own managed-by label so a real controller leaves them
alone. Pods are bound to node names no lab kubelet serves, and their status is written through
the status subresource, as a kubelet would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kdiag.cluster.client import Cluster, ClusterOptions
from kdiag.cluster.services import (
    get_service,
    list_endpoint_slices,
    node_local_dns_present,
    proxy_facts,
    service_translation,
    services_with_cluster_ip,
)
from kdiag.errors import CannotProbeError, NotFoundError
from kdiag.exitcodes import ExitCode
from kdiag.model.service import find_port
from kdiag.model.service_proxy import service_proxy
from tests.conftest import Lab

pytestmark = pytest.mark.lab
MANAGED_BY = {"endpointslice.kubernetes.io/managed-by": "kdiag-tests"}


def cluster(lab: Lab, context: str | None = None, kubeconfig: str | None = None) -> Cluster:
    return Cluster(ClusterOptions(kubeconfig=kubeconfig or str(lab.kubeconfig), context=context))


def ghost_pod(lab: Lab, namespace: str, name: str, *, node: str, ip: str, port: int,
              ready: bool = True) -> None:
    """A pod on a node no kubelet serves, with the status a kubelet would have written."""
    lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
               "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox",
                        "ports": [{"name": "web", "containerPort": port}]}]}}, namespace)
    status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    lab.kubectl("patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": status}))


def endpoint_slice(lab: Lab, namespace: str, name: str, service: str, port: int | None,
                   endpoints: list[dict[str, Any]]) -> None:
    labels = {"kubernetes.io/service-name": service, **MANAGED_BY}
    lab.apply({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
               "metadata": {"name": name, "labels": labels},
               "ports": [{"name": "http", "port": port, "protocol": "TCP"}], "endpoints": endpoints},
              namespace)


def endpoint(ip: str, node: str, pod: str, namespace: str, ready: bool = True) -> dict[str, Any]:
    return {"addresses": [ip], "nodeName": node, "conditions": {"ready": ready, "serving": ready},
            "targetRef": {"kind": "Pod", "name": pod, "namespace": namespace}}


def web_service(lab: Lab, namespace: str, **spec: Any) -> None:
    base = {"selector": {"app": "web"}, "sessionAffinity": "ClientIP",
            "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}
    lab.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {**base, **spec}},
              namespace)


def test_named_target_port_resolves_per_pod_through_the_slices(lab: Lab, namespace: str) -> None:
    ghost_pod(lab, namespace, "web-a", node="ghost-1", ip="10.201.1.5", port=8080)
    ghost_pod(lab, namespace, "web-b", node="ghost-2", ip="10.201.2.5", port=9090)
    ghost_pod(lab, namespace, "web-c", node="ghost-2", ip="10.201.2.6", port=8080, ready=False)
    web_service(lab, namespace)
    endpoint_slice(lab, namespace, "web-8080", "web", 8080, [
        endpoint("10.201.1.5", "ghost-1", "web-a", namespace),
        endpoint("10.201.2.6", "ghost-2", "web-c", namespace, ready=False)])
    endpoint_slice(lab, namespace, "web-9090", "web", 9090,
                   [endpoint("10.201.2.5", "ghost-2", "web-b", namespace)])

    api = cluster(lab)
    service = get_service(api, namespace, "web")
    assert service.cluster_ip and service.ports[0].target_port == "web"
    assert (service.session_affinity, service.affinity_timeout) == ("ClientIP", 10800)
    translation = service_translation(api, service, port=find_port(service, None), source_node="ghost-1")
    used = sorted((b.label, b.pod, b.node_name, b.local) for b in translation.used)
    assert used == [("10.201.1.5:8080", f"{namespace}/web-a", "ghost-1", True),
                    ("10.201.2.5:9090", f"{namespace}/web-b", "ghost-2", False)]
    unused = [b for b in translation.backends if not b.used]
    assert [(b.pod, b.reason) for b in unused] == [(f"{namespace}/web-c", "not ready")]
    assert all(b.expected_port == b.port for b in translation.backends)
    assert translation.issues == () and any("ClientIP" in n for n in translation.notes)
    assert [s.key for s in services_with_cluster_ip(api, service.cluster_ip)] == [f"{namespace}/web"]


def test_wrong_target_port_and_empty_selector_show_in_the_translation(lab: Lab, namespace: str) -> None:
    # A pod the lab kubelet runs: kube-controller-manager publishes only pods on existing nodes.
    lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-a", "labels": {"app": "web"}},
               "spec": {"nodeName": "worker24", "containers": [{
                   "name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"],
                   "ports": [{"name": "web", "containerPort": 8080}]}]}}, namespace)
    web_service(lab, namespace, ports=[{"name": "http", "port": 80, "targetPort": "metrics"}])
    api = cluster(lab)
    service = get_service(api, namespace, "web")
    # The EndpointSlice controller publishes the pod without the port it cannot resolve.
    deadline = time.monotonic() + 30
    while not any(s.endpoints for s in list_endpoint_slices(api, service)):
        assert time.monotonic() < deadline, "no EndpointSlice lists web-a"
        time.sleep(0.2)
    translation = service_translation(api, service, port=service.ports[0], source_node="worker24")
    undeclared = translation.issue("target-port-undeclared")
    assert undeclared is not None and undeclared.pods == (f"{namespace}/web-a",)
    # kube-proxy has nothing for this port.
    assert translation.used == ()
    assert translation.issue("port-not-in-slice") is not None

    lab.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nothing"},
               "spec": {"selector": {"app": "none"}, "ports": [{"port": 80}]}}, namespace)
    nothing = get_service(api, namespace, "nothing")
    empty = service_translation(api, nothing, port=nothing.ports[0], source_node="ghost-1")
    issue = empty.issue("selector-matches-nothing")
    assert empty.backends == () and issue is not None and "app=none" in issue.message


def test_headless_and_external_name_services_parse(lab: Lab, namespace: str) -> None:
    lab.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
               "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}],
                        "internalTrafficPolicy": "Local"}}, namespace)
    lab.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
               "spec": {"type": "ExternalName", "externalName": "my.database.example.com"}}, namespace)
    api = cluster(lab)
    db = get_service(api, namespace, "db")
    assert (db.headless, db.cluster_ips, db.internal_traffic_policy) == (True, (), "Local")
    assert db.ports[0].target_port == 5432  # the API defaults targetPort to port
    ext = get_service(api, namespace, "ext")
    assert (ext.is_external_name, ext.external_name, ext.cluster_ips) == (True, "my.database.example.com", ())


def test_unknown_service_is_a_one_line_not_found_naming_what_is_there(lab: Lab, namespace: str) -> None:
    web_service(lab, namespace)
    with pytest.raises(NotFoundError) as info:
        get_service(cluster(lab), namespace, "wbe")
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.one_line() == (f'service "wbe" not found in namespace "{namespace}" '
                                     "(services there: web)")
    with pytest.raises(NotFoundError, match='namespace "no-such-ns" not found'):
        get_service(cluster(lab), "no-such-ns", "web")


@pytest.fixture
def service_reader(lab: Lab, namespace: str, tmp_path: Path) -> Iterator[str]:
    """A kubeconfig for a service account that may read Services in `namespace`, nothing else."""
    lab.kubectl("create", "serviceaccount", "svc-reader", "-n", namespace)
    lab.kubectl("create", "role", "svc-reader", "--verb=get,list", "--resource=services", "-n", namespace)
    lab.kubectl("create", "rolebinding", "svc-reader", "--role=svc-reader",
                f"--serviceaccount={namespace}:svc-reader", "-n", namespace)
    token = lab.kubectl("create", "token", "svc-reader", "-n", namespace).stdout.strip()
    config = yaml.safe_load(lab.kubeconfig.read_text())
    config["users"] = [{"name": "svc-reader", "user": {"token": token}}]
    config["contexts"] = [{"name": "svc-reader", "context": {"cluster": "kdiag-lab", "user": "svc-reader",
                                                             "namespace": namespace}}]
    config["current-context"] = "svc-reader"
    path = tmp_path / "svc-reader.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    yield str(path)


def test_forbidden_endpointslices_is_one_line_and_datapath_objects_become_notes(
        lab: Lab, namespace: str, service_reader: str) -> None:
    web_service(lab, namespace)
    api = cluster(lab, kubeconfig=service_reader)
    service = get_service(api, namespace, "web")
    with pytest.raises(CannotProbeError) as info:
        list_endpoint_slices(api, service)
    assert info.value.exit_code == ExitCode.CANNOT_PROBE and info.value.status == 403
    expected = f"forbidden (403): cannot list endpointslices in namespace {namespace}"
    assert info.value.message.startswith(expected)
    assert "\n" not in info.value.one_line()
    facts = proxy_facts(api)  # not essential: said, not raised
    assert "daemonsets in all namespaces (forbidden)" in facts.unreadable
    assert "configmap kube-system/kube-proxy (forbidden)" in facts.unreadable
    assert service_proxy(facts).notes[0].startswith("not read: daemonsets")


def test_kube_proxy_mode_from_the_configmap(lab: Lab) -> None:
    """The kube-proxy ConfigMap as kubeadm writes it; an existing one (a lab running kube-proxy)
    is read as it is, else the test makes one with mode nftables and removes it."""
    existing = lab.kubectl("get", "configmap", "kube-proxy", "-n", "kube-system", "-o", "json", check=False)
    created = existing.returncode != 0
    if created:
        conf = yaml.safe_dump({"apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                               "kind": "KubeProxyConfiguration", "mode": "nftables"})
        lab.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-proxy"},
                   "data": {"config.conf": conf}}, "kube-system")
    try:
        shown = lab.kubectl("get", "configmap", "kube-proxy", "-n", "kube-system", "-o", "json").stdout
        data = json.loads(shown)
        expected = yaml.safe_load(data["data"]["config.conf"]).get("mode") or ""
        for context in (None, "kdiag-lab-viewer"):
            facts = proxy_facts(cluster(lab, context=context))
            assert facts.kube_proxy_mode == expected and facts.unreadable == ()
            proxy = service_proxy(facts)
            assert (proxy.implementation, proxy.mode) == ("kube-proxy", expected or "iptables")
    finally:
        if created:
            lab.kubectl("delete", "configmap", "kube-proxy", "-n", "kube-system", check=False)


def _daemonset(name: str, image: str) -> dict[str, Any]:
    """A DaemonSet no node can run (its nodeSelector matches none): only its object matters."""
    labels = {"app": name}
    pod = {"nodeSelector": {"kdiag-tests/never": "true"}, "containers": [{"name": name, "image": image}]}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": pod}}}


@pytest.mark.parametrize(("daemonset", "configmap", "expected"), [
    (_daemonset("cilium", "quay.io/cilium/cilium:v1.16.0"),
     {"name": "cilium-config", "data": {"kube-proxy-replacement": "true"}}, ("cilium", "ebpf")),
    (_daemonset("antrea-agent", "antrea/antrea-agent-ubuntu:v2.1.0"),
     {"name": "antrea-config",
      "data": {"antrea-agent.conf": "antreaProxy:\n  enable: true\n  proxyAll: true\n"}},
     ("antrea", "openflow")),
    (_daemonset("ovnkube-node", "ghcr.io/ovn-org/ovn-kubernetes/ovn-kube-ubuntu:v1.0.0"), None,
     ("ovn-kubernetes", "ovn-load-balancer")),
])
def test_cni_service_proxies_are_detected_from_their_objects(
        lab: Lab, namespace: str, daemonset: dict[str, Any], configmap: dict[str, Any] | None,
        expected: tuple[str, str]) -> None:
    lab.apply(daemonset, namespace)
    if configmap:
        lab.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": configmap["name"]},
                   "data": configmap["data"]}, namespace)
    try:
        proxy = service_proxy(proxy_facts(cluster(lab)))
        assert (proxy.implementation, proxy.mode) == expected
        assert any(f"daemonset {namespace}/{daemonset['metadata']['name']}" in e for e in proxy.evidence)
    finally:  # other tests of the session share the lab: no CNI DaemonSet may outlive this one
        lab.kubectl("delete", "daemonset", daemonset["metadata"]["name"], "-n", namespace, "--wait=false")


def test_node_local_dns_daemonset(lab: Lab) -> None:
    api = cluster(lab)
    assert not node_local_dns_present(api)
    lab.apply(_daemonset("node-local-dns", "registry.k8s.io/dns/k8s-dns-node-cache:1.23.1"), "kube-system")
    try:
        assert node_local_dns_present(api)
    finally:
        lab.kubectl("delete", "daemonset", "node-local-dns", "-n", "kube-system")
