"""`kdiag trace`'s orchestration: a TraceRequest in, a TraceResult out.

resolve both ends -> check permissions -> detect the datapath -> choose the checks -> probe (with the
Pod Security fallback) -> judge, all in `judged` (the one place that calls the model's rules).
Progress goes to `say` (the CLI turns it into a spinner), warnings to `warn`; nothing is printed here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from kdiag.cluster.client import Cluster
from kdiag.cluster.detection import detect_datapath
from kdiag.cluster.inventory import readable_nodes
from kdiag.cluster.permissions import check_permissions
from kdiag.cluster.workloads import Deletions
from kdiag.model.datapath import Datapath, Relation, relation_of
from kdiag.model.findings import context_for
from kdiag.model.hops import attach
from kdiag.model.objects import NodeInfo
from kdiag.model.observations import parse_observations
from kdiag.model.path import ExpectedPath, expected
from kdiag.model.plan import ProbePlan, plan_probes
from kdiag.model.trace import Durations, ProbeDetails, TraceResult
from kdiag.model.verdict import judge
from kdiag.trace.ends import Ends, resolve_destination, resolve_source
from kdiag.trace.probing import ProbeRun, probe_namespace, run_probe
from kdiag.trace.request import TraceRequest

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
    ends = resolve_destination(cluster, request.destination, namespace=default_ns, source=src, nodes=nodes)
    plan = plan_probes(ends.destination, proto=request.proto, port=request.port)
    # Only now that both ends are known: a mistyped name is a usage error, not a permission one.
    check_permissions(cluster, namespace=probe_namespace(request, src), mode=request.mode)
    for note in node_notes:
        warned(note)

    say("detecting the datapath")
    datapath = detect_datapath(cluster, nodes.values())
    relation, path = expected_path(ends, datapath=datapath, nodes=nodes)
    run = run_probe(cluster, request, source=src, target=path.dst_ip, probes=plan.probes, port=plan.port,
                    say=say, warn=warned, deletions=deletions)
    return judged(request, ends=ends, datapath=datapath, nodes=nodes, relation=relation, path=path, run=run,
                  plan=plan, started=started, warnings=tuple(warnings))


def expected_path(ends: Ends, *, datapath: Datapath,
                  nodes: Mapping[str, NodeInfo]) -> tuple[Relation, ExpectedPath]:
    """The model's rules for the path, before probing: the probe aims at the path's destination."""
    relation = relation_of(ends.source, target=ends.destination)
    return relation, expected(ends.source, target=ends.destination, relation=relation, datapath=datapath,
                              nodes=nodes)


def judged(request: TraceRequest, *, ends: Ends, datapath: Datapath, nodes: Mapping[str, NodeInfo],
           relation: Relation, path: ExpectedPath, run: ProbeRun, plan: ProbePlan, started: float,
           warnings: tuple[str, ...]) -> TraceResult:
    """The model's part after probing, in one place: observations per hop, verdict, the result."""
    src, target = ends.source, ends.destination
    protocol, port = plan.protocol, plan.port
    observed = run.result
    observations = parse_observations(observed, source_node=src.node_name)
    context = context_for(nodes.values(), target=target, port=port if protocol == "tcp" else None)
    spine = attach(path, observations=observations, context=context)
    verdict = judge(path, observations=observations, context=context, spine=spine)
    seen = observations.source
    total = time.monotonic() - started
    durations = Durations(max(0.0, total - run.start_seconds - run.probe_seconds), run.start_seconds,
                          run.probe_seconds, total)
    spec = run.spec
    details = ProbeDetails(
        mode=request.mode, image=request.image, engine=seen.engine or spec.privilege,
        requested_engine=request.engine, fallback=bool(run.fallback_reason),
        fallback_reason=run.fallback_reason, namespace=spec.placement.namespace, pod=spec.pod,
        container=spec.container, run_id=spec.lifecycle.run_id, address=seen.source_address or "",
        protocol=protocol, port=port, probes=plan.probes, durations=durations)
    return TraceResult(src, target, relation, datapath, path, observed, observations, spine, verdict, details,
                       nodes, warnings)
