"""`kdiag trace`'s domain: a TraceRequest in, a TraceResult out.

resolve the pods -> classify the pair -> detect the datapath -> expected path -> probe (a probe pod
or an ephemeral container, with the Pod Security fallback to the unprivileged engine) -> judge.
Progress goes to `say` (the CLI turns it into a spinner), warnings to `warn`; nothing is printed here.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kdiag.cluster import probes
from kdiag.cluster.client import Cluster
from kdiag.cluster.detection import detect_datapath
from kdiag.cluster.inventory import PodQuery, find_pod, list_pods, readable_nodes
from kdiag.errors import CannotProbeError, UsageError
from kdiag.model.datapath import relation_of
from kdiag.model.findings import context_for
from kdiag.model.hops import attach
from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.observations import Observations, parse_observations
from kdiag.model.path import expected
from kdiag.model.plan import PROTOCOLS, plan_probes
from kdiag.model.targets import PodTarget, Target, address_target, endpoint_of
from kdiag.model.trace import Durations, ProbeDetails, TraceResult
from kdiag.model.verdict import judge

MODES = ("pod", "ephemeral")
ENGINES = ("auto", "raw", "unprivileged")
Say = Callable[[str], None]


@dataclass(frozen=True)
class TraceRequest:
    source: str  # NAME, NS/NAME or a unique prefix
    destination: str  # the same, or an IPv4 address
    namespace: str | None = None  # for references without NS/ (None: the context's namespace)
    port: int | None = None
    proto: str | None = None  # icmp | tcp | udp; None: tcp when a port is known, else icmp
    count: int = 3
    timeout: float = 60.0
    image: str = probes.DEFAULT_IMAGE
    mode: str = "pod"
    engine: str = "auto"
    probe_namespace: str | None = None


# ---- resolving the two ends --------------------------------------------------------------------


def _usable(pod: PodInfo, role: str) -> None:
    where = f"{role} pod {pod.key}"
    hint = f"kubectl describe pod -n {pod.namespace} {pod.name}"
    if pod.deleted is not None:
        raise UsageError(f"{where} is being deleted", hint="pick a pod that is not terminating")
    if pod.phase != "Running":
        why = f" ({pod.status_reason})" if pod.status_reason else ""
        raise UsageError(f"{where} is {pod.phase or 'not running'}{why}: only a Running pod has a network "
                         "to probe", hint=hint)
    if not pod.pod_ip:
        raise UsageError(f"{where} has no IP address yet", hint=hint)
    if role == "source" and not pod.node_name:
        raise UsageError(f"{where} is not bound to a node", hint=hint)


def _ipv4(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version != 4:
        raise UsageError(f"destination {text} is IPv6; the probe agent speaks IPv4 only",
                         hint="give the pod's IPv4 address or its name")
    return str(address)


def _pod_with_ip(cluster: Cluster, ip: str, nodes: Mapping[str, NodeInfo]) -> Target:
    """The Running pod holding `ip`, else the address, placed on the node that owns it."""
    try:
        holders = [p for p in list_pods(cluster, PodQuery(None, field_selector=f"status.podIP={ip}"))
                   if p.phase == "Running" and not p.host_network and p.deleted is None]
    except CannotProbeError:  # may not list pods cluster-wide: treat it as a bare address
        holders = []
    if len(holders) == 1:
        return PodTarget(holders[0])
    return address_target(ip, nodes=nodes.values())


def validate(request: TraceRequest) -> None:
    """Flag values that need no cluster to be refused (exit 2)."""
    if request.mode not in MODES:
        raise UsageError(f"unknown --mode {request.mode!r}", hint=f"choose {' or '.join(MODES)}")
    if request.engine not in ENGINES:
        raise UsageError(f"unknown --engine {request.engine!r}", hint=f"choose one of {', '.join(ENGINES)}")
    if request.proto is not None and request.proto not in PROTOCOLS:
        raise UsageError(f"unknown --proto {request.proto!r}", hint=f"choose one of {', '.join(PROTOCOLS)}")
    if request.port is not None and not 1 <= request.port <= 65535:
        raise UsageError(f"--port {request.port} is out of range", hint="1-65535")
    if not 1 <= request.count <= 100:
        raise UsageError(f"--count {request.count} is out of range", hint="1-100")
    if request.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if request.mode == "ephemeral" and request.probe_namespace:
        raise UsageError("--probe-namespace does not apply to --mode ephemeral",
                         hint="an ephemeral container runs inside the source pod")


# ---- the trace ---------------------------------------------------------------------------------


def trace(cluster: Cluster, request: TraceRequest, *, say: Say, warn: Say) -> TraceResult:
    started = time.monotonic()
    validate(request)
    warnings: list[str] = []

    def warned(message: str) -> None:
        warnings.append(message)
        warn(message)

    default_ns = request.namespace or cluster.namespace
    say(f"resolving {request.source} and {request.destination}")
    src = find_pod(cluster, request.source, default_ns)
    _usable(src, "source")
    without = "the expected path lacks node addresses and podCIDRs"
    node_notes: list[str] = []  # told after the permission check, which may end the trace first
    nodes = {n.name: n for n in readable_nodes(cluster, node_notes.append, without)}
    dst_ip = _ipv4(request.destination)
    if dst_ip is not None:
        target = _pod_with_ip(cluster, dst_ip, nodes)
    else:
        target = PodTarget(find_pod(cluster, request.destination, default_ns))
        _usable(target.pod, "destination")
    dst = target.pod if isinstance(target, PodTarget) else None
    if dst is not None and dst.key == src.key:
        raise UsageError(f"source and destination are the same pod {src.key}", hint="trace two pods")
    end = endpoint_of(target)
    if end.ip == src.pod_ip and not (src.host_network and end.host_network):
        raise UsageError(f"source and destination share the address {src.pod_ip}", hint="trace two pods")
    plan = plan_probes(target, proto=request.proto, port=request.port)
    protocol, port, wanted = plan.protocol, plan.port, plan.probes
    # Only now that both ends are known: a mistyped name is a usage error, not a permission one.
    probe_ns = src.namespace if request.mode == "ephemeral" else (request.probe_namespace or src.namespace)
    probes.check_permissions(cluster, probes.ProbeSpec(probe_ns, src.node_name, "", (), "raw",
                                                       mode=request.mode, source_pod=src.name))
    for note in node_notes:
        warned(note)

    say("detecting the datapath")
    datapath = detect_datapath(cluster, nodes.values())
    relation = relation_of(src, target=target)
    path = expected(src, target=target, relation=relation, datapath=datapath, nodes=nodes)

    flavours = ("raw", "unprivileged") if request.engine == "auto" else (request.engine,)
    fallback_reason = ""
    run: probes.ProbeRun | None = None
    spec: probes.ProbeSpec | None = None
    for i, flavour in enumerate(flavours):
        spec = probes.ProbeSpec(
            namespace=probe_ns,
            node=src.node_name, target=path.dst_ip, probes=wanted, engine=flavour,
            agent_engine="auto" if request.engine == "auto" and flavour == "raw" else flavour,
            port=port, count=request.count, agent_timeout=min(2.0, max(0.5, request.timeout / 4)),
            image=request.image, host_network=src.host_network, mode=request.mode, source_pod=src.name,
            timeout=request.timeout)
        try:
            run = probes.run(cluster, spec, say=say, warn=warned)
            break
        except probes.PodSecurityRejected as exc:
            if i == len(flavours) - 1 or exc.host_namespaces:
                raise
            fallback_reason = exc.message
            warned(f"Pod Security in namespace {spec.namespace} rejected the raw-socket probe (NET_RAW); "
                   "falling back to the unprivileged engine (no ARP, no TCP reply TTL)")
    assert run is not None and spec is not None
    observed = run.result
    seen = parse_observations(observed, source_node=src.node_name)
    context = context_for(nodes.values(), target=target, port=port if protocol == "tcp" else None)
    spine = attach(path, observations=seen, context=context)
    verdict = judge(path, observations=seen, context=context, spine=spine)
    total = time.monotonic() - started
    durations = Durations(max(0.0, total - run.start_seconds - run.probe_seconds), run.start_seconds,
                          run.probe_seconds, total)
    details = probes_details(request, spec, run, seen, fallback_reason, protocol, port, wanted, durations)
    return TraceResult(src, target, relation, datapath, path, observed, seen, spine, verdict, details, nodes,
                       tuple(warnings))


def probes_details(request: TraceRequest, spec: probes.ProbeSpec, run: probes.ProbeRun,
                   observations: Observations, fallback_reason: str, protocol: str, port: int | None,
                   wanted: tuple[str, ...], durations: Durations) -> ProbeDetails:
    seen = observations.source
    return ProbeDetails(
        mode=request.mode, image=request.image, engine=seen.engine or spec.engine,
        requested_engine=request.engine, fallback=bool(fallback_reason), fallback_reason=fallback_reason,
        namespace=run.namespace, pod=run.pod, container=run.container, run_id=spec.run_id,
        address=seen.source_address or "",
        protocol=protocol, port=port, probes=wanted, durations=durations)
