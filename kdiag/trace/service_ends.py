"""Destinations through a Service: `svc/NAME`, `svc/NS/NAME`, a DNS name (resolved as the source
pod's resolver would) and a ClusterIP[:PORT], turned into a `ServicePlan` (kdiag.model.service_trace)
and a `ServiceTarget` whose `via` is the endpoint the pod-to-pod path is traced to.

A bare NAME is a Service when the source pod's search path makes it one and no pod has exactly that
name (a pod name still wins, as before; a pod-name *prefix* no longer shadows a Service). Anything
that is none of these forms returns None and is resolved as a pod or an address (trace.ends).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kdiag.cluster.client import Cluster
from kdiag.cluster.inventory import PodQuery, get_pod, list_pods
from kdiag.cluster.services import (
    find_service,
    get_service,
    kube_dns_service,
    list_endpoint_slices,
    node_local_dns_present,
    pod_dns_settings,
    proxy_facts,
    services_with_cluster_ip,
)
from kdiag.errors import CannotProbeError, NotFoundError, UsageError
from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.plan import ProbePlan, plan_probes
from kdiag.model.service import find_port, translate
from kdiag.model.service_dns import (
    DnsRecords,
    cluster_dns_address,
    expected_resolution,
    pod_resolv_conf,
)
from kdiag.model.service_objects import ServiceInfo
from kdiag.model.service_proxy import service_proxy
from kdiag.model.service_targets import ServiceDestination, l4_targets, parse_destination
from kdiag.model.service_trace import DnsPlan, ServicePlan, named_services, path_backend
from kdiag.model.targets import AddressScope, AddressTarget, PodTarget, ServiceTarget, address_target
from kdiag.trace.request import TraceRequest


@dataclass(frozen=True)
class ServiceEnds:
    target: ServiceTarget
    plan: ServicePlan


def _destination(text: str) -> ServiceDestination | None:
    """The Service forms of DST; None for what trace.ends resolves (pods, NS/NAME, plain text)."""
    if text.startswith(("svc/", "service/", "services/")):
        return parse_destination(text)
    if "/" in text:
        return None
    try:
        return parse_destination(text)
    except UsageError:
        if text.count(":") == 1 and text.split(":")[0].count(".") == 3:
            raise  # IP:PORT with a bad port
        return None


def resolve_service(cluster: Cluster, request: TraceRequest, *, source: PodInfo, namespace: str,
                    nodes: Mapping[str, NodeInfo]) -> ServiceEnds | None:
    dest = _destination(request.destination.strip())
    if dest is None:
        return None
    wanted: int | str | None = request.port if request.port is not None else request.port_name
    if dest.kind == "service":
        named = get_service(cluster, dest.namespace or namespace, dest.name)
        name = named.name if named.namespace == source.namespace else f"{named.name}.{named.namespace}"
        return _ends(cluster, request, named, wanted, source=source, nodes=nodes,
                     dns=_dns_plan(cluster, source, name))
    if dest.kind == "address":
        return _address(cluster, request, dest, wanted, source=source, nodes=nodes)
    if dest.kind == "name" and not _service_exists(cluster, source.namespace, dest.name):
        # A bare NAME can only name a Service of the source's namespace (its first search domain):
        # one GET decides, so a pod name costs no DNS reads.
        return None
    dns = _dns_plan(cluster, source, dest.name)
    answer = dns.resolution.answer
    service = _answered_service(cluster, dns)
    if service is None or answer is None:
        if dest.kind == "name":
            return None  # not a Service name: a pod, as before
        if not dns.nameserver:
            raise UsageError(f"{dest.name} cannot be resolved as {source.key} would: it has no cluster DNS "
                             f"({dns.nameserver_reason})", hint="give svc/NAMESPACE/NAME or the ClusterIP")
        if not dns.resolution.predictable:
            raise UsageError(f"{dest.name} is outside the cluster domain {dns.cluster_domain}: kdiag "
                             "predicts and traces Service names only",
                             hint="trace the address it resolves to")
        tried = ", ".join(dns.query_names)
        raise NotFoundError(f"{dest.name} names no Service as {source.key} resolves it (tried {tried})",
                            hint="kubectl get services -A; or give svc/NAMESPACE/NAME")
    if dest.kind == "name" and _pod_exists(cluster, namespace, dest.name):
        return None  # a pod of exactly that name wins, as before Services were destinations
    return _ends(cluster, request, service, wanted, source=source, nodes=nodes, dns=dns)


def _address(cluster: Cluster, request: TraceRequest, dest: ServiceDestination, wanted: int | str | None, *,
             source: PodInfo, nodes: Mapping[str, NodeInfo]) -> ServiceEnds | None:
    # Pod and node addresses are never ClusterIPs: only an address outside them is looked up.
    services: list[ServiceInfo] = []
    if address_target(dest.address, nodes=nodes.values()).scope is AddressScope.EXTERNAL:
        try:
            services = services_with_cluster_ip(cluster, dest.address)
        except CannotProbeError as exc:
            if exc.status != 403:
                raise
    if not services:
        if dest.port is not None:
            raise UsageError(f"{dest.address} is not a ClusterIP, so {dest.text} names no Service port",
                             hint=f"for a pod or node address: {dest.address} --port {dest.port}")
        return None
    if dest.port is not None and wanted is not None and wanted != dest.port:
        raise UsageError(f"{dest.text} and --port {wanted} name different ports", hint="give the port once")
    return _ends(cluster, request, services[0], dest.port if dest.port is not None else wanted,
                 source=source, nodes=nodes, dns=None)


def _service_exists(cluster: Cluster, namespace: str, name: str) -> bool:
    """Whether NAMESPACE/NAME is a Service; a user who may not read Services traces pods as before."""
    try:
        return find_service(cluster, namespace, name) is not None
    except CannotProbeError as exc:
        if exc.status != 403:
            raise
        return False


def _pod_exists(cluster: Cluster, namespace: str, name: str) -> bool:
    try:
        get_pod(cluster, namespace=namespace, name=name)
    except NotFoundError:
        return False
    return True


def _dns_plan(cluster: Cluster, source: PodInfo, name: str) -> DnsPlan:
    """The source pod's resolv.conf as the kubelet writes it, and the answer the API predicts."""
    settings = pod_dns_settings(cluster, source.namespace, source.name)
    kube_dns = kube_dns_service(cluster)
    node_local = node_local_dns_present(cluster)
    address, why = cluster_dns_address(kube_dns, node_local_dns=node_local)
    pod_dns = pod_resolv_conf(source.namespace, dns_policy=settings.dns_policy,
                              host_network=settings.host_network,
                              cluster_dns=(address,) if address else (), dns_config=settings.dns_config)
    plan = DnsPlan(name, pod_dns, why, expected_resolution(name, pod_dns.conf, DnsRecords()))
    services: dict[str, ServiceInfo] = {}
    endpoints: dict[str, tuple[str, ...]] = {}
    for namespace, svc_name in named_services(plan.query_names, domain=plan.cluster_domain):
        found = find_service(cluster, namespace, svc_name)
        if found is not None:
            services[found.key] = found
            if found.headless:
                endpoints[found.key] = _dns_endpoints(cluster, found)
    resolution = expected_resolution(name, pod_dns.conf, DnsRecords(services, endpoints))
    service, ready = "", None
    if kube_dns is not None and not node_local and address == kube_dns.cluster_ip:
        service, ready = kube_dns.key, len(_dns_endpoints(cluster, kube_dns, ready_only=True))
    return DnsPlan(name, pod_dns, why, resolution, service, ready)


def _dns_endpoints(cluster: Cluster, service: ServiceInfo, *, ready_only: bool = False) -> tuple[str, ...]:
    """The addresses CoreDNS serves for a headless Service (ready ones, all with publishNotReady)."""
    every = not ready_only and service.publish_not_ready
    return tuple(dict.fromkeys(e.addresses[0] for s in list_endpoint_slices(cluster, service)
                               for e in s.endpoints if e.addresses and (every or e.is_ready)))


def _answered_service(cluster: Cluster, dns: DnsPlan) -> ServiceInfo | None:
    answer = dns.resolution.answer
    if answer is None or not answer.service:
        return None
    namespace, _, name = answer.service.partition("/")
    return find_service(cluster, namespace, name)


def _ends(cluster: Cluster, request: TraceRequest, service: ServiceInfo, wanted: int | str | None, *,
          source: PodInfo, nodes: Mapping[str, NodeInfo], dns: DnsPlan | None) -> ServiceEnds:
    if service.is_external_name:
        raise UsageError(f"service {service.key} is ExternalName: DNS answers a CNAME to "
                         f"{service.external_name} and nothing in the cluster translates it",
                         hint=f"trace the address {service.external_name} resolves to")
    port = find_port(service, wanted)
    slices = list_endpoint_slices(cluster, service)
    pods = list_pods(cluster, PodQuery(service.namespace)) if service.selector else []
    translation = translate(service, port=port, slices=slices, pods=pods, source_node=source.node_name)
    if service.headless and not translation.used:
        issue = next(iter(translation.issues), None)
        raise UsageError(f"headless service {service.key} has no endpoint to probe"
                         + (f": {issue.message}" if issue else ""),
                         hint=f"kubectl get endpointslices -n {service.namespace} "
                              f"-l kubernetes.io/service-name={service.name}")
    targets = l4_targets(translation, limit=request.max_endpoints)
    backend = path_backend(targets, source_ip=source.pod_ip)
    by_key = {p.key: p for p in pods}
    via: PodTarget | AddressTarget | None = None
    if backend is not None:
        pod = by_key.get(backend.pod)
        via = PodTarget(pod) if pod is not None and pod.pod_ip == backend.address else address_target(
            backend.address, nodes=nodes.values())
    declared = {p.key: tuple(c.port for c in p.ports) for p in pods}
    plan = ServicePlan(request.destination, translation, service_proxy(proxy_facts(cluster)), targets, dns,
                       backend, request.max_endpoints, declared)
    return ServiceEnds(ServiceTarget(service.namespace, service.name, service.cluster_ips, via=via), plan)


def service_probes(ends: ServiceEnds, request: TraceRequest) -> ProbePlan:
    """The path probes (towards the traced endpoint, on its targetPort) plus `targets` and `dns`.
    Without an endpoint there is no path: only the ClusterIP and DNS are probed."""
    plan = ends.plan
    protocol = plan.translation.port.protocol.lower()
    extra = (*(("dns",) if plan.dns is not None and plan.dns.nameserver else ()),
             *(("targets",) if plan.targets else ()))
    backend = plan.path_endpoint
    if backend is None or protocol not in ("tcp", "udp"):
        base = plan_probes(ends.target, proto="icmp", port=None) if backend is not None else ProbePlan(
            protocol, plan.translation.port.port, ("local",))
        return ProbePlan(base.protocol, base.port, (*base.probes, *extra))
    base = plan_probes(ends.target, proto=request.proto or protocol,
                       port=backend.port if request.proto != "icmp" else None)
    return ProbePlan(base.protocol, base.port, (*base.probes, *extra))

