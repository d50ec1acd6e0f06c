"""The lab's processes as `lab status` and `lab up` see them: what runs, whether it is healthy,
which release it is, and how to start it again.

Every process `up` starts is a `Daemon` recorded in DIR/state.json. Its `health` names a check in
`HEALTH_CHECKS`: "readyz"/"healthz" GET that path on the daemon's secure port (verified with the
lab CA) and want `ok`; "etcd" asks etcd's /health; "process" only asks whether the pid still
runs its program. Components added later (kube-proxy, CoreDNS, the policy enforcer) record their
own Daemon and, when none of these fit, register a check of their own in `HEALTH_CHECKS`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kdiag_lab.processes import is_ours, spawn
from kdiag_lab.topology import CONTROL_PLANE_IP

HEALTH_TIMEOUT = 2.0


@dataclass(frozen=True)
class Daemon:
    """A process the lab started: `marker` identifies it in /proc/<pid>/cmdline.

    `argv` and `log` let a degraded lab start it again; `port` is its secure (health) port on
    127.0.0.1, 0 when it serves none; `version` is what the binary reported when it was started.
    """

    name: str
    pid: int
    marker: str
    argv: list[str] = field(default_factory=list)
    log: str = ""
    health: str = "process"
    port: int = 0
    version: str = ""
    netns: str = ""  # the lab network namespace its health port is in ("" = the root namespace)

    def running(self) -> bool:
        return is_ours(self.pid, self.marker)

    def exited(self) -> str:
        """"NAME exited during start-up", with its log's last line: temp labs (the tests') are
        removed on failure, so CI's output is the only place the reason survives."""
        try:
            lines = Path(self.log).read_text(errors="replace").strip().splitlines() if self.log else []
        except OSError:
            lines = []
        ending = f" (its log ends: {lines[-1][-300:]})" if lines else ""
        return f"{self.name} exited during start-up{ending}"

    def restarted(self) -> Daemon:
        """Start the recorded command again (same flags, ports and data): the new Daemon."""
        pid = spawn(self.argv, Path(self.log))
        return Daemon(self.name, pid, self.marker, self.argv, self.log, self.health, self.port, self.version,
                      self.netns)


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str  # "ok", "running", "GONE", or why the check failed


def _get_ok(path: str) -> Callable[[Daemon, Path], Health]:
    def check(daemon: Daemon, ca_file: Path) -> Health:
        context = ssl.create_default_context(cafile=str(ca_file))
        connection = http.client.HTTPSConnection(
            "127.0.0.1", daemon.port, timeout=HEALTH_TIMEOUT, context=context
        )
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read(200).decode(errors="replace").strip()
        except (OSError, http.client.HTTPException) as exc:
            return Health(False, f"{path} on 127.0.0.1:{daemon.port} did not answer: {exc}")
        finally:
            connection.close()
        if response.status == 200 and body == "ok":
            return Health(True, "ok")
        return Health(False, f"{path} answered {response.status}: {body.splitlines()[0] if body else ''}")

    return check


def _etcd_health(daemon: Daemon, ca_file: Path) -> Health:
    """etcd serves plain HTTP on loopback in the lab; /health says {"health":"true",...}."""
    connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=HEALTH_TIMEOUT)
    try:
        connection.request("GET", "/health")
        body = connection.getresponse().read(500)
    except (OSError, http.client.HTTPException) as exc:
        return Health(False, f"/health on 127.0.0.1:{daemon.port} did not answer: {exc}")
    finally:
        connection.close()
    try:
        healthy = json.loads(body).get("health") == "true"
    except ValueError:
        healthy = False
    return Health(True, "ok") if healthy else Health(False, f"/health answered {body[:100]!r}")


def _process_only(daemon: Daemon, ca_file: Path) -> Health:
    return Health(True, "running")


def _in_netns(host: str, path: str, tls: bool) -> Callable[[Daemon, Path], Health]:
    """GET `path` on host:port from inside the daemon's lab namespace (the socket is created
    there, as the relay creates its own); want 200 (and `ok` for TLS /readyz)."""

    def check(daemon: Daemon, ca_file: Path) -> Health:
        from kdiag_lab.relay import entered

        where = f"{host}:{daemon.port} in {daemon.netns}"
        try:
            with entered(daemon.netns):
                sock = socket.create_connection((host, daemon.port), timeout=HEALTH_TIMEOUT)
            if tls:
                context = ssl.create_default_context(cafile=str(ca_file))
                sock = context.wrap_socket(sock, server_hostname=host)
            with sock:
                sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
        except OSError as exc:
            return Health(False, f"{path} on {where} did not answer: {exc}")
        status_line, _, rest = answer.partition(b"\r\n")
        body = rest.partition(b"\r\n\r\n")[2].decode(errors="replace").strip()
        if b" 200 " in status_line + b" " and (not tls or body == "ok"):
            return Health(True, "ok")
        return Health(False, f"{path} on {where} answered {status_line.decode(errors='replace')}")

    return check


HEALTH_CHECKS: dict[str, Callable[[Daemon, Path], Health]] = {
    "readyz": _get_ok("/readyz"),
    "healthz": _get_ok("/healthz"),
    "etcd": _etcd_health,
    "process": _process_only,
    # kube-proxy's healthz in its node namespace: 200 once its rules are synced.
    "netns-healthz": _in_netns("127.0.0.1", "/healthz", tls=False),
    # The apiserver's /readyz through the relay, dialled where in-lab clients dial it.
    "relay-readyz": _in_netns(CONTROL_PLANE_IP, "/readyz", tls=True),
}


def health(daemon: Daemon, ca_file: Path) -> Health:
    if not daemon.running():
        return Health(False, "GONE")
    return HEALTH_CHECKS[daemon.health](daemon, ca_file)


def binary_version(binary: str) -> str:
    """The first line of `BINARY --version` ("Kubernetes v1.36.3", "etcd Version: 3.6.16")."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        result = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        lines = (result.stdout or result.stderr).strip().splitlines()
        return lines[0] if lines else ""
    return ""
