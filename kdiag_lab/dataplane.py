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

from kdiag.errors import NotFoundError, UsageError
from kdiag_lab import netns, pki, seed
from kdiag_lab.api import Api, ApiError, config_from_lab
from kdiag_lab.errors import LabError
from kdiag_lab.kubelet import serving_cert
from kdiag_lab.kubelet_config import DEFAULT_IMAGES, DataplaneConfig, images_from_env, lab_id_for
from kdiag_lab.paths import LabPaths
from kdiag_lab.processes import free_port
from kdiag_lab.processes import stop as stop_process
from kdiag_lab.topology import LabNetwork

Emit = Callable[[str], None]
KUBELET_MODULE = "kdiag_lab.kubelet"
KUBELET_READY_TIMEOUT = 30.0
SEED_TIMEOUT = 60.0


def _pid_file(paths: LabPaths) -> Path:
    return paths.dataplane / "kubelet.pid"


def _spawn_kubelet(paths: LabPaths) -> int:
    """Start the kubelet daemon and wait for the `ready` it writes on a pipe once nodes are
    registered and pods listed; EOF on the pipe means it died first."""
    read_fd, write_fd = os.pipe()
    paths.logs.mkdir(parents=True, exist_ok=True)
    try:
        with open(paths.logs / "kubelet.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", KUBELET_MODULE, "--dir", str(paths.root), "--ready-fd", str(write_fd)],
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
        raise LabError("the lab kubelet did not start", hint=f"see {paths.logs / 'kubelet.log'}")
    return proc.pid


def start(paths: LabPaths, datapath: str, workers: int, emit: Emit) -> list[int]:
    """Build the network, start the kubelet, create the seed cluster. Returns the kubelet's pid."""
    config = DataplaneConfig(
        lab_id=lab_id_for(paths),
        datapath=datapath,
        workers=workers,
        images=[*DEFAULT_IMAGES, *images_from_env()],
        kubelet_port=free_port(),
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
    pids: list[int] = []
    try:
        config.save(paths)
        cert, key = serving_cert(paths)
        pki.issue(paths.ca_cert, paths.ca_key, cert, key, common_name="kdiag-lab-kubelet", server=True)
        pid = _spawn_kubelet(paths)
        pids.append(pid)
        _pid_file(paths).write_text(str(pid))
        emit(f"lab kubelet up (pid {pid}, API on 127.0.0.1:{config.kubelet_port}); nodes registered")
        api = Api(config_from_lab(paths))
        t0 = time.monotonic()
        created = seed.apply(api, net, emit, timeout=SEED_TIMEOUT)
        seed.wait_running(api, created, timeout=SEED_TIMEOUT)
        emit(f"seed pods Running in {(time.monotonic() - t0):.1f} s")
    except (TimeoutError, ApiError, OSError) as exc:
        _undo(pids, net)
        raise LabError(f"lab data plane failed: {exc}", hint=f"see {paths.logs / 'kubelet.log'}") from exc
    except BaseException:
        _undo(pids, net)
        raise
    return pids


def _undo(pids: list[int], net: LabNetwork) -> None:
    for pid in pids:
        stop_process(pid, KUBELET_MODULE, grace=5)
    net.down()


def stop(paths: LabPaths, emit: Emit) -> None:
    """Stop the kubelet (it kills its containers), then remove every namespace of this lab."""
    try:
        pid = int(_pid_file(paths).read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid and stop_process(pid, KUBELET_MODULE, grace=10):
        emit(f"stopped the lab kubelet (pid {pid})")
    net = LabNetwork(lab_id_for(paths))  # the prefix is all down() needs, even if config.json is gone
    count = len(netns.names(net.prefix))
    net.down()
    if count:
        emit(f"removed {count} network namespaces ({net.prefix}*)")


def _target_netns(paths: LabPaths, config: DataplaneConfig, target: str) -> str:
    net = config.network()
    kind, _, rest = target.partition("/")
    if kind in ("node", "nodes", "no") and rest:
        try:
            net.node(rest)
        except KeyError:
            raise NotFoundError(
                f"no lab node {rest!r}", hint=f"nodes: {', '.join(n.name for n in net.nodes)}"
            ) from None
        return net.node_ns(rest)
    if kind in ("pod", "pods", "po") and rest:
        namespace, _, name = rest.rpartition("/")
        namespace = namespace or "default"
        ns = net.pod_ns(f"{namespace}/{name}")
        if netns.exists(ns):
            return ns
        # hostNetwork pods share their node's namespace; ask the API where the pod runs.
        try:
            pod = Api(config_from_lab(paths)).get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        except ApiError as exc:
            if exc.status == 404:
                raise NotFoundError(f"pod {namespace}/{name} not found") from None
            raise LabError(f"cannot look up pod {namespace}/{name}: {exc}") from None
        node = pod["spec"].get("nodeName", "")
        if pod["spec"].get("hostNetwork") and node:
            return net.node_ns(node)
        raise LabError(
            f"pod {namespace}/{name} has no network namespace (phase "
            f"{pod.get('status', {}).get('phase', '?')})"
        )
    raise UsageError(f"bad target {target!r}", hint="use node/NAME or pod/[NAMESPACE/]NAME")


def exec_in(paths: LabPaths, target: str, argv: list[str]) -> int:
    """Run `argv` (default: a shell) in a lab node's or pod's network namespace; its exit code."""
    try:
        config = DataplaneConfig.load(paths)
    except OSError:
        raise LabError(f"no lab data plane in {paths.root}", hint="run `kdiag lab up` first") from None
    ns = _target_netns(paths, config, target)
    command = argv or [os.environ.get("SHELL", "/bin/sh")]
    proc = subprocess.run(netns.exec_argv(ns, command), check=False)
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
