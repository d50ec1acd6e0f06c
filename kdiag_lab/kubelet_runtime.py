"""The lab kubelet's "container runtime": processes inside a pod's network namespace, and their logs.

A container is one process group started with `ip netns exec <pod netns>` on the host filesystem.
Its stdout/stderr are written to a log file in the CRI format the real kubelet reads
(`<RFC3339Nano> stdout F <line>`), so `kubectl logs` (timestamps, tail, follow) can be served from it.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kdiag_lab import netns
from kdiag_lab.kubelet_config import normalize_image

PYTHON_NAMES = {"python", "python3", "/usr/bin/python3", "/usr/local/bin/python3", "/usr/bin/python"}


def now_rfc3339(nano: bool = False) -> str:
    stamp = datetime.now(timezone.utc)
    if nano:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def container_argv(
    container: Mapping[str, Any], pod_name: str, entrypoints: Mapping[str, str] | None = None
) -> list[str]:
    """What to run for a container: its command + args; `python3` becomes the lab's interpreter
    (so kdiag's agent finds scapy). Without a command: the image's entrypoint when the lab has
    the real program for it (`entrypoints`: normalized image -> binary, e.g. CoreDNS) followed by
    the args; otherwise a listener on the declared containerPorts, or an idle process."""
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    entrypoint = (entrypoints or {}).get(normalize_image(str(container.get("image", ""))))
    if entrypoint and not container.get("command"):
        return [entrypoint, *(str(a) for a in container.get("args") or [])]
    if not argv:
        ports = [
            p["containerPort"] for p in container.get("ports") or [] if p.get("protocol", "TCP") == "TCP"
        ]
        if not ports:
            return ["sleep", "infinity"]
        argv = [sys.executable, "-m", "kdiag_lab.wire", "serve", "--name", pod_name]
        for port in ports:
            argv += ["--tcp", str(port)]
        return argv
    if argv[0] in PYTHON_NAMES or os.path.basename(argv[0]).startswith("python3"):
        argv[0] = sys.executable
    return argv


def _field_ref(path: str, pod: Mapping[str, Any], pod_ip: str, host_ip: str) -> str:
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.hostIP": host_ip,
    }
    return str(values.get(path, ""))


def container_env(
    container: Mapping[str, Any], pod: Mapping[str, Any], pod_ip: str, host_ip: str
) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOSTNAME": pod.get("metadata", {}).get("name", ""),
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",  # logs should reach `kubectl logs` as they are written
        # As the kubelet sets for every pod: in-cluster clients (CoreDNS) find the API here.
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
    }
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif "fieldRef" in (item.get("valueFrom") or {}):
            env[item["name"]] = _field_ref(
                item["valueFrom"]["fieldRef"].get("fieldPath", ""), pod, pod_ip, host_ip
            )
    return env


class ContainerLog:
    """One container instance's log file, plus a condition followers wait on for new lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        self._lock = threading.Lock()
        self.changed = threading.Condition()
        self.closed = False

    def write(self, stream: str, data: bytes) -> None:
        text = data.decode(errors="replace").rstrip("\n")
        line = f"{now_rfc3339(nano=True)} {stream} F {text}\n"
        with self._lock, open(self.path, "a") as f:
            f.write(line)
        with self.changed:
            self.changed.notify_all()

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()


def format_lines(raw: str, timestamps: bool) -> Iterator[str]:
    """CRI log lines -> what `kubectl logs` prints."""
    for line in raw.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        yield (f"{parts[0]} {parts[3]}\n" if timestamps else parts[3] + "\n")


def follow(log: ContainerLog, offset: int, alive: Callable[[], bool]) -> Iterator[str]:
    """Raw CRI text appended after `offset`, until the container ended and all was read, or the
    reader went away (`alive` is checked while nothing new arrives)."""
    while True:
        with open(log.path) as f:
            f.seek(offset)
            chunk = f.read()
        # Only whole lines: a write in progress is picked up on the next round.
        end = chunk.rfind("\n") + 1
        if end:
            offset += len(chunk[:end].encode())
            yield chunk[:end]
            continue
        with log.changed:
            if log.closed and os.path.getsize(log.path) <= offset:
                return
            log.changed.wait(timeout=1.0)
        if not alive():
            return


def peer_closed(sock: socket.socket) -> bool:
    """True when the client closed its side (readable with nothing to read)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Process:
    """A running container: its process group, log pumps, and an exit callback."""

    def __init__(
        self,
        ns: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        workdir: Path,
        log: ContainerLog,
        on_exit: Callable[[int], None],
        hostname: str = "",
        enter: Sequence[str] = (),
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        if shutil.which(argv[0], path=env.get("PATH")) is None and not os.path.isabs(argv[0]):
            raise FileNotFoundError(f'exec: "{argv[0]}": executable file not found in $PATH')
        self.log = log
        if hostname:
            # Its own UTS namespace, so the container sees the pod's name as hostname, as in a pod.
            argv = ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *argv]
        # Own session: signals reach everything the container started, never the kubelet.
        # `enter`: the pod's mount-namespace holder (kubelet_sandbox), else the bare netns.
        self.popen = subprocess.Popen(
            [*enter, *argv] if enter else netns.exec_argv(ns, argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=dict(env),
            start_new_session=True,
        )
        pumps = [
            threading.Thread(target=self._pump, args=(stream, name), daemon=True)
            for stream, name in ((self.popen.stdout, "stdout"), (self.popen.stderr, "stderr"))
        ]
        for pump in pumps:
            pump.start()

        def wait() -> None:
            code = self.popen.wait()
            for pump in pumps:
                pump.join()  # every line is in the log before anyone hears of the exit
            log.close()
            on_exit(code)

        threading.Thread(target=wait, daemon=True, name=f"wait-{self.popen.pid}").start()

    def _pump(self, stream: Any, name: str) -> None:
        for line in iter(stream.readline, b""):
            self.log.write(name, line)
        stream.close()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def stop(self, grace: float) -> None:
        """SIGTERM the group, SIGKILL it after `grace` seconds, and wait for the exit."""
        if self.popen.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=max(grace, 0.0))
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait()
