"""A pod's mount namespace, as a container runtime gives each pod: /etc/resolv.conf and volumes.

One holder process per pod (`sleep infinity` in the pod's network namespace, in a private mount
namespace of its own) keeps the mounts; every container and `kdiag lab exec pod/...` enter it with
`nsenter --target <holder> --mount --net`. Nothing is mounted in the host's mount namespace:
the mounts live and die with the holder, and deleting the pod's network namespace kills it.

A volume whose mount path does not exist on the host (/etc/coredns, /var/run/secrets/...) gets
its nearest existing ancestor overlaid, inside the pod's namespace only, with a tmpfs upper layer,
so the directory can be made there without touching the host's files.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kdiag_lab import netns

CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
HOST_RESOLV = Path("/etc/resolv.conf")
READY_TIMEOUT = 10.0
Json = dict[str, Any]


def resolv_conf(pod: Mapping[str, Any], node_resolv: str) -> str | None:
    """/etc/resolv.conf as the kubelet writes it for the pod's dnsPolicy and dnsConfig; None
    when the pod simply gets its node's file (hostNetwork with ClusterFirst, or Default with no
    dnsConfig), which in the lab is the host's own."""
    spec = pod.get("spec") or {}
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"  # as the kubelet does: ClusterFirstWithHostNet is the opt-in
    dns_config = spec.get("dnsConfig") or {}
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        nameservers = [CLUSTER_DNS]
        searches = [f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN]
        options = ["ndots:5"]
    elif policy == "Default":
        if not dns_config:
            return None
        for line in node_resolv.splitlines():
            key, _, value = line.partition(" ")
            if key == "nameserver":
                nameservers.append(value.strip())
            elif key == "search":
                searches = value.split()
            elif key == "options":
                options = value.split()
    nameservers += [n for n in dns_config.get("nameservers") or [] if n not in nameservers]
    searches += [s for s in dns_config.get("searches") or [] if s not in searches]
    for option in dns_config.get("options") or []:
        text = option["name"] + (f":{option['value']}" if option.get("value") else "")
        options = [o for o in options if o.split(":")[0] != option["name"]] + [text]
    lines = [f"nameserver {n}" for n in nameservers[:3]]
    if searches:
        lines.append("search " + " ".join(searches[:32]))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def volume_files(pod: Mapping[str, Any], get: Any) -> dict[str, dict[str, bytes]]:
    """configMap and secret volumes by name -> {file name: content}; `get(path)` reads the API."""
    namespace = pod["metadata"]["namespace"]
    out: dict[str, dict[str, bytes]] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if "configMap" in volume:
            obj = get(f"/api/v1/namespaces/{namespace}/configmaps/{volume['configMap']['name']}")
            out[volume["name"]] = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        elif "secret" in volume:
            obj = get(f"/api/v1/namespaces/{namespace}/secrets/{volume['secret']['secretName']}")
            out[volume["name"]] = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    return out


def pid_file(dataplane_dir: Path, key: str) -> Path:
    return dataplane_dir / "sandboxes" / f"{key}.pid"


def _existing_ancestor(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def holder_script(workdir: Path, resolv: Path | None, mounts: Sequence[tuple[Path, str]]) -> str:
    """The shell the holder runs in its new mount namespace before it idles."""
    q = shlex.quote
    lines = ["set -e"]
    overlaid: list[Path] = []
    for index, (_source, target) in enumerate(mounts):
        anchor = _existing_ancestor(Path(target).parent).resolve()
        if Path(target).exists() or anchor in overlaid:
            continue
        layer = workdir / f"overlay{index}"
        layer.mkdir(parents=True, exist_ok=True)
        lines += [
            f"mount -t tmpfs tmpfs {q(str(layer))}",
            f"mkdir {q(str(layer / 'u'))} {q(str(layer / 'w'))}",
            f"mount -t overlay overlay -o lowerdir={anchor},upperdir={layer / 'u'},workdir={layer / 'w'}"
            f" {q(str(anchor))}",
        ]
        overlaid.append(anchor)
    for source, target in mounts:
        lines += [f"mkdir -p {q(target)}", f"mount --bind -o ro {q(str(source))} {q(target)}"]
    if resolv is not None:
        lines.append(f"mount --bind {q(str(resolv))} /etc/resolv.conf")
    lines += ["echo ready", "exec sleep infinity"]
    return "\n".join(lines)


class MountSandbox:
    """The holder of one pod's mount namespace."""

    def __init__(self, ns: str, workdir: Path, pid_path: Path) -> None:
        self.ns, self.workdir, self.pid_path = ns, workdir, pid_path
        self.pid = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, pod: Mapping[str, Any], resolv: str | None, volumes: dict[str, dict[str, bytes]]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        resolv_path = None
        if resolv is not None:
            resolv_path = self.workdir / "resolv.conf"
            resolv_path.write_text(resolv)
        mounts: list[tuple[Path, str]] = []
        by_volume: dict[str, Path] = {}
        for name, files in volumes.items():
            directory = self.workdir / "volumes" / name
            directory.mkdir(parents=True, exist_ok=True)
            for file_name, content in files.items():
                (directory / file_name).write_bytes(content)
            by_volume[name] = directory
        for container in (pod.get("spec") or {}).get("containers") or []:
            for mount in container.get("volumeMounts") or []:
                pair = (by_volume.get(mount["name"]), mount["mountPath"])
                if pair[0] is not None and pair not in mounts:
                    mounts.append((by_volume[mount["name"]], mount["mountPath"]))
        script = holder_script(self.workdir, resolv_path, mounts)
        argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]
        proc = subprocess.Popen(
            netns.exec_argv(self.ns, argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != b"ready":
            proc.kill()
            _, err = proc.communicate()
            raise OSError(f"pod mount namespace: {err.decode(errors='replace').strip()}")
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
        self.pid = proc.pid  # ip, unshare and sh all exec: this pid is the holder itself
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.write_text(str(self.pid))
        self._proc = proc

    def enter_argv(self, workdir: str | Path) -> list[str]:
        return enter_argv(self.pid, workdir)

    def stop(self) -> None:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            if self._proc is not None:
                self._proc.wait()
            self.pid = 0
        self.pid_path.unlink(missing_ok=True)


def for_pod(pod: Mapping[str, Any], ns: str, workdir: Path, get: Any, key: str) -> MountSandbox | None:
    """The pod's mount namespace, in network namespace `ns`, with resolv.conf for its dnsPolicy
    and its configMap/secret volumes; None when it needs neither (it sees the host's files, as a
    hostNetwork pod with ClusterFirst does). `key` names the holder's pid file: the pod's own
    network namespace name, which a hostNetwork pod (sharing its node's) has too."""
    resolv = resolv_conf(pod, HOST_RESOLV.read_text())
    volumes = volume_files(pod, get)
    if resolv is None and not volumes:
        return None
    # workdir is DIR/dataplane/pods/<pod>/sandbox: the pid files live under DIR/dataplane.
    sandbox = MountSandbox(ns, workdir, pid_file(workdir.parents[2], key))
    sandbox.start(pod, resolv, volumes)
    return sandbox


def enter_argv(holder: int, workdir: str | Path) -> list[str]:
    """The prefix that runs a command in the pod's mount and network namespaces, in `workdir`:
    entering a mount namespace resets the working directory to its root, so it is set again."""
    return ["nsenter", f"--target={holder}", "--mount", "--net", f"--wd={workdir}", "--"]


def holder_of(dataplane_dir: Path, key: str) -> int:
    """The live holder pid of a pod's mount namespace (`key` as in for_pod), 0 when it has none."""
    try:
        pid = int(pid_file(dataplane_dir, key).read_text())
    except (OSError, ValueError):
        return 0
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return 0
    return pid if cmd.startswith(b"sleep\0") else 0
