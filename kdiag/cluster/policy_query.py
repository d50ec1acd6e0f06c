"""`kdiag policy`'s domain: resolve SRC and DST (names, NS/NAME, prefixes or pod IPs), read the
policies once, and evaluate a pair or the whole matrix. Nothing is printed here."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from kdiag.cluster.client import Cluster
from kdiag.cluster.inventory import PodQuery, find_pod, list_pods
from kdiag.cluster.policies import read_policies
from kdiag.errors import CannotProbeError, UsageError
from kdiag.model.objects import PodInfo
from kdiag.model.policy import Endpoint, Flow, PolicySet, PolicyVerdict, evaluate
from kdiag.model.policy.matrix import PolicyMatrix, matrix

PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class PolicyRequest:
    source: str  # NAME, NS/NAME, a unique prefix, or a pod IP
    destination: str
    namespace: str | None = None  # for references without NS/ (None: the context's namespace)
    port: str | None = None  # a number, or a port name DST declares; None: DST's first port
    protocol: str = "tcp"


@dataclass(frozen=True)
class PolicyAnswer:
    verdict: PolicyVerdict
    policies: PolicySet
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatrixRequest:
    namespaces: tuple[str, ...] | None  # None: all namespaces
    port: int
    protocol: str = "tcp"
    selector: str = ""


def protocol_of(text: str) -> str:
    if text.lower() not in PROTOCOLS:
        raise UsageError(f"unknown --proto {text!r}", hint=f"choose one of {', '.join(PROTOCOLS)}")
    return text.upper()


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def resolve(cluster: Cluster, reference: str, default_namespace: str, notes: list[str]) -> Endpoint:
    """A pod by name (as `kdiag trace`), or by IP: the pod holding it, else the bare address."""
    address = _address(reference)
    if address is None:
        return Endpoint.of(find_pod(cluster, reference=reference, default_namespace=default_namespace))
    query = PodQuery(None, field_selector=f"status.podIP={address}")
    try:
        holders = list_pods(cluster, query)
    except CannotProbeError as exc:
        if exc.status != 403:
            raise
        holders = list_pods(cluster, PodQuery(default_namespace, field_selector=query.field_selector))
        notes.append(f"may not list pods in all namespaces: looked for {address} in {default_namespace} only")
    holders = [p for p in holders if p.deleted is None and p.phase not in ("Succeeded", "Failed")]
    own = [p for p in holders if not p.host_network]
    if len(own) == 1:
        notes.append(f"{address} is pod {own[0].key}")
        return Endpoint(address, own[0])
    if len(holders) == 1:
        notes.append(f"{address} is host-network pod {holders[0].key}")
        return Endpoint(address, holders[0])
    if holders:
        names = ", ".join(p.key for p in holders[:6])
        raise UsageError(f"{address} is held by {len(holders)} host-network pods ({names})",
                         hint="name the pod instead of its address")
    notes.append(f"no pod holds {address}: judged as an address (only ipBlock rules can match it)")
    return Endpoint(address)


def _port_list(pod: PodInfo) -> str:
    listed = ", ".join(f"{p.port}/{p.protocol}" + (f" ({p.name})" if p.name else "") for p in pod.ports)
    return listed or "none"


def resolve_port(text: str | None, destination: Endpoint, protocol: str) -> int:
    pod = destination.pod
    if text is None:
        port = next((p.port for p in pod.ports if p.protocol.upper() == protocol), None) if pod else None
        if port is None:
            raise UsageError(f"--port is needed: {destination.key} declares no {protocol} containerPort",
                             hint="pass --port NUMBER (or a port name the destination declares)")
        return port
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= 65535:
            raise UsageError(f"--port {number} is out of range", hint="1-65535")
        return number
    for declared in pod.ports if pod else ():
        if declared.name == text and declared.protocol.upper() == protocol:
            return declared.port
    where = f"no container of {destination.key} declares it" if pod else f"{destination.key} is not a pod"
    raise UsageError(f'port name "{text}" ({protocol}): {where}',
                     hint=f"its ports: {_port_list(pod)}" if pod else "pass --port NUMBER")


def policy_verdict(cluster: Cluster, request: PolicyRequest) -> PolicyAnswer:
    protocol = protocol_of(request.protocol)
    default_ns = request.namespace or cluster.namespace
    notes: list[str] = []
    src = resolve(cluster, request.source, default_ns, notes)
    dst = resolve(cluster, request.destination, default_ns, notes)
    if src.pod is None and dst.pod is None:
        raise UsageError("neither end is a pod: policies select pods", hint="name at least one pod")
    port = resolve_port(request.port, dst, protocol)
    namespaces = {end.pod.namespace for end in (src, dst) if end.pod is not None}
    policies = read_policies(cluster, namespaces=namespaces)
    verdict = evaluate(Flow(src, dst, port, protocol), policies=policies)
    return PolicyAnswer(verdict, policies, tuple(notes))


def policy_matrix(cluster: Cluster, request: MatrixRequest) -> tuple[PolicyMatrix, PolicySet, int]:
    """The matrix over the Running pods in scope; also returns how many pods were left out."""
    protocol = protocol_of(request.protocol)
    if request.namespaces is None:
        pods = list_pods(cluster, PodQuery(None, request.selector))
    else:
        pods = [p for ns in request.namespaces for p in list_pods(cluster, PodQuery(ns, request.selector))]
    usable = [p for p in pods if p.deleted is None and p.phase == "Running" and p.pod_ip]
    namespaces = {p.namespace for p in usable} | set(request.namespaces or ())
    policies = read_policies(cluster, namespaces=namespaces, all_namespaces=request.namespaces is None)
    return (matrix(usable, port=request.port, protocol=protocol, policies=policies), policies,
            len(pods) - len(usable))
