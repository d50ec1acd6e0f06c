"""The seed cluster: the workloads and CNI objects `kdiag lab up` creates, as on the cluster kdiag's
examples come from. Seed pods carry their fixed IP in the `lab.kdiag.dev/pod-ip` annotation, which
the lab kubelet honours (there is no IPAM state to pre-load otherwise)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kdiag_lab.api import Api, ApiError
from kdiag_lab.kubelet_node import FIXED_IP_ANNOTATION
from kdiag_lab.topology import BRIDGE_VXLAN, PTP, LabNetwork

Json = dict[str, Any]
NAMESPACE = "default"


@dataclass(frozen=True)
class SeedPod:
    name: str
    ip: str
    node: str
    container: str
    image: str
    ports: tuple[tuple[str, int], ...]
    labels: dict[str, str] = field(default_factory=dict)


SEED_PODS = (
    SeedPod(
        "hello-app-1-675b9f655c-8r76c",
        "10.244.1.6",
        "worker24",
        "hello-app",
        "gcr.io/google-samples/hello-app:1.0",
        (("http", 8080),),
        {"app": "hello-app-1", "pod-template-hash": "675b9f655c"},
    ),
    SeedPod(
        "hello-app-2-787d8656bb-dfl8c",
        "10.244.1.7",
        "worker24",
        "hello-app",
        "gcr.io/google-samples/hello-app:2.0",
        (("http", 8080),),
        {"app": "hello-app-2", "pod-template-hash": "787d8656bb"},
    ),
    SeedPod(
        "helm-wp-mariadb-0",
        "10.244.1.3",
        "worker24",
        "mariadb",
        "docker.io/bitnami/mariadb:11.4.3-debian-12-r0",
        (("mysql", 3306),),
        {
            "app.kubernetes.io/name": "mariadb",
            "app.kubernetes.io/instance": "helm-wp",
            "statefulset.kubernetes.io/pod-name": "helm-wp-mariadb-0",
        },
    ),
    SeedPod(
        "helm-wp-wordpress-57b6df6549-drbbk",
        "10.244.2.3",
        "worker25",
        "wordpress",
        "docker.io/bitnami/wordpress:6.6.2-debian-12-r6",
        (("http", 80),),
        {
            "app.kubernetes.io/name": "wordpress",
            "app.kubernetes.io/instance": "helm-wp",
            "pod-template-hash": "57b6df6549",
        },
    ),
    SeedPod(
        "k8s-ingress-nginx-ingress-68467f5768-mkm5m",
        "10.244.2.4",
        "worker25",
        "nginx-ingress",
        "nginx/nginx-ingress:3.7.0",
        (("http", 80), ("https", 443)),
        {
            "app.kubernetes.io/name": "nginx-ingress",
            "app.kubernetes.io/instance": "k8s-ingress",
            "pod-template-hash": "68467f5768",
        },
    ),
)
SEED_IPS = frozenset(p.ip for p in SEED_PODS)


@dataclass(frozen=True)
class SeedService:
    """A Service as the seed workload's chart (or `kubectl expose`) creates it: ClusterIP, its
    selector the seed pod's labels, (name, port, targetPort) per port."""

    name: str
    selector: dict[str, str]
    ports: tuple[tuple[str, int, int | str], ...]
    labels: dict[str, str] = field(default_factory=dict)


def _helm(instance: str, name: str, chart: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": chart,
    }


SEED_SERVICES = (
    # `kubectl expose deployment hello-app-N --port 8080`: the selector is the Deployment's.
    SeedService("hello-app-1", {"app": "hello-app-1"}, (("", 8080, 8080),), {"app": "hello-app-1"}),
    SeedService("hello-app-2", {"app": "hello-app-2"}, (("", 8080, 8080),), {"app": "hello-app-2"}),
    SeedService(
        "helm-wp-wordpress",
        {"app.kubernetes.io/name": "wordpress", "app.kubernetes.io/instance": "helm-wp"},
        (("http", 80, "http"),),
        _helm("helm-wp", "wordpress", "wordpress-23.1.20"),
    ),
    SeedService(
        "helm-wp-mariadb",
        {"app.kubernetes.io/name": "mariadb", "app.kubernetes.io/instance": "helm-wp"},
        (("mysql", 3306, "mysql"),),
        _helm("helm-wp", "mariadb", "mariadb-19.0.5"),
    ),
    SeedService(
        "k8s-ingress-nginx-ingress",
        {"app.kubernetes.io/name": "nginx-ingress", "app.kubernetes.io/instance": "k8s-ingress"},
        (("http", 80, 80), ("https", 443, 443)),
        _helm("k8s-ingress", "nginx-ingress", "nginx-ingress-1.4.0"),
    ),
)


def seed_service_object(service: SeedService) -> Json:
    ports: list[Json] = []
    for name, port, target in service.ports:
        entry: Json = {"port": port, "targetPort": target, "protocol": "TCP"}
        if name:
            entry = {"name": name, **entry}
        ports.append(entry)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service.name, "namespace": NAMESPACE, "labels": service.labels},
        "spec": {"type": "ClusterIP", "selector": service.selector, "ports": ports},
    }
FLANNEL_IMAGE = "docker.io/flannel/flannel:v0.25.6"
CALICO_IMAGE = "docker.io/calico/node:v3.28.1"
POD_NETWORK = "10.244.0.0/16"


def seed_pod_object(pod: SeedPod) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": NAMESPACE,
            "labels": pod.labels,
            "annotations": {FIXED_IP_ANNOTATION: pod.ip},
        },
        "spec": {
            "nodeName": pod.node,
            "containers": [
                {
                    "name": pod.container,
                    "image": pod.image,
                    "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in pod.ports],
                }
            ],
        },
    }


def _daemonset(name: str, namespace: str, labels: dict[str, str], container: Json, account: str) -> Json:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostNetwork": True,
                    "serviceAccountName": account,
                    "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [container],
                },
            },
        },
    }


def cni_objects(datapath: str) -> tuple[str, list[tuple[str, Json]]]:
    """(namespace, [(collection path, object)]) for the CNI this datapath imitates."""
    if datapath == PTP:
        ns = "kube-system"
        config = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "calico-config", "namespace": ns},
            "data": {
                "calico_backend": "bird",
                "veth_mtu": "0",
                "cni_network_config": json.dumps(
                    {
                        "name": "k8s-pod-network",
                        "cniVersion": "0.3.1",
                        "plugins": [{"type": "calico", "ipam": {"type": "calico-ipam"}}],
                    }
                ),
            },
        }
        container = {
            "name": "calico-node",
            "image": CALICO_IMAGE,
            "securityContext": {"privileged": True},
            "env": [
                {"name": "CALICO_IPV4POOL_IPIP", "value": "Never"},
                {"name": "CALICO_IPV4POOL_VXLAN", "value": "Never"},
            ],
        }
        ds = _daemonset("calico-node", ns, {"k8s-app": "calico-node"}, container, "calico-node")
        account = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "calico-node", "namespace": ns},
        }
    else:
        ns = "kube-flannel"
        backend = "vxlan" if datapath == BRIDGE_VXLAN else "host-gw"
        config = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "kube-flannel-cfg",
                "namespace": ns,
                "labels": {"app": "flannel", "tier": "node"},
            },
            "data": {
                "cni-conf.json": json.dumps(
                    {
                        "name": "cbr0",
                        "cniVersion": "0.3.1",
                        "plugins": [
                            {"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
                            {"type": "portmap", "capabilities": {"portMappings": True}},
                        ],
                    },
                    indent=2,
                ),
                "net-conf.json": json.dumps(
                    {"Network": POD_NETWORK, "EnableNFTables": False, "Backend": {"Type": backend}}, indent=2
                ),
            },
        }
        container = {
            "name": "kube-flannel",
            "image": FLANNEL_IMAGE,
            "securityContext": {"privileged": True},
            "env": [
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            ],
        }
        ds = _daemonset("kube-flannel-ds", ns, {"app": "flannel", "tier": "node"}, container, "flannel")
        account = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "flannel", "namespace": ns},
        }
    return ns, [
        (f"/api/v1/namespaces/{ns}/serviceaccounts", account),
        (f"/api/v1/namespaces/{ns}/configmaps", config),
        (f"/apis/apps/v1/namespaces/{ns}/daemonsets", ds),
    ]


def apply(
    api: Api, net: LabNetwork, emit: Callable[[str], None], timeout: float = 60.0
) -> list[tuple[str, str]]:
    """Create the CNI objects, seed pods and their Services. Returns the (namespace, name) of every
    pod created."""
    ns, objects = cni_objects(net.datapath)
    api.ensure(
        "/api/v1/namespaces",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
        },
    )
    created: list[tuple[str, str]] = []
    ds: Json = {}
    for path, body in objects:
        ds = api.ensure(path, body)
    emit(f"seeding {ds['metadata']['name']} in {ns} (its pods come from the DaemonSet controller) "
         f"and the workloads in {NAMESPACE}")
    # Pods are rejected until their ServiceAccount exists. The controller-manager creates `default`
    # in every namespace, asynchronously; creating it here too (409 = already there) saves a wait.
    api.ensure(
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
    )
    nodes = {n.name for n in net.nodes}
    for pod in [seed_pod_object(p) for p in SEED_PODS if p.node in nodes]:
        api.ensure(f"/api/v1/namespaces/{NAMESPACE}/pods", pod)
        created.append((NAMESPACE, pod["metadata"]["name"]))
    for service in SEED_SERVICES:
        api.ensure(f"/api/v1/namespaces/{NAMESPACE}/services", seed_service_object(service))
    return created


def wait_daemonset(api: Api, net: LabNetwork, timeout: float = 60.0) -> None:
    """Wait until the CNI DaemonSet has a Ready pod on every lab node (its controller reports it)."""
    ns, objects = cni_objects(net.datapath)
    name = objects[-1][1]["metadata"]["name"]
    deadline = time.monotonic() + timeout
    status: Json = {}
    while time.monotonic() < deadline:
        status = api.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/{name}").get("status", {})
        if status.get("numberReady") == len(net.nodes) == status.get("desiredNumberScheduled"):
            return
        time.sleep(0.2)
    raise TimeoutError(f"DaemonSet {ns}/{name} not Ready on every node after {timeout:.0f}s: {status}")


def pod_ready(pod: Json) -> bool:
    """Running with its Ready condition True, as an EndpointSlice controller counts it."""
    status = pod.get("status", {})
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return status.get("phase") == "Running" and conditions.get("Ready") == "True"


def wait_running(api: Api, pods: list[tuple[str, str]], timeout: float = 60.0) -> None:
    """Watch until every listed pod is Running and Ready (no polling: one watch on all pods)."""
    pending = set(pods)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        listing = api.get("/api/v1/pods")
        for pod in listing["items"]:
            if pod_ready(pod):
                pending.discard((pod["metadata"]["namespace"], pod["metadata"]["name"]))
        if not pending:
            return
        left = max(int(deadline - time.monotonic()), 1)
        try:
            for event in api.watch(
                "/api/v1/pods", listing["metadata"]["resourceVersion"], timeout_seconds=left
            ):
                obj = event["object"]
                if event["type"] in ("ADDED", "MODIFIED") and pod_ready(obj):
                    pending.discard((obj["metadata"]["namespace"], obj["metadata"]["name"]))
                    if not pending:
                        return
        except ApiError as exc:
            if exc.status != 410:
                raise
    if pending:
        raise TimeoutError(f"seed pods not Running after {timeout:.0f}s: {sorted(n for _, n in pending)}")
