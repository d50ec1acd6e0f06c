"""Service-trace scenarios for the unit tests: a ServicePlan built by the real model functions
(translate, service_proxy, pod_resolv_conf, expected_resolution, l4_targets) and ProbeResult
documents with the agent's `dns` and `targets` probes, as docs/agent.md describes them."""

from __future__ import annotations

from typing import Any

from kdiag.model.checks import Facts
from kdiag.model.hops import attach
from kdiag.model.objects import ContainerPort, PodCondition, PodInfo
from kdiag.model.observations import parse_observations
from kdiag.model.path import ExpectedPath
from kdiag.model.service import translate
from kdiag.model.service_dns import DnsRecords, expected_resolution, pod_resolv_conf
from kdiag.model.service_objects import (
    EndpointPort,
    EndpointSliceInfo,
    ServiceInfo,
    ServicePort,
    SliceEndpoint,
)
from kdiag.model.service_proxy import ProxyFacts, service_proxy
from kdiag.model.service_targets import l4_targets
from kdiag.model.service_trace import DnsPlan, ServicePlan, ServiceTrace, path_backend, service_trace
from tests.unit.test_verdict import CTX, icmp, local, path, result, tcp

READY = (PodCondition("Ready", "True"),)
CLUSTER_IP = "10.96.0.50"
KUBE_DNS = "10.96.0.10"
HTTP = ServicePort(80, name="http", target_port="http")
WP_A = PodInfo(
    "default",
    "wp-a",
    node_name="worker25",
    phase="Running",
    pod_ip="10.244.2.3",
    conditions=READY,
    ports=(ContainerPort("wordpress", 80, name="http"),),
    labels={"app": "wp"},
)
WP_B = PodInfo(
    "default",
    "wp-b",
    node_name="worker24",
    phase="Running",
    pod_ip="10.244.1.9",
    conditions=READY,
    ports=(ContainerPort("wordpress", 80, name="http"),),
    labels={"app": "wp"},
)
SOURCE_NODE = "worker24"
PROXY = service_proxy(
    ProxyFacts(
        kube_proxy_daemonset="daemonset kube-system/kube-proxy",
        kube_proxy_mode="nftables",
        kube_proxy_configmap="configmap kube-system/kube-proxy",
    )
)


def wp_service(**kw: Any) -> ServiceInfo:
    base: dict[str, Any] = dict(
        namespace="default", name="wp", cluster_ips=(CLUSTER_IP,), ports=(HTTP,), selector={"app": "wp"}
    )
    base.update(kw)
    return ServiceInfo(**base)


def slice_for(*pods: PodInfo, port: int | None = 80, ready: bool = True) -> EndpointSliceInfo:
    eps = tuple(
        SliceEndpoint(
            (p.pod_ip,),
            ready=ready,
            serving=ready,
            node_name=p.node_name,
            target_kind="Pod",
            target_namespace=p.namespace,
            target_name=p.name,
        )
        for p in pods
    )
    return EndpointSliceInfo(
        "default", "wp-abc", service_name="wp", ports=(EndpointPort("http", port),), endpoints=eps
    )


def dns_plan(name: str, service: ServiceInfo, *, endpoints: int | None = 2) -> DnsPlan:
    pod_dns = pod_resolv_conf("default", cluster_dns=(KUBE_DNS,))
    records = DnsRecords(
        {service.key: service}, {service.key: (WP_A.pod_ip, WP_B.pod_ip)} if service.headless else {}
    )
    return DnsPlan(
        name,
        pod_dns,
        "ClusterIP of service kube-system/kube-dns",
        expected_resolution(name, pod_dns.conf, records),
        "kube-system/kube-dns",
        endpoints,
    )


def plan(
    service: ServiceInfo | None = None,
    *,
    pods: tuple[PodInfo, ...] = (WP_A, WP_B),
    slices: tuple[EndpointSliceInfo, ...] | None = None,
    dns: str | None = "wp",
    dns_endpoints: int | None = 2,
    limit: int = 10,
) -> ServicePlan:
    service = service or wp_service()
    slices = (slice_for(*pods),) if slices is None else slices
    translation = translate(service, port=service.ports[0], slices=slices, pods=pods, source_node=SOURCE_NODE)
    targets = l4_targets(translation, limit=limit)
    return ServicePlan(
        f"svc/{service.name}",
        translation,
        PROXY,
        targets,
        dns_plan(dns, service, endpoints=dns_endpoints) if dns else None,
        path_backend(targets, source_ip="10.244.1.6"),
        limit,
        {p.key: tuple(c.port for c in p.ports) for p in pods},
    )


def target_result(
    address: str, port: int, state: str, error: dict[str, Any] | None = None, protocol: str = "tcp"
) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "measured": True,
        "method": "synRaw",
        "port": port,
        "state": state,
        "rttMs": 0.4 if state in ("open", "closed") else None,
        "replyTtl": None,
        "icmpError": error,
    }
    return {"target": address, "port": port, "protocol": protocol, "result": outcome}


def targets_probe(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"measured": True, "method": "parallel", "results": list(entries)}


def dns_probe(
    name: str,
    outcome: str,
    addresses: tuple[str, ...] = (),
    rcode: str | None = "NOERROR",
    server: str = KUBE_DNS,
) -> dict[str, Any]:
    answers = [{"name": name, "type": "A", "ttl": 30, "data": a} for a in addresses]
    query: dict[str, Any] = {
        "name": name,
        "type": "A",
        "transport": "udp",
        "truncated": False,
        "rcode": rcode,
        "answers": answers,
        "latencyMs": 1.2 if outcome != "timeout" else None,
        "outcome": outcome,
    }
    return {
        "measured": True,
        "method": "udp",
        "server": server,
        "port": 53,
        "type": "A",
        "queries": [query],
        "name": name,
        "outcome": outcome,
        "rcode": rcode,
        "addresses": list(addresses),
        "cnames": [],
        "latencyMs": query["latencyMs"],
    }


def states(p: ServicePlan, front: str, *endpoints: str) -> list[dict[str, Any]]:
    """targets results: the frontend in state `front`, the endpoints (in plan order) in `endpoints`."""
    out = [target_result(t.address, t.port, front) for t in p.frontends]
    out += [target_result(t.address, t.port, s) for t, s in zip(p.endpoints, endpoints, strict=True)]
    return out


def probe_doc(
    p: ServicePlan,
    *,
    front: str = "open",
    endpoints: tuple[str, ...] | None = None,
    dns: dict[str, Any] | None = None,
    path_ok: bool = True,
    ttl: int = 62,
) -> dict[str, Any]:
    shown = endpoints if endpoints is not None else tuple("open" for _ in p.endpoints)
    probes: dict[str, Any] = {"local": local(), "icmp": icmp(ttl=ttl) if path_ok else icmp(received=0)}
    if p.path_endpoint is not None:
        probes["tcp"] = tcp("open" if path_ok else "filtered")
    probes["targets"] = targets_probe(*states(p, front, *shown))
    if p.dns is not None:
        probes["dns"] = (
            dns
            if dns is not None
            else dns_probe(f"{p.dns.name}.default.svc.cluster.local.", "answer", (CLUSTER_IP,))
        )
    return result(**probes)


def service_facts(p: ServicePlan, doc: dict[str, Any], exp: ExpectedPath | None = None) -> Facts:
    exp = exp or path()
    seen = parse_observations(doc, source_node=exp.src_node)
    return Facts(
        exp, seen.source, CTX, attach(exp, observations=seen, context=CTX), service=service_trace(p, doc)
    )


def chain(p: ServicePlan, doc: dict[str, Any]) -> ServiceTrace:
    return service_trace(p, doc)


def no_path(doc: dict[str, Any]) -> dict[str, Any]:
    """The document of a trace without an endpoint: only local, dns and targets ran."""
    return {**doc, "probes": {k: v for k, v in doc["probes"].items() if k in ("local", "dns", "targets")}}
