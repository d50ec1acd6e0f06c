"""kube-controller-manager and kube-scheduler: their certificates, kubeconfigs and flags, as kubeadm
lays them out (client certificates for system:kube-controller-manager / system:kube-scheduler,
whose RBAC roles the apiserver bootstraps), everything under the lab directory.

The controller-manager runs every default controller with the lab CA as root and cluster-signing
CA and the service-account key; it is what creates ServiceAccounts and their tokens,
`kube-root-ca.crt`, EndpointSlices, ReplicaSets and pods, DaemonSet pods, finalizes namespaces,
collects garbage and aggregates ClusterRoles. Its node-lifecycle controller evicts pods from nodes
whose Lease goes stale: the lab kubelet renews one per node (kubelet_node.Heartbeat).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kdiag_lab import pki
from kdiag_lab.paths import LabPaths

# (component, client certificate common name) as kubeadm issues them.
CLIENTS = {
    "kube-controller-manager": "system:kube-controller-manager",
    "kube-scheduler": "system:kube-scheduler",
}


def kubeconfig_path(paths: LabPaths, component: str) -> Path:
    return paths.root / f"{component}.kubeconfig"


def _serving(paths: LabPaths, component: str) -> tuple[Path, Path]:
    return paths.pki / f"{component}-serving.crt", paths.pki / f"{component}-serving.key"


def make_credentials(paths: LabPaths, server: str) -> None:
    """A client certificate and kubeconfig per component, and a serving certificate (lab CA) for
    its secure port, so `lab status` can check /healthz with verification."""
    for component, user in CLIENTS.items():
        cert, key = paths.pki / f"{component}.crt", paths.pki / f"{component}.key"
        pki.issue(paths.ca_cert, paths.ca_key, cert, key, common_name=user, client=True)
        serving_cert, serving_key = _serving(paths, component)
        pki.issue(paths.ca_cert, paths.ca_key, serving_cert, serving_key, common_name=component, server=True)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kdiag-lab", "cluster": {
                "server": server, "certificate-authority": str(paths.ca_cert)}}],
            "users": [{"name": user, "user": {
                "client-certificate": str(cert), "client-key": str(key)}}],
            "contexts": [{"name": component, "context": {"cluster": "kdiag-lab", "user": user}}],
            "current-context": component,
        }
        target = kubeconfig_path(paths, component)
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        target.chmod(0o600)


def _common(paths: LabPaths, component: str, port: int) -> list[str]:
    kubeconfig = kubeconfig_path(paths, component)
    cert, key = _serving(paths, component)
    return [
        f"--kubeconfig={kubeconfig}",
        # Delegated authentication/authorization of their own secure port, as kubeadm sets them.
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={cert}",
        f"--tls-private-key-file={key}",
        # One instance per lab: leader election would only add a wait after a restart (the old
        # Lease must expire first) and guards against nothing.
        "--leader-elect=false",
        "--profiling=false",
    ]


def controller_manager_argv(binary: Path, paths: LabPaths, port: int, service_cidr: str) -> list[str]:
    return [
        str(binary),
        *_common(paths, "kube-controller-manager", port),
        "--controllers=*",
        f"--root-ca-file={paths.ca_cert}",
        f"--service-account-private-key-file={paths.pki / 'sa.key'}",
        f"--cluster-signing-cert-file={paths.ca_cert}",
        f"--cluster-signing-key-file={paths.ca_key}",
        # Each controller acts with its own ServiceAccount's token and RBAC role, as on kubeadm.
        "--use-service-account-credentials=true",
        f"--service-cluster-ip-range={service_cidr}",
        "--cluster-name=kdiag-lab",
        # Node podCIDRs are the lab network's (set by the lab kubelet at registration), as with a
        # CNI that does its own IPAM: node-ipam stays off (kubeadm's --allocate-node-cidrs=false).
        "--allocate-node-cidrs=false",
    ]


def scheduler_argv(binary: Path, paths: LabPaths, port: int) -> list[str]:
    return [str(binary), *_common(paths, "kube-scheduler", port)]
