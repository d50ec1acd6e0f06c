"""Finding codes, findings, verdicts and the cluster context a verdict is judged in: pure data.

Codes are part of kdiag/v1 output: they are added, never renamed. docs/findings.md documents each
one (what it means, what raises it, what to check next).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from kdiag.model.objects import NodeInfo
from kdiag.model.targets import Target, target_pod


class Code(str, Enum):
    PATH_AS_EXPECTED = "PATH_AS_EXPECTED"
    L2_ADJACENT = "L2_ADJACENT"
    ROUTED_HOPS = "ROUTED_HOPS"
    TTL_MISMATCH = "TTL_MISMATCH"
    ARP_UNANSWERED = "ARP_UNANSWERED"
    NO_REPLY = "NO_REPLY"
    STOPS_AT_HOP = "STOPS_AT_HOP"
    OVERLAY_SUSPECT = "OVERLAY_SUSPECT"
    TCP_CLOSED = "TCP_CLOSED"
    TCP_FILTERED = "TCP_FILTERED"
    ICMP_FILTERED_TCP_OK = "ICMP_FILTERED_TCP_OK"
    MTU_BLACKHOLE = "MTU_BLACKHOLE"
    DST_NOT_READY = "DST_NOT_READY"
    ENGINE_LIMITED = "ENGINE_LIMITED"
    UDP_CLOSED = "UDP_CLOSED"
    UDP_FILTERED = "UDP_FILTERED"
    UDP_OPEN_FILTERED = "UDP_OPEN_FILTERED"
    MTU_UNMEASURED = "MTU_UNMEASURED"
    # Service and DNS traces (kdiag.model.checks.service, .dns)
    SVC_NO_ENDPOINTS = "SVC_NO_ENDPOINTS"
    SVC_PORT_MISMATCH = "SVC_PORT_MISMATCH"
    SVC_NOT_TRANSLATED = "SVC_NOT_TRANSLATED"
    ENDPOINT_UNREACHABLE = "ENDPOINT_UNREACHABLE"
    SVC_AS_EXPECTED = "SVC_AS_EXPECTED"
    DNS_FAILED = "DNS_FAILED"
    DNS_MISMATCH = "DNS_MISMATCH"
    DNS_AS_EXPECTED = "DNS_AS_EXPECTED"
    POLICY_DENIES = "POLICY_DENIES"
    POLICY_ALLOWS_BUT_FILTERED = "POLICY_ALLOWS_BUT_FILTERED"
    POLICY_DENIES_BUT_PASSED = "POLICY_DENIES_BUT_PASSED"
    POLICY_UNKNOWN = "POLICY_UNKNOWN"
    PATH_DETOUR = "PATH_DETOUR"
    TCP_RESET_IN_PATH = "TCP_RESET_IN_PATH"
    NODE_NOT_FORWARDING = "NODE_NOT_FORWARDING"
    RETURN_PATH_SUSPECT = "RETURN_PATH_SUSPECT"
    SOURCE_NOT_PROBED = "SOURCE_NOT_PROBED"
    # --observe: where the node observers saw the packets stop (kdiag.model.checks.observation)
    NO_ROUTE = "NO_ROUTE"
    RETURN_PATH_BROKEN = "RETURN_PATH_BROKEN"
    FORWARDING_DISABLED = "FORWARDING_DISABLED"
    RP_FILTER_DROP = "RP_FILTER_DROP"
    FIREWALL_DROP = "FIREWALL_DROP"
    TUNNEL_NOT_SENT = "TUNNEL_NOT_SENT"
    TUNNEL_NOT_RECEIVED = "TUNNEL_NOT_RECEIVED"
    DELIVERED_NO_ANSWER = "DELIVERED_NO_ANSWER"


Severity = Literal["info", "warning", "error"]
Status = Literal["ok", "problem", "inconclusive"]
_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    code: Code
    severity: Severity
    message: str
    hint: str = ""  # what to check next, naming the likely component
    node: str = ""  # the node the finding points at, when it points at one

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "severity": self.severity, "message": self.message,
                "hint": self.hint, "node": self.node}


@dataclass(frozen=True)
class Verdict:
    status: Status
    matches_expected: bool
    findings: tuple[Finding, ...]
    summary: str = ""
    explanation: str = ""  # what matched the expected path and what did not, in a few words
    drop_point: Mapping[str, Any] | None = None  # --observe: where a direction stopped (capture_hops)
    observed: bool = False  # node observers ran (then dropPoint is in the JSON, null when none)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code.value for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "matchesExpected": self.matches_expected,
                               "summary": self.summary, "explanation": self.explanation,
                               "findings": [f.to_dict() for f in self.findings]}
        if self.drop_point is not None or self.observed:
            out["dropPoint"] = dict(self.drop_point) if self.drop_point is not None else None
        return out


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Errors first (the likeliest cause leads), stable otherwise."""
    return tuple(sorted(findings, key=lambda f: _RANK[f.severity]))


@dataclass(frozen=True)
class Context:
    """What the verdict needs besides the expected path and the probe result."""

    # node name -> every address that belongs to it: underlay IPs, podCIDR .1 (cni0 / gateway),
    # podCIDR .0 (flannel.1, the source of ICMP errors the peer node sends), tunnel addresses.
    node_addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    port: int | None = None  # the port the user asked about (None: ICMP only)
    dst_name: str = ""
    dst_phase: str = ""  # Running, Pending, ... ("" unknown, e.g. DST given as an IP)
    dst_ready: bool | None = None
    dst_ports: tuple[int, ...] = ()  # containerPorts the destination declares

    def owner(self, address: str | None) -> str:
        """The node an address belongs to, "" when none does."""
        if not address:
            return ""
        for name, addrs in self.node_addresses.items():
            if address in addrs:
                return name
        return ""


def node_addresses(nodes: Iterable[NodeInfo]) -> dict[str, tuple[str, ...]]:
    """Addresses each node may answer a traceroute from, derived from what the API shows."""
    out: dict[str, tuple[str, ...]] = {}
    for n in nodes:
        addrs: list[str] = [*n.internal_ips, *n.external_ips]
        for key, value in n.annotations.items():
            # flannel public-ip, Calico IPv4Address and tunnel addresses, Cilium's cilium_host IP
            if key.startswith(("flannel.alpha.coreos.com/public-ip", "projectcalico.org/IPv4",
                               "network.cilium.io/ipv4-cilium-host", "io.cilium.network.ipv4-cilium-host")):
                addrs.append(value.split("/")[0])
        for cidr in n.pod_cidrs:
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                continue
            if net.version == 4:
                addrs += [str(net.network_address), str(net.network_address + 1)]
        out[n.name] = tuple(dict.fromkeys(a for a in addrs if a))
    return out


def context_for(nodes: Iterable[NodeInfo], *, target: Target, port: int | None = None) -> Context:
    """The Context of a trace to `target`; `port` is the TCP port asked about (None: ICMP only)."""
    dst = target_pod(target)
    if dst is None:
        return Context(node_addresses(nodes), port)
    # A pod without status conditions: readiness unknown, not false.
    ready = dst.ready if dst.conditions else None
    return Context(node_addresses(nodes), port, dst.key, dst.phase, ready, tuple(p.port for p in dst.ports))
