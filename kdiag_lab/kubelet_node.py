"""Node registration (the Node object a kubelet and the CNI agent would write) and pod IP allocation."""

from __future__ import annotations

import ipaddress
import json
import platform
import threading
from typing import Any

from kdiag_lab.api import Api, ApiError
from kdiag_lab.binaries import KUBERNETES_VERSION
from kdiag_lab.kubelet_runtime import now_rfc3339
from kdiag_lab.topology import BRIDGE_HOSTGW, BRIDGE_VXLAN, UNDERLAY_CIDR, VXLAN_VNI, LabNetwork, NodeSpec

Json = dict[str, Any]
# The loopback "DNS name" the apiserver dials for pods/log (it prefers InternalDNS, see controlplane).
KUBELET_HOST = "127.0.0.1"
FIXED_IP_ANNOTATION = "lab.kdiag.dev/pod-ip"


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def cni_annotations(net: LabNetwork, node: NodeSpec) -> dict[str, str]:
    """What flanneld or calico-node would annotate the node with for this datapath."""
    if net.datapath in (BRIDGE_VXLAN, BRIDGE_HOSTGW):
        vxlan = net.datapath == BRIDGE_VXLAN
        data = {"VNI": VXLAN_VNI, "VtepMAC": net.vtep_mac(node.name)} if vxlan else None
        return {
            "flannel.alpha.coreos.com/backend-type": "vxlan" if vxlan else "host-gw",
            "flannel.alpha.coreos.com/backend-data": json.dumps(data, separators=(",", ":")),
            "flannel.alpha.coreos.com/kube-subnet-manager": "true",
            "flannel.alpha.coreos.com/public-ip": node.underlay_ip,
        }
    return {"projectcalico.org/IPv4Address": f"{node.underlay_ip}/{UNDERLAY_CIDR.prefixlen}"}


def node_object(net: LabNetwork, node: NodeSpec) -> Json:
    arch = _arch()
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": {
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": arch,
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": arch,
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                **cni_annotations(net, node),
            },
        },
        "spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]},
    }


def node_status(net: LabNetwork, node: NodeSpec, kubelet_port: int) -> Json:
    now = now_rfc3339()

    def cond(kind: str, status: str, reason: str, message: str) -> Json:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    cni = "Calico" if net.datapath not in (BRIDGE_VXLAN, BRIDGE_HOSTGW) else "Flannel"
    lab_id = net.lab_id
    resources = {"cpu": "2", "memory": "4030292Ki", "pods": "110", "ephemeral-storage": "20511312Ki"}
    return {
        "conditions": [
            cond("NetworkUnavailable", "False", f"{cni}IsUp", f"{cni} is running on this node"),
            cond(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": node.underlay_ip},
            {"type": "InternalDNS", "address": KUBELET_HOST},
            {"type": "Hostname", "address": node.name},
        ],
        "capacity": resources,
        "allocatable": resources,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {
            "machineID": f"{lab_id}{node.name}".ljust(32, "0")[:32],
            "systemUUID": f"kdiag-lab-{lab_id}-{node.name}",
            "bootID": f"{lab_id}-{node.name}",
            "kernelVersion": platform.release(),
            "osImage": "kdiag lab (network namespaces)",
            "containerRuntimeVersion": "kdiag-lab://0.1.0",
            "kubeletVersion": KUBERNETES_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": _arch(),
        },
    }


def register_nodes(api: Api, net: LabNetwork, kubelet_port: int) -> None:
    """Create (or refresh) each lab Node, then write its status as the kubelet does."""
    for node in net.nodes:
        body = node_object(net, node)
        try:
            api.create("/api/v1/nodes", body)
        except ApiError as exc:
            if exc.status != 409:
                raise
            api.patch(f"/api/v1/nodes/{node.name}", {"metadata": body["metadata"], "spec": body["spec"]})
        api.patch(f"/api/v1/nodes/{node.name}/status", {"status": node_status(net, node, kubelet_port)})


class IpAllocator:
    """Per-node host-local IPAM: the lowest free address from .2, never a reserved (seed) address
    unless asked for by name."""

    def __init__(self, net: LabNetwork, reserved: set[str]) -> None:
        self._net = net
        self._reserved = reserved
        self._used: dict[str, set[str]] = {n.name: set() for n in net.nodes}
        self._lock = threading.Lock()

    def take(self, node: str, wanted: str = "") -> str:
        cidr = ipaddress.IPv4Network(self._net.node(node).pod_cidr)
        with self._lock:
            used = self._used[node]
            if wanted:
                if ipaddress.IPv4Address(wanted) not in cidr:
                    raise ValueError(f"{FIXED_IP_ANNOTATION}={wanted} is not in {node}'s podCIDR {cidr}")
                if wanted in used:
                    raise ValueError(f"{wanted} is already in use on {node}")
                used.add(wanted)
                return wanted
            for host in list(cidr.hosts())[1:]:  # .1 is the gateway on bridge datapaths
                ip = str(host)
                if ip not in used and ip not in self._reserved:
                    used.add(ip)
                    return ip
        raise ValueError(f"no free pod IP left on {node} ({cidr})")

    def release(self, node: str, ip: str) -> None:
        with self._lock:
            self._used.get(node, set()).discard(ip)
