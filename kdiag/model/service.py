"""Service translation, as kube-proxy would do it: ClusterIP:port -> the endpoints it would use.

Pure: the Service, its EndpointSlices and the pods its selector matches come in as kdiag's own
frozen dataclasses (parsed by `kdiag.cluster.services`); nothing here does I/O.

The rules follow upstream, not folklore:

- EndpointSlice conditions (discovery.k8s.io/v1 EndpointConditions, as kube-proxy reads them in
  pkg/proxy/endpointslicecache.go): `ready` nil = true, `serving` nil = true, `terminating`
  nil = false. Endpoints without addresses are ignored; the first address is the one used.
- Ports: a slice's port is matched to the Service port by *name* (the Service port's name, ""
  for a single unnamed port) and protocol; a slice port without a number is ignored. The
  EndpointSlice controller resolves a named targetPort per pod (pkg/api/v1/pod FindPort: a
  containerPort with that name and the Service port's protocol, sidecar init containers
  included) and puts pods whose numbers differ into different slices, so the slice's number is
  the truth for each endpoint; the pod's own containerPorts are the expectation to compare with.
- Which endpoints (pkg/proxy/topology.go CategorizeEndpoints): ready ones; if none is ready
  anywhere, the ones that are serving *and* terminating. With internalTrafficPolicy Local only
  endpoints on the source node, with the same fallback among them, and no fallback to other
  nodes: traffic is dropped when the node has none. Topology hints are not modelled (noted).
- sessionAffinity ClientIP pins a client to one endpoint for timeoutSeconds (default 10800).

See docs/services.md for the whole chain (DNS -> ClusterIP -> endpoints).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from kdiag.errors import UsageError
from kdiag.model.objects import PodInfo
from kdiag.model.service_objects import (
    DEFAULT_AFFINITY_TIMEOUT,
    EndpointPort,
    EndpointSliceInfo,
    ServiceInfo,
    ServicePort,
)


@dataclass(frozen=True)
class Backend:
    """One endpoint address of the Service port, and whether kube-proxy on the source node
    would send it traffic (`used`), with the reason when not."""

    address: str
    port: int | None  # the target port for this endpoint; None when it cannot be resolved
    protocol: str
    node_name: str = ""
    pod: str = ""  # "namespace/name" from targetRef, "" for endpoints not backed by a pod
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    local: bool = False  # on the source node
    used: bool = False
    port_from: str = ""  # "endpointslice", "pod containerPort NAME", "targetPort", "unresolved"
    expected_port: int | None = None  # what the pod's containerPorts say, for comparison
    reason: str = ""  # why not used, or how it was chosen (e.g. the terminating fallback)
    from_slice: bool = True  # False: predicted from a selected pod, no EndpointSlice lists it

    @property
    def label(self) -> str:
        return f"{self.address}:{self.port if self.port is not None else '?'}"


@dataclass(frozen=True)
class TranslationIssue:
    """Something that keeps the translation from working or makes it differ from intent.

    kind: "external-name" | "no-selector-no-endpoints" | "selector-matches-nothing" |
    "no-endpointslices" | "no-ready-endpoints" | "no-local-endpoints" | "target-port-undeclared" |
    "port-not-in-slice" | "slice-port-differs"
    """

    kind: str
    message: str
    pods: tuple[str, ...] = ()  # the pods concerned, "namespace/name"


@dataclass(frozen=True)
class Translation:
    service: ServiceInfo
    port: ServicePort
    frontends: tuple[str, ...]  # ClusterIP(s) the client connects to; empty for headless
    backends: tuple[Backend, ...]
    policy: str  # the internalTrafficPolicy that applied: Cluster | Local
    source_node: str
    terminating_fallback: bool = False
    session_affinity: str = "None"
    affinity_timeout: int = 0
    issues: tuple[TranslationIssue, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def used(self) -> tuple[Backend, ...]:
        return tuple(b for b in self.backends if b.used)

    def issue(self, kind: str) -> TranslationIssue | None:
        return next((i for i in self.issues if i.kind == kind), None)


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service selector is equality-based; an empty selector selects nothing (manual endpoints)."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def selected_pods(service: ServiceInfo, pods: Iterable[PodInfo]) -> list[PodInfo]:
    """Pods of the Service's namespace its selector matches, as the EndpointSlice controller
    considers them (terminal pods - Succeeded / Failed - are never endpoints)."""
    return [p for p in pods if p.namespace == service.namespace and p.phase not in ("Succeeded", "Failed")
            and selector_matches(service.selector, p.labels)]


def pod_target_port(port: ServicePort, pod: PodInfo) -> int | None:
    """The number a Service port's targetPort means on one pod (FindPort): a number is itself;
    a name is the containerPort of that name and protocol; None when the pod declares none."""
    if isinstance(port.target_port, int):
        return port.target_port or port.port
    for declared in pod.ports:
        if declared.name == port.target_port and declared.protocol == port.protocol:
            return declared.port
    return None


def find_port(service: ServiceInfo, wanted: int | str | None) -> ServicePort:
    """The Service port a user means by a number or name; None = the only port.

    Raises UsageError (exit code 2) with a one-line message naming the ports there are.
    """
    ports = service.ports
    listed = ", ".join(p.label() for p in ports) or "none"
    if wanted is None or wanted == "":
        if len(ports) == 1:
            return ports[0]
        if not ports:
            raise UsageError(f"service {service.key} has no ports")
        raise UsageError(f"service {service.key} has {len(ports)} ports ({listed}): choose one with --port")
    if isinstance(wanted, str) and wanted.isdigit():
        wanted = int(wanted)
    matches = [p for p in ports if (p.port == wanted if isinstance(wanted, int) else p.name == wanted)]
    if not matches:
        raise UsageError(f"service {service.key} has no port {wanted} (ports: {listed})")
    if len(matches) > 1:  # the same number for TCP and UDP
        protocols = "/".join(p.protocol for p in matches)
        raise UsageError(f"port {wanted} of service {service.key} exists for {protocols}: "
                         "give the port's name with --port")
    return matches[0]


def _slice_port(slice_: EndpointSliceInfo, port: ServicePort) -> EndpointPort | None:
    for candidate in slice_.ports:
        if candidate.name == port.name and candidate.protocol == port.protocol and candidate.port:
            return candidate
    return None


def _pod_port_source(port: ServicePort) -> str:
    return f"pod containerPort {port.target_port}" if port.named_target else "targetPort"


def _slice_backends(service: ServiceInfo, port: ServicePort, slices: Sequence[EndpointSliceInfo],
                    pods: Mapping[str, PodInfo], source_node: str) -> tuple[list[Backend], list[str]]:
    """Every endpoint address of the slices, deduplicated by address:port as kube-proxy does."""
    out: dict[tuple[str, int | None], Backend] = {}
    without_port: list[str] = []
    for slice_ in slices:
        if slice_.service_name and slice_.service_name != service.name:
            continue
        sport = _slice_port(slice_, port)
        for ep in slice_.endpoints:
            if not ep.addresses:
                continue
            pod = pods.get(ep.pod_key)
            expected = pod_target_port(port, pod) if pod is not None else None
            if sport is None:
                without_port.append(ep.pod_key or ep.addresses[0])
                number, source = None, "unresolved"
            else:
                number, source = sport.port, "endpointslice"
            backend = Backend(
                address=ep.addresses[0], port=number, protocol=port.protocol, node_name=ep.node_name,
                pod=ep.pod_key, ready=ep.is_ready, serving=ep.is_serving, terminating=ep.is_terminating,
                local=bool(source_node) and ep.node_name == source_node, port_from=source,
                expected_port=expected,
            )
            key = (backend.address, backend.port)
            if key not in out or backend.local:
                out[key] = backend
    return list(out.values()), without_port


def _predicted_backends(port: ServicePort, pods: Sequence[PodInfo], source_node: str) -> list[Backend]:
    """No EndpointSlice lists the pods: what the controller would publish, for the record."""
    out = []
    for pod in pods:
        if not pod.pod_ip:
            continue
        number = pod_target_port(port, pod)
        out.append(Backend(
            address=pod.pod_ip, port=number, protocol=port.protocol, node_name=pod.node_name, pod=pod.key,
            ready=pod.ready and pod.deleted is None, serving=pod.ready, terminating=pod.deleted is not None,
            local=bool(source_node) and pod.node_name == source_node,
            port_from=_pod_port_source(port) if number is not None else "unresolved",
            expected_port=number, from_slice=False, reason="no EndpointSlice lists this pod",
        ))
    return out


def _choose(backends: list[Backend], policy: str) -> tuple[list[Backend], bool]:
    """CategorizeEndpoints for one source node: (backends with used/reason set, fallback used)."""
    candidates = [b for b in backends if b.from_slice and b.port is not None]
    if policy == "Local":
        candidates = [b for b in candidates if b.local]
    ready = [b for b in candidates if b.ready]
    fallback = not ready
    chosen = ready or [b for b in candidates if b.serving and b.terminating]
    keys = {(b.address, b.port) for b in chosen}
    out = []
    for b in backends:
        if (b.address, b.port) in keys and b.from_slice:
            out.append(_with(b, used=True, reason="serving while terminating (no ready endpoint)" if fallback
                             else ""))
        else:
            out.append(_with(b, used=False, reason=b.reason or _why_unused(b, policy)))
    return out, fallback and bool(chosen)


def _why_unused(b: Backend, policy: str) -> str:
    if b.port is None:
        return "the Service port is not among this endpoint's slice ports"
    if policy == "Local" and not b.local:
        return f"on node {b.node_name or '?'}, not the source node (internalTrafficPolicy Local)"
    if b.terminating:
        return "terminating" + ("" if b.serving else " and not serving")
    return "not ready"


def _with(b: Backend, *, used: bool, reason: str) -> Backend:
    return replace(b, used=used, reason=reason)


def translate(service: ServiceInfo, *, port: ServicePort, slices: Sequence[EndpointSliceInfo],
              pods: Sequence[PodInfo], source_node: str) -> Translation:
    """The expected translation of `port` of `service` for a client on `source_node`.

    `pods`: pods of the Service's namespace (any; the selector is applied here). `slices`: the
    EndpointSlices labelled kubernetes.io/service-name=<service>.
    """
    issues: list[TranslationIssue] = []
    notes: list[str] = []
    policy = service.internal_traffic_policy or "Cluster"

    def result(backends: Sequence[Backend], fallback: bool = False) -> Translation:
        return Translation(service=service, port=port, frontends=service.cluster_ips,
                           backends=tuple(backends), policy=policy, source_node=source_node,
                           terminating_fallback=fallback, session_affinity=service.session_affinity,
                           affinity_timeout=service.affinity_timeout, issues=tuple(issues),
                           notes=tuple(notes))

    if service.is_external_name:
        issues.append(TranslationIssue("external-name", f"service {service.key} is ExternalName "
                                       f"{service.external_name}: DNS answers a CNAME, nothing translates"))
        return result(())
    matched = selected_pods(service, pods)
    by_key = {p.key: p for p in pods}
    backends, without_port = _slice_backends(service, port, slices, by_key, source_node)
    if not slices and matched:
        backends = _predicted_backends(port, matched, source_node)
        issues.append(TranslationIssue(
            "no-endpointslices", f"the selector matches {len(matched)} pod(s) but no EndpointSlice "
            f"exists for {service.key}: is kube-controller-manager running?", tuple(p.key for p in matched)))
    backends, fallback = _choose(backends, policy)
    if service.selector and not matched:
        shown = ",".join(f"{k}={v}" for k, v in sorted(service.selector.items()))
        issues.append(TranslationIssue("selector-matches-nothing",
                                       f"selector {shown} matches no pod in namespace {service.namespace}"))
    elif not service.selector and not backends:
        issues.append(TranslationIssue("no-selector-no-endpoints", f"service {service.key} has no selector "
                                       "and no EndpointSlice: its endpoints must be created by hand"))
    _port_issues(port, matched, backends, without_port, issues)
    _readiness_issues(service, backends, policy, source_node, issues)
    if fallback:
        notes.append("no endpoint is ready: kube-proxy falls back to serving, terminating endpoints")
    if service.session_affinity == "ClientIP":
        notes.append(f"sessionAffinity ClientIP: one client sticks to one endpoint for "
                     f"{service.affinity_timeout or DEFAULT_AFFINITY_TIMEOUT}s")
    if policy == "Local":
        notes.append(f"internalTrafficPolicy Local: only endpoints on {source_node or 'the source node'}")
    if service.headless:
        notes.append("headless: no ClusterIP and no translation; clients connect to the endpoints directly")
    return result(backends, fallback)


def _port_issues(port: ServicePort, matched: Sequence[PodInfo], backends: Sequence[Backend],
                 without_port: Sequence[str], issues: list[TranslationIssue]) -> None:
    undeclared = tuple(p.key for p in matched if pod_target_port(port, p) is None)
    if undeclared:
        issues.append(TranslationIssue(
            "target-port-undeclared", f"targetPort {port.target_port!r} is not a containerPort "
            f"({port.protocol}) of {len(undeclared)} selected pod(s)", undeclared))
    if without_port:
        issues.append(TranslationIssue(
            "port-not-in-slice", f"{len(without_port)} endpoint(s) have no slice port named "
            f"{port.name!r}/{port.protocol}: kube-proxy sends them nothing for this port",
            tuple(without_port)))
    differs = tuple(b.pod for b in backends
                    if b.from_slice and b.port is not None and b.expected_port not in (None, b.port))
    if differs:
        issues.append(TranslationIssue(
            "slice-port-differs", "the EndpointSlice port differs from the pod's containerPort "
            "(a stale slice?)", differs))


def _readiness_issues(service: ServiceInfo, backends: Sequence[Backend], policy: str, source_node: str,
                      issues: list[TranslationIssue]) -> None:
    listed = [b for b in backends if b.from_slice]
    if not listed or any(b.used for b in backends):
        return
    not_ready = tuple(b.pod or b.address for b in listed if not b.ready)
    if policy == "Local" and any(b.ready or (b.serving and b.terminating) for b in listed):
        issues.append(TranslationIssue(
            "no-local-endpoints", f"internalTrafficPolicy Local and no usable endpoint of {service.key} on "
            f"{source_node or 'the source node'}: kube-proxy drops the traffic there"))
    elif not_ready:
        issues.append(TranslationIssue("no-ready-endpoints",
                                       f"no endpoint of {service.key} is ready", not_ready))

