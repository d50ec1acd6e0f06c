"""Running the probe: one workload (a probe pod, or an ephemeral container), with the fallback to
the unprivileged engine when Pod Security refuses raw sockets and the user left --engine auto."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.cluster import probepods, workloads
from kdiag.cluster.client import Cluster
from kdiag.cluster.probepods import AgentSpec, Lifecycle, Placement, ProbeSpec
from kdiag.model.objects import PodInfo
from kdiag.trace.request import TraceRequest

Say = Callable[[str], None]


@dataclass(frozen=True)
class ProbeRun:
    spec: ProbeSpec  # as it finally ran (after any fallback)
    result: Mapping[str, Any]  # the agent's ProbeResult
    start_seconds: float  # created -> container running
    probe_seconds: float  # running -> result read
    fallback_reason: str  # why the raw engine was given up, "" when it was not


def probe_namespace(request: TraceRequest, source: PodInfo) -> str:
    if request.mode == "ephemeral":
        return source.namespace
    return request.probe_namespace or source.namespace


def _spec(request: TraceRequest, *, source: PodInfo, target: str, probes: tuple[str, ...],
          port: int | None, privilege: str, lifecycle: Lifecycle, waypoints: tuple[str, ...] = (),
          extras: Mapping[str, Any] | None = None) -> ProbeSpec:
    agent = AgentSpec(
        target=target, probes=probes, port=port, count=request.count,
        engine="auto" if request.engine == "auto" and privilege == "raw" else privilege,
        timeout=min(2.0, max(0.5, request.timeout / 4)), waypoints=waypoints, extras=dict(extras or {}))
    placement = Placement(namespace=probe_namespace(request, source), node=source.node_name,
                          host_network=source.host_network, mode=request.mode, source_pod=source.name)
    return ProbeSpec(agent=agent, placement=placement, privilege=privilege, image=request.image,
                     lifecycle=lifecycle)


def run_probe(cluster: Cluster, request: TraceRequest, *, source: PodInfo, target: str,
              probes: tuple[str, ...], port: int | None, say: Say, warn: Say,
              deletions: workloads.Deletions | None = None, waypoints: tuple[str, ...] = (),
              extras: Mapping[str, Any] | None = None) -> ProbeRun:
    """Probe `target` from `source`'s node (or from inside it) and return the agent's answer;
    `extras`: the agent's spec.dns / spec.targets for a trace through a Service."""
    privileges = ("raw", "unprivileged") if request.engine == "auto" else (request.engine,)
    fallback_reason = ""
    for i, privilege in enumerate(privileges):
        spec = _spec(request, source=source, target=target, probes=probes, port=port, privilege=privilege,
                     lifecycle=Lifecycle(timeout=request.timeout), waypoints=waypoints, extras=extras)
        workload = probepods.workload(spec)
        try:
            with workloads.launched(cluster, workload, say=say, warn=warn, deletions=deletions) as probe:
                finished = probe.finish(say=say)
        except workloads.PodSecurityRejected as exc:
            if i == len(privileges) - 1 or exc.host_namespaces:
                raise
            fallback_reason = exc.message
            warn(f"Pod Security in namespace {spec.placement.namespace} rejected the raw-socket probe "
                 "(adding NET_RAW needs level privileged; baseline refuses it); falling back to the "
                 "unprivileged engine (no ARP, no TCP reply TTL)")
            continue
        result = probepods.probe_result(finished.log, where=f"{workload.namespace}/{workload.pod}",
                                        exit_code=finished.exit_code)
        return ProbeRun(spec, result, finished.start_seconds, finished.run_seconds, fallback_reason)
    raise AssertionError("unreachable: the last engine's refusal is raised")
