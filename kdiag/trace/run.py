"""`kdiag trace`'s orchestration: a TraceRequest in, a TraceResult out.

resolve both ends -> check permissions -> detect the datapath -> choose the checks -> probe (with the
Pod Security fallback) -> judge, all in `judged` (the one place that calls the model's rules).
Progress goes to `say` (the CLI turns it into a spinner), warnings to `warn`; nothing is printed here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from kdiag.cluster.client import Cluster
from kdiag.cluster.detection import detect_datapath
from kdiag.cluster.inventory import readable_nodes
from kdiag.cluster.permissions import check_permissions
from kdiag.cluster.workloads import Deletions
from kdiag.errors import UsageError
from kdiag.model.datapath import Datapath, Relation, relation_of
from kdiag.model.objects import NodeInfo
from kdiag.model.path import ExpectedPath, expected
from kdiag.model.plan import ProbePlan, plan_probes, with_waypoints
from kdiag.model.service_trace import ServicePlan, agent_extras, service_trace
from kdiag.trace.ends import Ends, resolve_destination, resolve_source
from kdiag.trace.policy import PolicyStep, choose_mode, read_for_trace
from kdiag.trace.prefetch import prefetch
from kdiag.trace.probing import ProbeRun, run_probe
from kdiag.trace.request import TraceRequest
from kdiag.trace.service_ends import resolve_service, service_probes

if TYPE_CHECKING:
    # Imported in `judged`, and by `prefetch` while the probe runs (kdiag.trace.prefetch says why).
    from kdiag.model.capture import NodeCapture
    from kdiag.model.trace import TraceResult

Say = Callable[[str], None]
WITHOUT_NODES = "the expected path lacks node addresses and podCIDRs"


def trace(cluster: Cluster, request: TraceRequest, *, say: Say, warn: Say,
          deletions: Deletions | None = None) -> TraceResult:
    """Run one trace. `deletions` (kdiag.cluster.workloads) lets the probe pod's deletion overlap
    what follows; without it the deletion is answered before this returns."""
    started = time.monotonic()
    warnings: list[str] = []

    def warned(message: str) -> None:
        warnings.append(message)
        warn(message)

    default_ns = request.namespace or cluster.namespace
    say(f"resolving {request.source} and {request.destination}")
    src = resolve_source(cluster, request.source, namespace=default_ns)
    node_notes: list[str] = []  # told after the permission check, which may end the trace first
    nodes = {n.name: n for n in readable_nodes(cluster, warn=node_notes.append, without=WITHOUT_NODES)}
    # svc/NAME, a DNS name or a ClusterIP: the chain DNS -> ClusterIP -> endpoints (trace.service_ends)
    service = resolve_service(cluster, request, source=src, namespace=default_ns, nodes=nodes)
    if service is None and request.port_name:
        raise UsageError(f"--port {request.port_name} names a Service port, and {request.destination} is "
                         "not a Service", hint="give the port as a number")
    ends = Ends(src, service.target) if service else resolve_destination(
        cluster, request.destination, namespace=default_ns, source=src, nodes=nodes)
    plan = service_probes(service, request) if service else plan_probes(
        ends.destination, proto=request.proto, port=request.port)
    say("reading the NetworkPolicies")
    flow, policies = read_for_trace(cluster, request, source=src, target=ends.destination, plan=plan,
                                    warn=warned)
    # Only now that both ends are known: a mistyped name is a usage error, not a permission one.
    # --mode auto becomes ephemeral when the policies would judge a probe pod differently from SRC.
    policy = choose_mode(cluster, request, source=src, flow=flow, policies=policies, warn=warned)
    request = dataclasses.replace(request, mode=policy.mode)
    if request.observe:
        check_permissions(cluster, namespace=request.observer_namespace, mode="observer")
    for note in node_notes:
        warned(note)

    say("detecting the datapath")
    datapath = detect_datapath(cluster, nodes.values())
    relation, path = expected_path(ends, datapath=datapath, nodes=nodes)
    plan = with_waypoints(plan, path)
    captures: tuple[NodeCapture, ...] = ()
    loading = prefetch()
    observing_began = time.monotonic()
    with contextlib.ExitStack() as stack:
        if request.observe:  # the observers' manifests and captures are imported only for --observe
            from kdiag.trace.observe import observer_specs, observing
        watching = stack.enter_context(observing(cluster, observer_specs(
            path, src=src, nodes=nodes, protocol=plan.protocol, port=plan.port, mode=request.mode,
            namespace=request.observer_namespace, image=request.image, timeout=request.timeout),
            say=say, warn=warned, deletions=deletions)) if request.observe else None
        observers_seconds = time.monotonic() - observing_began
        run = run_probe(cluster, request, source=src, target=path.dst_ip, probes=plan.probes, port=plan.port,
                        say=say, warn=warned, deletions=deletions,
                        waypoints=tuple(w.address for w in path.waypoints),
                        extras=agent_extras(service.plan) if service else None)
        if watching is not None:
            collecting = time.monotonic()
            captures = watching.collect()
            observers_seconds += time.monotonic() - collecting
    loading.join()  # so `judged` never imports a module the thread is still loading
    return judged(request, ends=ends, datapath=datapath, nodes=nodes, relation=relation, path=path, run=run,
                  plan=plan, started=started, warnings=tuple(warnings), policy=policy,
                  service=service.plan if service else None, captures=captures,
                  observers_seconds=observers_seconds if request.observe else None)


def expected_path(ends: Ends, *, datapath: Datapath,
                  nodes: Mapping[str, NodeInfo]) -> tuple[Relation, ExpectedPath]:
    """The model's rules for the path, before probing: the probe aims at the path's destination."""
    relation = relation_of(ends.source, target=ends.destination)
    return relation, expected(ends.source, target=ends.destination, relation=relation, datapath=datapath,
                              nodes=nodes)


def judged(request: TraceRequest, *, ends: Ends, datapath: Datapath, nodes: Mapping[str, NodeInfo],
           relation: Relation, path: ExpectedPath, run: ProbeRun, plan: ProbePlan, started: float,
           warnings: tuple[str, ...], policy: PolicyStep | None = None,
           service: ServicePlan | None = None, captures: tuple[NodeCapture, ...] = (),
           observers_seconds: float | None = None) -> TraceResult:
    """The model's part after probing, in one place: observations per hop, verdict, the result."""
    from kdiag.model.capture_hops import with_captures
    from kdiag.model.findings import context_for
    from kdiag.model.hops import attach
    from kdiag.model.observations import parse_observations
    from kdiag.model.trace import Durations, ProbeDetails, TraceResult
    from kdiag.model.verdict import judge

    src, target = ends.source, ends.destination
    protocol, port = plan.protocol, plan.port
    observed = run.result
    observations = parse_observations(observed, source_node=src.node_name, captures=captures)
    context = context_for(nodes.values(), target=target, port=port if protocol == "tcp" else None)
    spine = attach(path, observations=observations, context=context)
    chain = service_trace(service, observed) if service is not None else None
    if captures:
        spine = with_captures(path, spine, observations.captured(),
                              source=observations.source.source_address or src.pod_ip)
    seen = observations.source
    policed = policy.judged(source=src, probe_namespace=run.spec.placement.namespace,
                            probe_address=seen.source_address or "") if policy else None
    verdict = judge(path, observations=observations, context=context, spine=spine, policy=policed,
                    service=chain)
    total = time.monotonic() - started
    outside_api = run.start_seconds + run.probe_seconds + (observers_seconds or 0.0)
    durations = Durations(max(0.0, total - outside_api), run.start_seconds, run.probe_seconds, total,
                          observers_seconds)
    spec = run.spec
    details = ProbeDetails(
        mode=request.mode, image=request.image, engine=seen.engine or spec.privilege,
        requested_engine=request.engine, fallback=bool(run.fallback_reason),
        fallback_reason=run.fallback_reason, namespace=spec.placement.namespace, pod=spec.pod,
        container=spec.container, run_id=spec.lifecycle.run_id, address=seen.source_address or "",
        protocol=protocol, port=port, probes=plan.probes, durations=durations)
    return TraceResult(src, target, relation, datapath, path, observed, observations, spine, verdict, details,
                       nodes, warnings, policed, service=chain)
