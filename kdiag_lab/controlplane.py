"""The lab's control plane: real etcd, kube-apiserver, kube-controller-manager and kube-scheduler
on 127.0.0.1.

`start` lays out certificates, tokens and flags, starts the daemons, waits for /readyz (then the
others' /healthz) and writes the kubeconfig. Everything lives under one lab directory (`LabPaths`).
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Callable

import yaml

from kdiag.cluster.client import Cluster, ClusterOptions
from kdiag.errors import KdiagError
from kdiag_lab import kube_components, pki
from kdiag_lab.binaries import LabBinaries
from kdiag_lab.components import Daemon, binary_version, health
from kdiag_lab.errors import LabError
from kdiag_lab.paths import LabPaths
from kdiag_lab.processes import free_port, spawn
from kdiag_lab.topology import CONTROL_PLANE_IP

ADMIN_USER = "kdiag-admin"
VIEWER_USER = "lab-viewer"
ADMIN_CONTEXT = "kdiag-lab"
VIEWER_CONTEXT = "kdiag-lab-viewer"
SERVICE_CIDR = "10.96.0.0/16"  # kubeadm's default
# The first address of SERVICE_CIDR: the `kubernetes` Service, which pods use to reach the API.
KUBERNETES_SERVICE_IP = str(ipaddress.IPv4Network(SERVICE_CIDR).network_address + 1)
# The names in-lab clients (kube-proxy, CoreDNS, pods) reach the apiserver by, as kubeadm signs them.
APISERVER_NAMES = (
    CONTROL_PLANE_IP,
    KUBERNETES_SERVICE_IP,
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
READY_TIMEOUT = 90.0
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def _make_pki(paths: LabPaths) -> None:
    pki_dir = paths.pki
    pki_dir.mkdir(parents=True, exist_ok=True)
    pki.make_ca(paths.ca_cert, paths.ca_key)
    pki.issue(
        paths.ca_cert, paths.ca_key, pki_dir / "apiserver.crt", pki_dir / "apiserver.key",
        common_name="kube-apiserver", server=True, extra_names=APISERVER_NAMES,
    )
    pki.issue(
        paths.ca_cert, paths.ca_key, paths.kubelet_client_cert, paths.kubelet_client_key,
        common_name="kube-apiserver-kubelet-client", organization="system:masters", client=True,
    )
    pki.make_signing_key(pki_dir / "sa.key", pki_dir / "sa.pub")


def _write_tokens(paths: LabPaths) -> tuple[str, str]:
    admin, viewer = secrets.token_hex(16), secrets.token_hex(16)
    # Static token file format: token,user,uid,"group1,group2"
    (paths.root / "tokens.csv").write_text(
        f'{admin},{ADMIN_USER},{ADMIN_USER},"system:masters"\n{viewer},{VIEWER_USER},{VIEWER_USER}\n'
    )
    (paths.root / "tokens.csv").chmod(0o600)
    paths.admin_token_file.write_text(admin)
    paths.admin_token_file.chmod(0o600)
    return admin, viewer


def write_kubeconfig(paths: LabPaths, server: str, admin_token: str, viewer_token: str) -> None:
    import base64

    ca_data = base64.b64encode(paths.ca_cert.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "kdiag-lab", "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [
            {"name": ADMIN_USER, "user": {"token": admin_token}},
            {"name": VIEWER_USER, "user": {"token": viewer_token}},
        ],
        "contexts": [
            {"name": ADMIN_CONTEXT,
             "context": {"cluster": "kdiag-lab", "user": ADMIN_USER, "namespace": "default"}},
            {"name": VIEWER_CONTEXT,
             "context": {"cluster": "kdiag-lab", "user": VIEWER_USER, "namespace": "default"}},
        ],
        "current-context": ADMIN_CONTEXT,
        "preferences": {},
    }
    paths.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
    paths.kubeconfig.chmod(0o600)


def _etcd_argv(binaries: LabBinaries, paths: LabPaths, client_port: int, peer_port: int) -> list[str]:
    client_url, peer_url = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [
        str(binaries.etcd),
        "--name=lab",
        f"--data-dir={paths.etcd_data}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=lab={peer_url}",
        # A throwaway practice store: durability buys nothing and fsync makes bulk creates slow.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def _apiserver_argv(binaries: LabBinaries, paths: LabPaths, port: int, etcd_port: int) -> list[str]:
    pki_dir = paths.pki
    return [
        str(binaries.kube_apiserver),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        # In-lab clients reach the apiserver at the control-plane node's underlay address (a relay
        # there forwards to this loopback port), so that is what the `kubernetes` Service's
        # endpoint says, as on a kubeadm cluster; the port is the same number as --secure-port.
        f"--advertise-address={CONTROL_PLANE_IP}",
        f"--secure-port={port}",
        f"--cert-dir={pki_dir / 'generated'}",
        f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
        f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
        f"--client-ca-file={paths.ca_cert}",
        f"--token-auth-file={paths.root / 'tokens.csv'}",
        "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki_dir / 'sa.pub'}",
        f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--kubelet-client-certificate={paths.kubelet_client_cert}",
        f"--kubelet-client-key={paths.kubelet_client_key}",
        # Lab kubelets publish InternalDNS=127.0.0.1 so the apiserver reaches them on loopback,
        # while InternalIP stays the node's lab underlay address as a real node shows it.
        "--kubelet-preferred-address-types=InternalDNS,InternalIP,Hostname",
        # Privileged pods are allowed cluster-wide as on kubeadm clusters; Pod Security decides.
        "--allow-privileged=true",
        "--profiling=false",
    ]


def _launch(
    name: str, argv: list[str], paths: LabPaths, *, health: str = "process", port: int = 0
) -> Daemon:
    log = paths.logs / f"{name}.log"
    pid = spawn(argv, log)
    # Asked after the spawn: the daemon starts up meanwhile, which is the longer wait.
    return Daemon(name, pid, argv[0], argv, str(log), health, port, binary_version(argv[0]))


def start(
    paths: LabPaths, binaries: LabBinaries, emit: Callable[[str], None], daemons: list[Daemon]
) -> str:
    """Start etcd, kube-apiserver, kube-controller-manager and kube-scheduler; returns the server
    URL. Each daemon is appended to `daemons` as soon as it runs, so a failure part-way still knows
    what to stop."""
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(exist_ok=True)
    _make_pki(paths)
    admin_token, viewer_token = _write_tokens(paths)
    etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
    emit(f"starting etcd on 127.0.0.1:{etcd_port}")
    daemons.append(_launch("etcd", _etcd_argv(binaries, paths, etcd_port, etcd_peer), paths,
                           health="etcd", port=etcd_port))
    emit(f"starting kube-apiserver on 127.0.0.1:{api_port} (advertised as {CONTROL_PLANE_IP})")
    daemons.append(_launch("kube-apiserver", _apiserver_argv(binaries, paths, api_port, etcd_port), paths,
                           health="readyz", port=api_port))
    server = f"https://127.0.0.1:{api_port}"
    write_kubeconfig(paths, server, admin_token, viewer_token)
    try:
        wait_ready(paths, daemons)
    except LabError as exc:
        raise LabError(
            f"kube-apiserver did not become ready: {exc.message}",
            hint=f"see {paths.logs / 'kube-apiserver.log'} and {paths.logs / 'etcd.log'}",
        ) from None
    kube_components.make_credentials(paths, server)
    cm_port, scheduler_port = free_port(), free_port()
    emit(f"starting kube-controller-manager (127.0.0.1:{cm_port}) "
         f"and kube-scheduler (127.0.0.1:{scheduler_port})")
    cm_argv = kube_components.controller_manager_argv(
        binaries.kube_controller_manager, paths, cm_port, SERVICE_CIDR
    )
    daemons.append(_launch("kube-controller-manager", cm_argv, paths, health="healthz", port=cm_port))
    scheduler_argv = kube_components.scheduler_argv(binaries.kube_scheduler, paths, scheduler_port)
    daemons.append(_launch("kube-scheduler", scheduler_argv, paths, health="healthz", port=scheduler_port))
    wait_healthy(paths, daemons)
    return server


def wait_healthy(paths: LabPaths, daemons: list[Daemon], timeout: float = READY_TIMEOUT) -> None:
    """Poll each daemon's health check until all pass; a daemon that exits fails at once."""
    deadline = time.monotonic() + timeout
    pending = list(daemons)
    while pending:
        for daemon in list(pending):
            result = health(daemon, paths.ca_cert)
            if result.detail == "GONE":
                raise LabError(daemon.exited(), hint=f"see {daemon.log}")
            if result.ok:
                pending.remove(daemon)
        if pending and time.monotonic() > deadline:
            daemon = pending[0]
            raise LabError(f"{daemon.name} not healthy within {timeout:.0f}s: {result.detail}",
                           hint=f"see {daemon.log}")
        if pending:
            time.sleep(0.2)


def admin_cluster(paths: LabPaths) -> Cluster:
    """kdiag's own API client, as the lab admin (the kubeconfig is written before the wait)."""
    options = ClusterOptions(kubeconfig=str(paths.kubeconfig), context=ADMIN_CONTEXT, request_timeout=10)
    return Cluster(options)


def wait_ready(paths: LabPaths, daemons: list[Daemon]) -> None:
    """Poll /readyz (the apiserver offers no way to be told) until ok or a daemon dies."""
    api = admin_cluster(paths)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        for daemon in daemons:
            if not daemon.running():
                raise LabError(daemon.exited())
        try:
            if api.request_raw("GET", "/readyz", what="check /readyz", timeout=2) == b"ok":
                return
        except KdiagError:
            pass
        time.sleep(0.2)
    raise LabError(f"no ok from /readyz within {READY_TIMEOUT:.0f}s")


def bootstrap_objects(paths: LabPaths) -> None:
    """Cluster objects the lab needs once: the viewer's binding to the built-in `view` role."""
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "kdiag-lab-viewer", "labels": {"app.kubernetes.io/part-of": "kdiag-lab"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": VIEWER_USER}],
    }
    try:
        admin_cluster(paths).request("POST", f"{RBAC}/clusterrolebindings", body=binding,
                                     what="bind lab-viewer to the view role")
    except KdiagError as exc:
        if "already exists" not in exc.message:  # a restarted lab reusing its etcd is fine
            raise LabError(f"could not bind {VIEWER_USER} to the view role: {exc.message}") from exc


def wait_aggregated(paths: LabPaths, timeout: float = READY_TIMEOUT) -> None:
    """Wait until the controller-manager's clusterrole-aggregation controller has filled the
    `view` ClusterRole (the lab viewer's binding is useless before)."""
    api = admin_cluster(paths)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        role = api.request("GET", f"{RBAC}/clusterroles/view", what="read the view ClusterRole")
        if role.get("rules"):
            return
        time.sleep(0.2)
    raise LabError(f"the view ClusterRole was not aggregated within {timeout:.0f}s",
                   hint=f"see {paths.logs / 'kube-controller-manager.log'}")
