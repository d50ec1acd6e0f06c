"""kube-proxy in every lab node's network namespace, programming that namespace's netfilter.

Each node gets its own client certificate (CN system:kube-proxy, the user the built-in
`system:node-proxier` ClusterRoleBinding names, as kubeadm's kube-proxy ServiceAccount is bound),
kubeconfig and KubeProxyConfiguration, and dials the API at the control-plane node's address
(the relay; see kdiag_lab.relay). The kube-system/kube-proxy ConfigMap carries `config.conf` as
kubeadm writes it, so kdiag reads the mode where it reads it on a real cluster.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from kdiag_lab import netns, pki
from kdiag_lab.api import Api, ApiError
from kdiag_lab.components import Daemon, binary_version
from kdiag_lab.errors import LabError
from kdiag_lab.paths import LabPaths
from kdiag_lab.processes import spawn
from kdiag_lab.topology import BRIDGE_HOSTGW, BRIDGE_VXLAN, CONTROL_PLANE_IP, LabNetwork

NFTABLES, IPTABLES = "nftables", "iptables"
PROXY_MODES = (NFTABLES, IPTABLES)
CLUSTER_CIDR = "10.244.0.0/16"
USER = "system:kube-proxy"
HEALTHZ_PORT = 10256
SYNC_TIMEOUT = 60.0
Json = dict[str, Any]


def proxy_config(mode: str, kubeconfig: str, hostname: str = "") -> Json:
    """A KubeProxyConfiguration. Conntrack: maxPerCore 0 and zero timeouts mean "leave the
    kernel's values" — nf_conntrack_max and the hash size are global, read-only outside the
    initial namespace, and a lab must not change the host's."""
    config: Json = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "bindAddress": "0.0.0.0",
        "clientConnection": {"kubeconfig": kubeconfig},
        "clusterCIDR": CLUSTER_CIDR,
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "healthzBindAddress": f"127.0.0.1:{HEALTHZ_PORT}",  # the node namespace's loopback
        "metricsBindAddress": "127.0.0.1:10249",
        "mode": mode,
    }
    if hostname:
        config["hostnameOverride"] = hostname
    return config


def configmap(mode: str) -> Json:
    """kube-system/kube-proxy as kubeadm creates it (config.conf + kubeconfig.conf)."""
    kubeconfig = "/var/lib/kube-proxy/kubeconfig.conf"
    in_cluster = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "default", "cluster": {
            "certificate-authority": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
            "server": f"https://{CONTROL_PLANE_IP}:6443"}}],
        "contexts": [{"name": "default", "context": {"cluster": "default", "namespace": "default",
                                                     "user": "default"}}],
        "current-context": "default",
        "users": [{"name": "default", "user": {
            "tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}}],
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": {"app": "kube-proxy"}},
        "data": {
            "config.conf": yaml.safe_dump(proxy_config(mode, kubeconfig), sort_keys=False),
            "kubeconfig.conf": yaml.safe_dump(in_cluster, sort_keys=False),
        },
    }


def _node_dir(paths: LabPaths, node: str) -> Path:
    return paths.dataplane / "kube-proxy" / node


def _write_node_files(paths: LabPaths, node: str, server: str, mode: str) -> Path:
    directory = _node_dir(paths, node)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = paths.pki / f"kube-proxy-{node}.crt", paths.pki / f"kube-proxy-{node}.key"
    pki.issue(paths.ca_cert, paths.ca_key, cert, key, common_name=USER, client=True)
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kdiag-lab", "cluster": {"server": server,
                                                       "certificate-authority": str(paths.ca_cert)}}],
        "users": [{"name": USER, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "kube-proxy", "context": {"cluster": "kdiag-lab", "user": USER}}],
        "current-context": "kube-proxy",
    }
    (directory / "kubeconfig").write_text(yaml.safe_dump(kubeconfig, sort_keys=False))
    (directory / "kubeconfig").chmod(0o600)
    config = proxy_config(mode, str(directory / "kubeconfig"), hostname=node)
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory / "config.yaml"


def _node_netfilter(net: LabNetwork, node: str) -> None:
    """On bridge datapaths a same-node reply from the endpoint goes straight across cni0 to the
    client pod: without br_netfilter's hook conntrack never sees it and the reply keeps the
    endpoint's address instead of the ClusterIP. kube-proxy does not set this; CNI setups do."""
    if net.datapath in (BRIDGE_VXLAN, BRIDGE_HOSTGW):
        netns.sysctl(net.node_ns(node), {"net.bridge.bridge-nf-call-iptables": 1})


def apply_configmap(api: Api, mode: str) -> None:
    try:
        api.create("/api/v1/namespaces/kube-system/configmaps", configmap(mode))
    except ApiError as exc:
        if exc.status != 409:
            raise


def start(
    paths: LabPaths, net: LabNetwork, binary: Path, api_port: int, mode: str
) -> list[Daemon]:
    """One kube-proxy per node, started with `ip netns exec` (the pid is kube-proxy's own: `ip`
    execs it). Returns them once each answers /healthz in its node."""
    if mode not in PROXY_MODES:
        raise LabError(f"unknown proxy mode {mode!r}", hint=f"choose one of {', '.join(PROXY_MODES)}")
    server = f"https://{CONTROL_PLANE_IP}:{api_port}"
    version = binary_version(str(binary))
    daemons = []
    for node in net.nodes:
        _node_netfilter(net, node.name)
        config = _write_node_files(paths, node.name, server, mode)
        argv = netns.exec_argv(net.node_ns(node.name), [str(binary), f"--config={config}", "--v=2"])
        log = paths.logs / f"kube-proxy-{node.name}.log"
        pid = spawn(argv, log)
        daemons.append(Daemon(f"kube-proxy/{node.name}", pid, str(binary), argv, str(log), "netns-healthz",
                              HEALTHZ_PORT, version, net.node_ns(node.name)))
    try:
        wait_synced(net, daemons)
    except LabError:
        from kdiag_lab.processes import stop

        for daemon in daemons:
            stop(daemon.pid, daemon.marker, grace=5)
        raise
    return daemons


def healthy(net: LabNetwork, node: str) -> bool:
    """kube-proxy's /healthz answers 200 while no rule update is overdue (nothing if dead). That
    includes the moment before it programs a Service it has just been told of: `lab up` waits for
    the rules themselves in kdiag_lab.service_sync."""
    probe = (
        "import sys, urllib.request as u; "
        f"sys.exit(0 if u.urlopen('http://127.0.0.1:{HEALTHZ_PORT}/healthz', timeout=2).status == 200 else 1)"
    )
    import sys

    return netns.run_in(net.node_ns(node), [sys.executable, "-c", probe], check=False).returncode == 0


def wait_synced(net: LabNetwork, daemons: list[Daemon], timeout: float = SYNC_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    pending = {d.name.split("/", 1)[1]: d for d in daemons}
    while pending:
        for node, daemon in list(pending.items()):
            if not daemon.running():
                raise LabError(daemon.exited(), hint=f"see {daemon.log}")
            if healthy(net, node):
                del pending[node]
        if pending and time.monotonic() > deadline:
            raise LabError(f"kube-proxy not synced within {timeout:.0f}s on {', '.join(pending)}",
                           hint=f"see {next(iter(pending.values())).log}")
        if pending:
            time.sleep(0.3)
