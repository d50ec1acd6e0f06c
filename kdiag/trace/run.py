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
from kdiag.model.datapath import Datapath, relation_of
from kdiag.model.findings import context_for
from kdiag.model.objects import NodeInfo
from kdiag.model.observed import observations
from kdiag.model.path import expected
from kdiag.model.trace import Durations, ProbeDetails, TraceResult
from kdiag.model.verdict import judge
from kdiag.trace.ends import Ends, resolve_destination, resolve_source
from kdiag.trace.probing import ProbeRun, probe_namespace, run_probe
from kdiag.trace.request import TraceRequest, choose_checks

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
    protocol, port, wanted = choose_checks(request, ends.destination if ends.destination_is_pod else None)
    # Only now that both ends are known: a mistyped name is a usage error, not a permission one.
    check_permissions(cluster, namespace=probe_namespace(request, src), mode=request.mode)
    for note in node_notes:
        warned(note)

    say("detecting the datapath")
    datapath = detect_datapath(cluster, nodes.values())
    run = run_probe(cluster, request, source=src, target=ends.destination.pod_ip, probes=wanted, port=port,
                    say=say, warn=warned, deletions=deletions)
    return judged(request, ends=ends, datapath=datapath, nodes=nodes, run=run, protocol=protocol, port=port,
                  wanted=wanted, started=started, warnings=tuple(warnings))


def judged(request: TraceRequest, *, ends: Ends, datapath: Datapath, nodes: Mapping[str, NodeInfo],
           run: ProbeRun, protocol: str, port: int | None, wanted: tuple[str, ...], started: float,
           warnings: tuple[str, ...]) -> TraceResult:
    """The model's part, in one place: relation, expected path, observations, verdict, the result."""
    src, dst, dst_is_pod = ends.source, ends.destination, ends.destination_is_pod
    relation = relation_of(src, dst)
    path = expected(src, dst, relation, datapath, nodes)
    observed = run.result
    context = context_for(nodes.values(), dst if dst_is_pod else None, port if protocol == "tcp" else None)
    verdict = judge(path, observed, context)
    seen = observations(observed)
    total = time.monotonic() - started
    durations = Durations(max(0.0, total - run.start_seconds - run.probe_seconds), run.start_seconds,
                          run.probe_seconds, total)
    spec = run.spec
    details = ProbeDetails(
        mode=request.mode, image=request.image, engine=seen.engine or spec.privilege,
        requested_engine=request.engine, fallback=bool(run.fallback_reason),
        fallback_reason=run.fallback_reason, namespace=spec.placement.namespace, pod=spec.pod,
        container=spec.container, run_id=spec.lifecycle.run_id, address=seen.source_address or "",
        protocol=protocol, port=port, probes=wanted, durations=durations)
    return TraceResult(src, dst, dst_is_pod, relation, datapath, path, observed, verdict, details, nodes,
                       warnings)
