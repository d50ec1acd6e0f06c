"""The lab's NetworkPolicy enforcer: kube-router's network-policy controller, firewall only, one per
lab node network namespace, as its DaemonSet runs one per node.

    kube-router --run-firewall=true --run-router=false --run-service-proxy=false ...

Each instance watches Pods, Namespaces and NetworkPolicies through the API relay (the control-plane
node's 10.250.0.2, `kdiag_lab.relay`), finds its Node by --hostname-override (the Node's InternalIP is the
node's underlay address, which is how it tells its own pods: `status.hostIP`), and programs
iptables (nf_tables backend) and ipsets inside that node's namespace only. Same-node traffic on the
bridge datapaths never leaves cni0, so `net.bridge.bridge-nf-call-iptables=1` is set in each node
namespace (br_netfilter's sysctls are per network namespace) for bridged frames to reach FORWARD,
where kube-router matches them with `-m physdev --physdev-is-bridged`.

It authenticates with a client certificate of its own (CN kube-router) bound to the ClusterRole
its upstream DaemonSet manifest grants; the key lives under the lab directory, as the other
components' do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import yaml

from kdiag_lab import netns, pki
from kdiag_lab.api import Api
from kdiag_lab.components import Daemon, binary_version
from kdiag_lab.paths import LabPaths
from kdiag_lab.processes import spawn
from kdiag_lab.processes import stop as stop_process
from kdiag_lab.topology import CONTROL_PLANE_IP, LabNetwork

Emit = Callable[[str], None]
USER = "kube-router"
MARKER = "kube-router"  # in every instance's command line (the cached binary is kube-router-vX.Y.Z)
SERVICE_CIDR = "10.96.0.0/16"  # the lab's (kubeadm's default range is /12; the issue pins /16)
HEALTH_PORT = 20244  # kube-router's default, inside each node namespace: no clash between nodes
BRIDGE_SYSCTLS = {"net.bridge.bridge-nf-call-iptables": 1}
# What kube-router's own daemonset/generic-kuberouter-only-advertise-routes.yaml ClusterRole grants,
# reduced to the firewall's reads (it lists Services, Endpoints and EndpointSlices at start even
# with the service proxy off).
RULES = [
    {"apiGroups": [""], "resources": ["namespaces", "pods", "services", "nodes", "endpoints"],
     "verbs": ["list", "get", "watch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list", "get", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "get", "watch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch", "update"]},
]


def _pid_file(paths: LabPaths) -> Path:
    return paths.dataplane / "kube-router.pids"


def kubeconfig_path(paths: LabPaths) -> Path:
    return paths.root / "kube-router.kubeconfig"


def grant(api: Api) -> None:
    """The ClusterRole and its binding to the kube-router user (idempotent)."""
    api.ensure("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "kdiag-lab:kube-router"}, "rules": RULES})
    api.ensure("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "kdiag-lab:kube-router"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "kdiag-lab:kube-router"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}]})


def write_credentials(paths: LabPaths, api_port: int) -> Path:
    cert, key = paths.pki / "kube-router.crt", paths.pki / "kube-router.key"
    pki.issue(paths.ca_cert, paths.ca_key, cert, key, common_name=USER, client=True)
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "kdiag-lab", "cluster": {
            "server": f"https://{CONTROL_PLANE_IP}:{api_port}",
            "certificate-authority": str(paths.ca_cert)}}],
        "users": [{"name": USER, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": USER, "context": {"cluster": "kdiag-lab", "user": USER}}],
        "current-context": USER,
    }
    target = kubeconfig_path(paths)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    target.chmod(0o600)
    return target


def argv(binary: Path, kubeconfig: Path, node_ns: str, node: str) -> list[str]:
    return netns.exec_argv(node_ns, [
        str(binary), f"--kubeconfig={kubeconfig}", f"--hostname-override={node}",
        "--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--health-port={HEALTH_PORT}", "--metrics-port=0",
        # Events trigger a sync at once; the periodic full sync only repairs drift.
        "--iptables-sync-period=1m",
    ])


def start(paths: LabPaths, net: LabNetwork, binary: Path, api: Api, api_port: int,
          emit: Emit) -> list[Daemon]:
    """One kube-router per node namespace, after the nodes are registered. Returns their Daemons."""
    grant(api)
    kubeconfig = write_credentials(paths, api_port)
    line = binary_version(str(binary))
    found = re.search(r"version (v[0-9.]+)", line)
    version = f"kube-router {found.group(1)}" if found else line
    daemons: list[Daemon] = []
    for node in net.nodes:
        ns = net.node_ns(node.name)
        netns.sysctl(ns, BRIDGE_SYSCTLS)
        command = argv(binary, kubeconfig, ns, node.name)
        log = paths.logs / f"kube-router-{node.name}.log"
        pid = spawn(command, log)
        # Its /healthz (200 once its controllers heartbeat) is checked inside the node namespace.
        daemons.append(Daemon(f"kube-router/{node.name}", pid, str(binary), command, str(log),
                              "netns-healthz", HEALTH_PORT, version, ns))
    _pid_file(paths).write_text("\n".join(str(d.pid) for d in daemons))
    emit(f"{version} (firewall only) up on "
         + ", ".join(f"{node.name} (pid {d.pid})" for node, d in zip(net.nodes, daemons, strict=True)))
    return daemons


def stop(paths: LabPaths, emit: Emit) -> None:
    """Before the node namespaces go: a clean exit instead of the SIGKILL namespace removal gives."""
    try:
        pids = [int(p) for p in _pid_file(paths).read_text().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        if stop_process(pid, MARKER, grace=5):
            emit(f"stopped kube-router (pid {pid})")
