"""A trace through a Service: the chain DNS -> ClusterIP -> endpoints, as expected and as probed.

Pure. `ServicePlan` is the expectation the trace use case builds before probing (from
kdiag.model.service, service_dns, service_proxy and service_targets); `ServiceTrace` pairs it with
what the agent's `dns` and `targets` probes saw (kdiag.model.service_observed). The checks
(kdiag.model.checks.service and .dns) judge it; `service_section` / `dns_section` are the Trace
document's `service` and `dns` fields (docs/schema/trace.schema.json).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kdiag.model.service import Backend, Translation
from kdiag.model.service_dns import CLUSTER_DOMAIN, PodDns, Resolution, query_names
from kdiag.model.service_proxy import ServiceProxy
from kdiag.model.service_targets import L4Target

if TYPE_CHECKING:
    # Decoding the probe's answer happens after probing: imported there (kdiag.trace.prefetch).
    from kdiag.model.service_observed import DnsSeen, TargetSeen


@dataclass(frozen=True)
class DnsPlan:
    """The DNS link: the name the source pod's resolver is asked, its resolv.conf, the prediction."""

    name: str
    pod_dns: PodDns
    nameserver_reason: str  # why that nameserver (kube-dns ClusterIP, NodeLocal DNSCache, ...)
    resolution: Resolution
    # The Service behind the nameserver when it is the kube-dns ClusterIP, and how many endpoints
    # it has ready (None: not known), so a failed lookup can say "CoreDNS has no ready endpoint".
    nameserver_service: str = ""
    nameserver_endpoints: int | None = None
    cluster_domain: str = CLUSTER_DOMAIN

    @property
    def nameserver(self) -> str:
        return self.pod_dns.conf.nameservers[0] if self.pod_dns.conf.nameservers else ""

    @property
    def query_names(self) -> tuple[str, ...]:
        return query_names(self.name, self.pod_dns.conf)


@dataclass(frozen=True)
class ServicePlan:
    """What a trace to a Service expects before probing, and what it asks the agent to check."""

    destination: str  # as typed: svc/NAME, a DNS name, a ClusterIP[:port]
    translation: Translation
    proxy: ServiceProxy
    targets: tuple[L4Target, ...]  # the ClusterIP:port (not for headless) and the chosen endpoints
    dns: DnsPlan | None = None  # None: the destination was an address, no name to resolve
    path_endpoint: Backend | None = None  # the endpoint whose pod-to-pod path is traced
    max_endpoints: int = 10
    # containerPorts each endpoint pod declares ("namespace/name" -> numbers), to name the right one
    declared_ports: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def frontends(self) -> tuple[L4Target, ...]:
        return tuple(t for t in self.targets if t.role == "frontend")

    @property
    def endpoints(self) -> tuple[L4Target, ...]:
        return tuple(t for t in self.targets if t.role == "endpoint")


@dataclass(frozen=True)
class Probed:
    """One L4 target with what the agent saw there (None: it was not in the result)."""

    target: L4Target
    seen: TargetSeen | None

    @property
    def answered(self) -> bool:
        return self.seen is not None and self.seen.answered

    @property
    def refused(self) -> bool:
        return self.seen is not None and self.seen.refused

    @property
    def silent(self) -> bool:
        """Measured, and the peer neither accepted nor refused (no answer, or an ICMP error). UDP
        silence proves nothing (open|filtered): only an ICMP error counts there."""
        seen = self.seen
        if seen is None or not seen.measured or seen.answered or seen.refused:
            return False
        return seen.state == "filtered" if self.target.protocol == "udp" else True

    def where(self) -> str:
        b = self.target.backend
        pod = b.pod.split("/", 1)[-1] if b and b.pod else ""
        node = b.node_name if b else ""
        who = f"{self.target.address}:{self.target.port}"
        about = [x for x in (pod, f"on {node}" if node else "") if x]
        return who + (f" ({', '.join(about)})" if about else "")


@dataclass(frozen=True)
class ServiceTrace:
    plan: ServicePlan
    dns: DnsSeen | None
    probed: tuple[Probed, ...]

    @property
    def frontends(self) -> tuple[Probed, ...]:
        return tuple(p for p in self.probed if p.target.role == "frontend")

    @property
    def endpoints(self) -> tuple[Probed, ...]:
        return tuple(p for p in self.probed if p.target.role == "endpoint")

    @property
    def used_endpoints(self) -> tuple[Probed, ...]:
        """The probed endpoints kube-proxy sends traffic to (not the unready ones kdiag also tried)."""
        return tuple(p for p in self.endpoints if p.target.backend is None or p.target.backend.used)

    @property
    def measured(self) -> bool:
        """Some L4 target or the DNS query was measured: the chain can be judged."""
        return any(p.seen is not None and p.seen.measured for p in self.probed) or bool(
            self.dns and self.dns.measured)


def service_trace(plan: ServicePlan, result: Mapping[str, Any]) -> ServiceTrace:
    """Pair the plan with the agent's ProbeResult (targets are matched by address, port, protocol)."""
    from kdiag.model.service_observed import decode_dns, decode_targets

    seen = {(t.address, t.port, t.protocol): t for t in decode_targets(result)}
    probed = tuple(Probed(t, seen.get((t.address, t.port, t.protocol))) for t in plan.targets)
    return ServiceTrace(plan, decode_dns(result) if plan.dns is not None else None, probed)


def agent_extras(plan: ServicePlan) -> dict[str, Any]:
    """The agent spec's `dns` and `targets` entries for this plan (docs/agent.md)."""
    out: dict[str, Any] = {}
    if plan.dns is not None and plan.dns.nameserver:
        out["dns"] = {"server": plan.dns.nameserver, "names": list(plan.dns.query_names)[:16]}
    if plan.targets:
        out["targets"] = [t.to_spec() for t in plan.targets]
    return out


# ---- the Trace document's sections ------------------------------------------------------------------


def _backend(b: Backend) -> dict[str, Any]:
    return {"address": b.address, "port": b.port, "protocol": b.protocol, "node": b.node_name or None,
            "pod": b.pod or None, "ready": b.ready, "serving": b.serving, "terminating": b.terminating,
            "used": b.used, "local": b.local, "portFrom": b.port_from or None,
            "expectedPort": b.expected_port, "reason": b.reason or None}


def service_section(trace: ServiceTrace) -> dict[str, Any]:
    plan, tr = trace.plan, trace.plan.translation
    s, port = tr.service, tr.port
    probed = {(p.target.address, p.target.port): p for p in trace.endpoints}
    endpoints = []
    for b in tr.backends:
        p = probed.get((b.address, b.port or 0))
        endpoints.append({**_backend(b), "probed": p is not None,
                          "result": p.seen.to_dict() if p is not None and p.seen is not None else None})
    return {
        "destination": plan.destination, "namespace": s.namespace, "name": s.name, "type": s.type,
        "clusterIPs": list(s.cluster_ips), "headless": s.headless,
        "port": {"port": port.port, "name": port.name or None, "protocol": port.protocol,
                 "targetPort": port.target_port},
        "sessionAffinity": tr.session_affinity, "internalTrafficPolicy": tr.policy,
        "translatedBy": {"implementation": plan.proxy.implementation, "mode": plan.proxy.mode or None,
                         "where": plan.proxy.where, "node": tr.source_node or None,
                         "evidence": list(plan.proxy.evidence), "notes": list(plan.proxy.notes)},
        "frontends": [{"address": p.target.address, "port": p.target.port, "protocol": p.target.protocol,
                       "result": p.seen.to_dict() if p.seen is not None else None} for p in trace.frontends],
        "endpoints": endpoints,
        "maxEndpoints": plan.max_endpoints,
        "pathEndpoint": plan.path_endpoint.address if plan.path_endpoint else None,
        "issues": [{"kind": i.kind, "message": i.message, "pods": list(i.pods)} for i in tr.issues],
        "notes": list(tr.notes),
    }


def dns_section(trace: ServiceTrace) -> dict[str, Any] | None:
    d = trace.plan.dns
    if d is None:
        return None
    conf, answer = d.pod_dns.conf, d.resolution.answer
    return {
        "name": d.name, "nameserver": d.nameserver or None, "nameserverReason": d.nameserver_reason,
        "nameserverService": d.nameserver_service or None, "nameserverEndpoints": d.nameserver_endpoints,
        "dnsPolicy": d.pod_dns.policy, "search": list(conf.search), "ndots": conf.ndots,
        "queryNames": list(d.query_names), "notes": list(d.pod_dns.notes),
        "expected": None if answer is None else {
            "name": answer.qname, "rcode": answer.rcode, "addresses": list(answer.addresses),
            "cname": answer.cname or None, "service": answer.service or None, "reason": answer.reason},
        "observed": trace.dns.to_dict() if trace.dns is not None else None,
    }


def named_services(names: tuple[str, ...], *, domain: str = CLUSTER_DOMAIN) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of every Service a list of query names may name (`<svc>.<ns>.svc.<domain>`
    and `<host>.<svc>.<ns>.svc.<domain>`), in order, once each: what DnsRecords needs to predict."""
    out: list[tuple[str, str]] = []
    suffix = "." + domain.strip(".").lower()
    for qname in names:
        name = qname.rstrip(".").lower()
        if not name.endswith(suffix):
            continue
        labels = name[: -len(suffix)].split(".")
        if len(labels) in (3, 4) and labels[-1] == "svc" and (labels[-2], labels[-3]) not in out:
            out.append((labels[-2], labels[-3]))
    return tuple(out)


def path_backend(targets: tuple[L4Target, ...], *, source_ip: str) -> Backend | None:
    """The endpoint whose pod-to-pod path is traced: the first chosen one kube-proxy uses (they are
    ordered to cover each node), never the source pod itself; else any chosen one."""
    backends = [t.backend for t in targets if t.role == "endpoint" and t.backend is not None
                and t.backend.address != source_ip]
    return next((b for b in backends if b.used), backends[0] if backends else None)
