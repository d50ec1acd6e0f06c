"""The lab's data plane, as `kdiag lab up/down/exec` drive it: network, kubelet daemon, seed cluster.

start(paths, datapath, workers, emit) -> [kubelet pid]   # after the apiserver is ready
stop(paths, emit)                                         # before the apiserver stops
exec_in(paths, "node/worker24" | "pod/[ns/]name", argv) -> exit code
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kdiag.errors import NotFoundError, UsageError
from kdiag_lab import binaries, coredns, enforcer, kube_proxy, kubelet_sandbox, netns, pki, seed, service_sync
from kdiag_lab.api import Api, ApiError, config_from_lab
from kdiag_lab.components import Daemon
from kdiag_lab.errors import LabError
from kdiag_lab.kubelet import serving_cert
from kdiag_lab.kubelet_config import (
    COREDNS_IMAGE,
    DEFAULT_IMAGES,
    DataplaneConfig,
    images_from_env,
    lab_id_for,
    normalize_image,
)
from kdiag_lab.paths import LabPaths
from kdiag_lab.processes import free_port
from kdiag_lab.processes import stop as stop_process
from kdiag_lab.topology import CONTROL_PLANE_IP, LabNetwork

Emit = Callable[[str], None]
KUBELET_MODULE = "kdiag_lab.kubelet"
RELAY_MODULE = "kdiag_lab.relay"
KUBELET_READY_TIMEOUT = 30.0
SEED_TIMEOUT = 60.0


def _pid_file(paths: LabPaths) -> Path:
    return paths.dataplane / "kubelet.pid"


def _relay_pid_file(paths: LabPaths) -> Path:
    return paths.dataplane / "relay.pid"


def _spawn_ready(paths: LabPaths, argv: list[str], log_name: str, what: str) -> int:
    """Start a lab daemon and wait for the `ready` it writes on a pipe (`--ready-fd N` is appended);
    EOF on the pipe means it died first."""
    read_fd, write_fd = os.pipe()
    paths.logs.mkdir(parents=True, exist_ok=True)
    try:
        with open(paths.logs / log_name, "ab") as log:
            proc = subprocess.Popen(
                [*argv, "--ready-fd", str(write_fd)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
    finally:
        os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], KUBELET_READY_TIMEOUT)
        answer = os.read(read_fd, 64) if ready else b""
    finally:
        os.close(read_fd)
    if answer.strip() != b"ready":
        proc.kill()
        proc.wait()
        raise LabError(f"the {what} did not start", hint=f"see {paths.logs / log_name}")
    return proc.pid


def _spawn_kubelet(paths: LabPaths) -> int:
    """Ready once nodes are registered and pods listed."""
    argv = [sys.executable, "-m", KUBELET_MODULE, "--dir", str(paths.root)]
    return _spawn_ready(paths, argv, "kubelet.log", "lab kubelet")


def api_port(paths: LabPaths) -> int:
    """The apiserver's secure port, from the lab kubeconfig (the relay listens on the same number,
    as the `kubernetes` Service's endpoint is the advertise address with the secure port)."""
    config = yaml.safe_load(paths.kubeconfig.read_text())
    port: int | None = urlsplit(str(config["clusters"][0]["cluster"]["server"])).port
    if port is None:
        raise LabError(f"no port in the server URL of {paths.kubeconfig}")
    return port


def _spawn_relay(paths: LabPaths, net: LabNetwork) -> Daemon:
    """Listening on CONTROL_PLANE_IP:<apiserver port> inside the control-plane namespace. Recorded
    with its argv (without the ready pipe) so a degraded lab can start it again in place."""
    port = api_port(paths)
    argv = [
        sys.executable, "-m", RELAY_MODULE, "--netns", net.control_plane_ns,
        "--listen", f"{CONTROL_PLANE_IP}:{port}", "--upstream", f"127.0.0.1:{port}",
    ]
    pid = _spawn_ready(paths, argv, "api-relay.log", "API relay")
    return Daemon("api-relay", pid, RELAY_MODULE, argv, str(paths.logs / "api-relay.log"), "relay-readyz",
                  port, "", net.control_plane_ns)


def start(
    paths: LabPaths, datapath: str, workers: int, emit: Emit, *, proxy_mode: str = kube_proxy.NFTABLES
) -> list[Daemon]:
    """Build the network, start the API relay, the kubelet and a kube-proxy per node, create the
    seed cluster. Returns the daemons started, in start order."""
    config = DataplaneConfig(
        lab_id=lab_id_for(paths),
        datapath=datapath,
        workers=workers,
        images=[*DEFAULT_IMAGES, COREDNS_IMAGE, *images_from_env()],
        entrypoints={normalize_image(COREDNS_IMAGE): str(binaries.resolve(build=False).coredns)},
        kubelet_port=free_port(),
        proxy_mode=proxy_mode,
    )
    net = config.network()
    if net.exists():
        emit(f"removing the stale network of lab {config.lab_id}")
        net.down()
    t0 = time.monotonic()
    net.up()
    emit(
        f"network up in {(time.monotonic() - t0) * 1000:.0f} ms: {datapath}, "
        + ", ".join(f"{n.name} {n.underlay_ip} podCIDR {n.pod_cidr}" for n in net.nodes)
        + f" (namespaces {net.prefix}*)"
    )
    daemons: list[Daemon] = []
    try:
        config.save(paths)
        relay = _spawn_relay(paths, net)
        daemons.append(relay)
        _relay_pid_file(paths).write_text(str(relay.pid))
        listen = f"{CONTROL_PLANE_IP}:{api_port(paths)}"
        emit(f"API relay up (pid {relay.pid}): {listen} in {net.control_plane_ns}")
        cert, key = serving_cert(paths)
        pki.issue(paths.ca_cert, paths.ca_key, cert, key, common_name="kdiag-lab-kubelet", server=True)
        pid = _spawn_kubelet(paths)
        daemons.append(Daemon("lab-kubelet", pid, KUBELET_MODULE))
        _pid_file(paths).write_text(str(pid))
        emit(f"lab kubelet up (pid {pid}, API on 127.0.0.1:{config.kubelet_port}); nodes registered")
        api = Api(config_from_lab(paths))
        kube_router = binaries.resolve(build=False).kube_router
        daemons += enforcer.start(paths, net, kube_router, api, api_port(paths), emit)
        t0 = time.monotonic()
        kube_proxy.apply_configmap(api, proxy_mode)
        binary = binaries.resolve(build=False).kube_proxy
        daemons += kube_proxy.start(paths, net, binary, api_port(paths), proxy_mode)
        emit(f"kube-proxy ({proxy_mode}) synced on every node in {(time.monotonic() - t0):.1f} s")
        t0 = time.monotonic()
        coredns.apply(api)
        t0 = time.monotonic()
        created = seed.apply(api, net, emit, timeout=SEED_TIMEOUT)
        seed.wait_running(api, created, timeout=SEED_TIMEOUT)
        seed.wait_daemonset(api, net, timeout=SEED_TIMEOUT)
        coredns.wait_ready(api, timeout=SEED_TIMEOUT)
        emit(f"seed pods Running in {(time.monotonic() - t0):.1f} s")
        t0 = time.monotonic()
        service_sync.wait_programmed(api, net, proxy_mode, timeout=SEED_TIMEOUT)
        emit(f"every Service translated by kube-proxy on every node in {(time.monotonic() - t0):.1f} s")
    except (TimeoutError, ApiError, OSError) as exc:
        _undo(daemons, net)
        raise LabError(f"lab data plane failed: {exc}", hint=f"see {paths.logs / 'kubelet.log'}") from exc
    except BaseException:
        _undo(daemons, net)
        raise
    return daemons


def _undo(daemons: list[Daemon], net: LabNetwork) -> None:
    for daemon in reversed(daemons):
        stop_process(daemon.pid, daemon.marker, grace=5)
    net.down()


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def stop(paths: LabPaths, emit: Emit) -> None:
    """Stop the kubelet (it kills its containers) and the API relay (its listening socket holds
    the control-plane namespace), then remove every namespace of this lab."""
    pid = _read_pid(_pid_file(paths))
    if pid and stop_process(pid, KUBELET_MODULE, grace=10):
        emit(f"stopped the lab kubelet (pid {pid})")
    enforcer.stop(paths, emit)
    pid = _read_pid(_relay_pid_file(paths))
    if pid and stop_process(pid, RELAY_MODULE, grace=5):
        emit(f"stopped the API relay (pid {pid})")
    net = LabNetwork(lab_id_for(paths))  # the prefix is all down() needs, even if config.json is gone
    count = len(netns.names(net.prefix))
    net.down()
    if count:
        emit(f"removed {count} network namespaces ({net.prefix}*)")


def status_components(paths: LabPaths) -> list[dict[str, Any]]:
    """What `lab status` shows beyond the daemons it started: CoreDNS, a pod of the cluster."""
    try:
        config = DataplaneConfig.load(paths)
        binary = str(binaries.resolve(build=False).coredns)
    except (OSError, LabError):
        return []
    net = config.network()
    return [coredns.status_entry(binary, netns.names(net.prefix), net.node_ns(net.nodes[0].name))]


def _target_netns(paths: LabPaths, config: DataplaneConfig, target: str) -> tuple[str, str]:
    """The network namespace to run in, and for a pod the name its mount namespace's holder goes
    by (its own network namespace name, which a hostNetwork pod sharing its node's has too)."""
    net = config.network()
    kind, _, rest = target.partition("/")
    if kind in ("node", "nodes", "no") and rest:
        try:
            net.node(rest)
        except KeyError:
            raise NotFoundError(
                f"no lab node {rest!r}", hint=f"nodes: {', '.join(n.name for n in net.nodes)}"
            ) from None
        return net.node_ns(rest), ""
    if kind in ("pod", "pods", "po") and rest:
        namespace, _, name = rest.rpartition("/")
        namespace = namespace or "default"
        ns = net.pod_ns(f"{namespace}/{name}")
        if netns.exists(ns):
            return ns, ns
        # hostNetwork pods share their node's namespace; ask the API where the pod runs.
        try:
            pod = Api(config_from_lab(paths)).get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        except ApiError as exc:
            if exc.status == 404:
                raise NotFoundError(f"pod {namespace}/{name} not found") from None
            raise LabError(f"cannot look up pod {namespace}/{name}: {exc}") from None
        node = pod["spec"].get("nodeName", "")
        if pod["spec"].get("hostNetwork") and node:
            return net.node_ns(node), ns
        raise LabError(
            f"pod {namespace}/{name} has no network namespace (phase "
            f"{pod.get('status', {}).get('phase', '?')})"
        )
    raise UsageError(f"bad target {target!r}", hint="use node/NAME or pod/[NAMESPACE/]NAME")


def exec_in(paths: LabPaths, target: str, argv: list[str]) -> int:
    """Run `argv` in a lab node's or pod's network namespace; its exit code."""
    try:
        config = DataplaneConfig.load(paths)
    except OSError:
        raise LabError(f"no lab data plane in {paths.root}", hint="run `kdiag lab up` first") from None
    ns, holder_key = _target_netns(paths, config, target)
    # Inside the pod's own mounts (its resolv.conf, volumes) when it has a mount namespace.
    holder = kubelet_sandbox.holder_of(paths.dataplane, holder_key) if holder_key else 0
    if holder:
        command = [*kubelet_sandbox.enter_argv(holder, os.getcwd()), *argv]
    else:
        command = netns.exec_argv(ns, argv)
    proc = subprocess.run(command, check=False)
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
