"""Trace destinations that lead through a Service or a DNS name, and which endpoints to probe.

Pure parsing of what the user typed (`svc/NAME`, `svc/NS/NAME`, `IP[:PORT]`, a DNS name) and of
`--port`; the lookups (does the Service exist, is the IP a ClusterIP, is a bare NAME a pod)
happen in the trace use case through `kdiag.cluster.services`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kdiag.errors import UsageError
from kdiag.model.service import Backend, Translation
from kdiag.model.service_objects import ServiceInfo

DEFAULT_MAX_ENDPOINTS = 10
# RFC 1123 labels; a DNS name may end with a dot (absolute).
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")
# IANA_SVC_NAME, as a Service port name must be: at most 15 characters, a-z 0-9 '-', a letter.
_PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")


@dataclass(frozen=True)
class ServiceDestination:
    """Where a trace goes, as typed. kind:

    - "service": `svc/NAME` or `svc/NS/NAME` (namespace "" = the current one);
    - "address": an IPv4 address, with a port when `IP:PORT` was given (a ClusterIP or a pod IP:
      the caller finds out which);
    - "dns": a name with a dot or a trailing dot, resolved as the source pod's resolver would;
    - "name": a bare NAME, a pod (as before) when one matches, else a DNS name like "dns".
    """

    kind: str
    text: str
    name: str = ""
    namespace: str = ""
    address: str = ""
    port: int | None = None


def parse_destination(text: str) -> ServiceDestination:
    """Raises UsageError (one line, exit code 2) for text that is none of the accepted forms."""
    value = text.strip()
    if value.startswith("svc/") or value.startswith("service/") or value.startswith("services/"):
        parts = value.split("/")[1:]
        if len(parts) not in (1, 2) or not all(_DNS_NAME.match(p) and not p.endswith(".") for p in parts):
            raise UsageError(f"invalid service reference {text!r}", hint="use svc/NAME or svc/NAMESPACE/NAME")
        namespace, name = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
        return ServiceDestination("service", text, name=name, namespace=namespace)
    address, port = _split_address(value)
    if address:
        return ServiceDestination("address", text, address=address, port=port)
    lowered = value.lower()
    if _DNS_NAME.match(lowered) and len(lowered.rstrip(".")) <= 253:
        kind = "dns" if "." in lowered else "name"
        return ServiceDestination(kind, text, name=lowered)
    raise UsageError(f"cannot make a destination of {text!r}",
                     hint="give a pod, svc/NAME, svc/NAMESPACE/NAME, an IP[:PORT] or a DNS name")


def _split_address(value: str) -> tuple[str, int | None]:
    host, sep, port_text = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    try:
        address = str(ipaddress.IPv4Address(host))
    except ValueError:
        return "", None
    if not sep:
        return address, None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UsageError(f"invalid port in {value!r}", hint="a port is a number from 1 to 65535")
    return address, int(port_text)


def parse_port_option(text: str | None) -> int | str | None:
    """`--port`: a number (1-65535) or a Service port name; None when not given."""
    if text is None or text == "":
        return None
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= 65535:
            raise UsageError(f"--port {text} is out of range", hint="a port is a number from 1 to 65535")
        return number
    if not _PORT_NAME.match(text):
        raise UsageError(f"--port {text!r} is neither a port number nor a valid port name",
                         hint="port names are up to 15 lowercase letters, digits and '-'")
    return text


def services_with_address(address: str, services: Iterable[ServiceInfo]) -> list[ServiceInfo]:
    """The Services whose ClusterIP(s) include `address` (at most one in a sane cluster)."""
    return [s for s in services if address in s.cluster_ips]


def choose_endpoints(backends: Sequence[Backend], *,
                     limit: int = DEFAULT_MAX_ENDPOINTS) -> tuple[Backend, ...]:
    """At most `limit` backends to probe, covering every node before a second one per node.

    Used backends come first (they carry the traffic), then the rest; within each, nodes in name
    order take turns, so a fault on one node shows even when the Service has many replicas.
    """
    chosen: list[Backend] = []
    for group in ([b for b in backends if b.used], [b for b in backends if not b.used]):
        per_node: dict[str, list[Backend]] = {}
        for b in sorted(group, key=lambda b: (b.node_name, b.address, b.port or 0)):
            per_node.setdefault(b.node_name, []).append(b)
        while len(chosen) < limit and any(per_node.values()):
            for node in sorted(per_node):
                if per_node[node] and len(chosen) < limit:
                    chosen.append(per_node[node].pop(0))
    return tuple(chosen)


@dataclass(frozen=True)
class L4Target:
    """One address:port the probe checks directly: the ClusterIP (role "frontend") or an
    endpoint (role "endpoint"); `to_spec` gives the agent's spec.targets entry."""

    address: str
    port: int
    protocol: str  # "tcp" | "udp"
    role: str
    backend: Backend | None = None

    def to_spec(self) -> dict[str, object]:
        return {"target": self.address, "port": self.port, "protocol": self.protocol}


def l4_targets(translation: Translation, *, limit: int = DEFAULT_MAX_ENDPOINTS) -> tuple[L4Target, ...]:
    """The ClusterIP:port (none for headless) and up to `limit` endpoints IP:targetPort, chosen
    to cover each node; SCTP and endpoints whose port is unknown are left out."""
    protocol = translation.port.protocol.lower()
    if protocol not in ("tcp", "udp"):
        return ()
    out = [L4Target(ip, translation.port.port, protocol, "frontend")
           for ip in translation.frontends if ":" not in ip]
    for backend in choose_endpoints([b for b in translation.backends if b.port is not None], limit=limit):
        assert backend.port is not None
        out.append(L4Target(backend.address, backend.port, protocol, "endpoint", backend))
    return tuple(out)
