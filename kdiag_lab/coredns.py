"""CoreDNS as the lab's cluster DNS, as kubeadm installs it: the `coredns` Deployment in kube-system
with its Corefile ConfigMap, ServiceAccount and RBAC, behind the `kube-dns` Service at 10.96.0.10.

The lab kubelet runs the real CoreDNS binary as the image's entrypoint inside the pod's network
namespace; the kubernetes plugin uses the in-cluster config (KUBERNETES_SERVICE_HOST 10.96.0.1 via
kube-proxy and the relay, the ServiceAccount token Secret mounted where a pod has its token).
Nothing is forwarded: the lab is sealed, so names outside cluster.local get SERVFAIL/NXDOMAIN
(and kubeadm's `loop` plugin is left out: its self-query has no next plugin to go to).
"""

from __future__ import annotations

import time
from typing import Any

from kdiag_lab.api import Api, ApiError
from kdiag_lab.kubelet_config import COREDNS_IMAGE
from kdiag_lab.kubelet_sandbox import CLUSTER_DNS, CLUSTER_DOMAIN

NS = "kube-system"
TOKEN_SECRET = "coredns-token"
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
Json = dict[str, Any]

COREFILE = f""".:53 {{
    errors
    health {{
       lameduck 5s
    }}
    ready
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    cache 30
    loadbalance
}}
"""


def objects() -> list[tuple[str, Json]]:
    """(collection path, object), in creation order."""
    labels = {"k8s-app": "kube-dns"}
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    rules = [
        {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
         "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ]
    container = {
        "name": "coredns",
        "image": COREDNS_IMAGE,
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                  {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                  {"containerPort": 9153, "name": "metrics", "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}},
        "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": True},
                         {"name": "token", "mountPath": SA_MOUNT, "readOnly": True}],
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": NS, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "serviceAccountName": "coredns",
                # kubeadm's choice: CoreDNS itself resolves with the node's resolv.conf.
                "dnsPolicy": "Default",
                "containers": [container],
                "volumes": [
                    {"name": "config-volume", "configMap": {"name": "coredns"}},
                    {"name": "token", "secret": {"secretName": TOKEN_SECRET}},
                ],
            },
        }},
    }
    return [
        (f"/api/v1/namespaces/{NS}/serviceaccounts",
         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": NS}}),
        # A legacy token Secret the controller-manager fills (token, ca.crt, namespace): the lab
        # kubelet mounts secret volumes, not projected ServiceAccount tokens.
        (f"/api/v1/namespaces/{NS}/secrets",
         {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
          "metadata": {"name": TOKEN_SECRET, "namespace": NS,
                       "annotations": {"kubernetes.io/service-account.name": "coredns"}}}),
        (f"{rbac}/clusterroles",
         {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
          "metadata": {"name": "system:coredns"}, "rules": rules}),
        (f"{rbac}/clusterrolebindings",
         {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
          "metadata": {"name": "system:coredns"},
          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                      "name": "system:coredns"},
          "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": NS}]}),
        (f"/api/v1/namespaces/{NS}/configmaps",
         {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": NS},
          "data": {"Corefile": COREFILE}}),
        (f"/api/v1/namespaces/{NS}/services",
         {"apiVersion": "v1", "kind": "Service",
          "metadata": {"name": "kube-dns", "namespace": NS,
                       "labels": {**labels, "kubernetes.io/name": "CoreDNS"}},
          "spec": {"selector": labels, "clusterIP": CLUSTER_DNS, "ports": [
              {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
              {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
              {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}}),
        (f"/apis/apps/v1/namespaces/{NS}/deployments", deployment),
    ]


def _token_filled(api: Api) -> bool:
    secret = api.get(f"/api/v1/namespaces/{NS}/secrets/{TOKEN_SECRET}")
    return "token" in (secret.get("data") or {})


def apply(api: Api, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    for path, obj in objects():
        if obj["kind"] == "Deployment":
            # The pod must not start before its token Secret holds a token.
            while not _token_filled(api):
                if time.monotonic() > deadline:
                    raise TimeoutError("the controller-manager did not fill the coredns token Secret")
                time.sleep(0.2)
        try:
            api.create(path, obj)
        except ApiError as exc:
            if exc.status != 409:
                raise


def wait_ready(api: Api, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = api.get(f"/apis/apps/v1/namespaces/{NS}/deployments/coredns").get("status") or {}
        if status.get("readyReplicas", 0) >= 1:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"CoreDNS not ready within {timeout:.0f}s: {status}")
        time.sleep(0.3)


def _query(name: str) -> bytes:
    """A DNS query for `name` IN A (id 0x6b64, recursion desired)."""
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".") if part)
    return b"\x6b\x64\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + b"\x00\x00\x01\x00\x01"


def answers(netns_name: str, name: str = "kubernetes.default.svc.cluster.local") -> str:
    """Ask kube-dns (10.96.0.10) for `name` from inside a lab namespace, as a pod's resolver does
    (so through that node's kube-proxy rules too): "ok" or why not."""
    import socket

    from kdiag_lab.relay import entered

    try:
        with entered(netns_name):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            sock.settimeout(2.0)
            sock.sendto(_query(name), (CLUSTER_DNS, 53))
            reply = sock.recv(512)
    except OSError as exc:
        return f"no answer from {CLUSTER_DNS}:53 in {netns_name}: {exc}"
    rcode, count = reply[3] & 0x0F, int.from_bytes(reply[6:8], "big")
    return "ok" if rcode == 0 and count else f"{name}: rcode {rcode}, {count} answers"


def status_entry(binary: str, lab_netns: list[str], ask_from: str) -> dict[str, Any]:
    """CoreDNS for `lab status`: the process running the CoreDNS binary in one of this lab's
    namespaces (the pod's container), and a real query through kube-dns as its health."""
    import os

    from kdiag_lab.components import binary_version
    from kdiag_lab.processes import cmdline

    inodes = {os.stat(f"/run/netns/{name}").st_ino for name in lab_netns}
    pid = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (cmdline(int(entry)) or [""])[0] == binary:
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                    pid = int(entry)
                    break
            except OSError:
                continue
    health = answers(ask_from) if pid else "GONE"
    return {"name": "coredns", "pid": pid or None, "running": bool(pid), "healthy": health == "ok",
            "health": health, "check": "dns", "port": 53, "version": binary_version(binary) or None}
