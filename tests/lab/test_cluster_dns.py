"""CoreDNS behind kube-dns, pods' resolv.conf and their mount namespaces (session `lab`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from kdiag_lab import binaries, kubelet_sandbox
from kdiag_lab.kubelet_config import DataplaneConfig

pytestmark = pytest.mark.lab

SEED = "hello-app-1-675b9f655c-8r76c"  # default namespace, on worker24


def lab_exec(lab: Any, target: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """`kdiag lab exec` as a user runs it (a child process: it execs into the pod's namespaces)."""
    return subprocess.run(
        [sys.executable, "-m", "kdiag", "lab", "exec", "--dir", str(lab.paths.root), target, "--", *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )


def cluster_ip(lab: Any, namespace: str, name: str) -> str:
    svc = json.loads(lab.kubectl("get", "svc", name, "-n", namespace, "-o", "json").stdout)
    return str(svc["spec"]["clusterIP"])


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


SLEEPER = {"name": "c", "image": "busybox:1.36", "command": ["sleep", "infinity"]}


def test_coredns_is_the_upstream_binary_behind_kube_dns(lab: Any) -> None:
    assert cluster_ip(lab, "kube-system", "kube-dns") == "10.96.0.10"
    version = subprocess.run([str(binaries.resolve(build=False).coredns), "-version"],
                             capture_output=True, text=True, check=True).stdout
    assert f"CoreDNS-{binaries.COREDNS_VERSION.lstrip('v')}" in version
    pods = json.loads(lab.kubectl("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns",
                                  "-o", "json").stdout)["items"]
    assert len(pods) == 1 and pods[0]["status"]["phase"] == "Running"
    # The container's process is the real binary, inside the pod's network namespace.
    holder = kubelet_sandbox.holder_of(
        lab.paths.dataplane, DataplaneConfig.load(lab.paths).network().pod_ns(
            f"kube-system/{pods[0]['metadata']['name']}"))
    assert holder, "the CoreDNS pod has no mount namespace"
    netns_inode = os.stat(f"/proc/{holder}/ns/net").st_ino
    binary = str(binaries.resolve(build=False).coredns).encode()
    coredns_pids = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).startswith(binary)]
    assert any(os.stat(f"/proc/{p}/ns/net").st_ino == netns_inode for p in coredns_pids)


def test_pod_resolv_conf_is_cluster_first(lab: Any) -> None:
    result = lab_exec(lab, f"pod/default/{SEED}", "cat", "/etc/resolv.conf")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "nameserver 10.96.0.10\n"
        "search default.svc.cluster.local svc.cluster.local cluster.local\n"
        "options ndots:5\n"
    )


def test_service_names_resolve_through_coredns_full_and_short(lab: Any) -> None:
    ip = cluster_ip(lab, "default", "hello-app-2")
    for name in ("hello-app-2.default.svc.cluster.local", "hello-app-2"):
        result = lab_exec(lab, f"pod/default/{SEED}", "getent", "hosts", name)
        assert result.returncode == 0, (name, result.stderr)
        assert result.stdout.split()[0] == ip, result.stdout
    # Python's resolver too, and a name outside the sealed lab does not resolve.
    probe = "import socket, sys; print(socket.gethostbyname(sys.argv[1]))"
    result = lab_exec(lab, f"pod/default/{SEED}", sys.executable, "-c", probe, "hello-app-2")
    assert result.stdout.strip() == ip, result.stderr
    assert lab_exec(lab, f"pod/default/{SEED}", "getent", "hosts", "example.com").returncode != 0


def test_a_pod_in_another_namespace_searches_its_own_first(lab: Any, namespace: str) -> None:
    lab.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace},
               "spec": {"selector": {"app": "none"}, "ports": [{"port": 80}]}})
    name = f"c-{uuid.uuid4().hex[:6]}"
    lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
               "spec": {"nodeName": "worker25", "terminationGracePeriodSeconds": 0,
                        "containers": [SLEEPER]}})
    lab.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "-n", namespace, "--timeout=60s")
    result = lab_exec(lab, f"pod/{namespace}/{name}", "getent", "hosts", "web")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == cluster_ip(lab, namespace, "web")
    # web.default does not exist: the short name found this namespace's web, not another.
    assert lab_exec(lab, f"pod/{namespace}/{name}", "getent", "hosts", "web.default").returncode != 0


def test_dns_policy_none_and_default_are_honoured(lab: Any, namespace: str) -> None:
    specs = {
        "none": {"dnsPolicy": "None",
                 "dnsConfig": {"nameservers": ["10.96.0.10"], "searches": ["x.example"]}},
        "default": {"dnsPolicy": "Default"},
    }
    for name, extra in specs.items():
        lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                   "spec": {"nodeName": "worker24", "terminationGracePeriodSeconds": 0, **extra,
                            "containers": [SLEEPER]}})
    lab.kubectl("wait", "--for=condition=Ready", "pod", "--all", "-n", namespace, "--timeout=60s")
    none = lab_exec(lab, f"pod/{namespace}/none", "cat", "/etc/resolv.conf").stdout
    assert none == "nameserver 10.96.0.10\nsearch x.example\n"
    default = lab_exec(lab, f"pod/{namespace}/default", "cat", "/etc/resolv.conf").stdout
    assert default == kubelet_sandbox.HOST_RESOLV.read_text()  # the node's file is the host's here


def test_lab_exec_enters_the_pods_mount_namespace(lab: Any) -> None:
    net = DataplaneConfig.load(lab.paths).network()
    holder = kubelet_sandbox.holder_of(lab.paths.dataplane, net.pod_ns(f"default/{SEED}"))
    assert holder
    result = lab_exec(lab, f"pod/default/{SEED}", "readlink", "/proc/self/ns/mnt")
    assert result.stdout.strip() == os.readlink(f"/proc/{holder}/ns/mnt")
    assert os.readlink("/proc/self/ns/mnt") != result.stdout.strip()  # not the host's


def test_host_network_pods_get_cluster_dns_with_cluster_first_with_host_net(lab: Any, namespace: str) -> None:
    """As the kubelet does: a hostNetwork pod with ClusterFirst falls back to its node's resolv.conf;
    ClusterFirstWithHostNet gives it the cluster's, in a mount namespace of its own while it shares
    its node's network namespace."""
    for name, policy in (("first", "ClusterFirst"), ("withhostnet", "ClusterFirstWithHostNet")):
        lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                   "spec": {"nodeName": "worker24", "hostNetwork": True, "dnsPolicy": policy,
                            "terminationGracePeriodSeconds": 0, "containers": [SLEEPER]}})
    lab.kubectl("wait", "--for=condition=Ready", "pod", "--all", "-n", namespace, "--timeout=60s")
    first = lab_exec(lab, f"pod/{namespace}/first", "cat", "/etc/resolv.conf").stdout
    assert first == kubelet_sandbox.HOST_RESOLV.read_text()
    with_host_net = lab_exec(lab, f"pod/{namespace}/withhostnet", "cat", "/etc/resolv.conf")
    assert with_host_net.stdout == (
        f"nameserver 10.96.0.10\nsearch {namespace}.svc.cluster.local svc.cluster.local cluster.local\n"
        "options ndots:5\n"), with_host_net.stderr
    resolved = lab_exec(lab, f"pod/{namespace}/withhostnet", "getent", "hosts", "hello-app-2.default")
    assert resolved.stdout.split()[:1] == [cluster_ip(lab, "default", "hello-app-2")], resolved.stderr
    # The node's network namespace, not one of its own.
    node_ns = DataplaneConfig.load(lab.paths).network().node_ns("worker24")
    own = lab_exec(lab, f"pod/{namespace}/withhostnet", "readlink", "/proc/self/ns/net").stdout.strip()
    assert own == lab_exec(lab, "node/worker24", "readlink", "/proc/self/ns/net").stdout.strip(), node_ns
