"""A finished trace as plain data: both ends, the datapath, the expected path with what was observed
at each hop, the verdict, and how the probe ran. Built by kdiag.trace.run, rendered by
kdiag.render.trace; `document()` is the `kind: Trace` output (docs/schema/trace.schema.json). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.model.datapath import Datapath, Relation
from kdiag.model.documents import trace_document
from kdiag.model.findings import Verdict
from kdiag.model.hops import Spine
from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.observations import Observations
from kdiag.model.path import ExpectedPath
from kdiag.model.policy.trace import TracePolicy
from kdiag.model.service_trace import ServiceTrace
from kdiag.model.targets import Endpoint, Target, endpoint_of


@dataclass(frozen=True)
class Durations:
    api: float
    pod_start: float
    probe: float
    total: float
    observers: float | None = None  # --observe: starting them until they capture, and collecting

    def to_dict(self) -> dict[str, float]:
        out = {"api": round(self.api, 3), "podStart": round(self.pod_start, 3),
               "probe": round(self.probe, 3), "total": round(self.total, 3)}
        if self.observers is not None:
            out["observers"] = round(self.observers, 3)
        return out


@dataclass(frozen=True)
class ProbeDetails:
    mode: str
    image: str
    engine: str  # as the agent ran it (raw | unprivileged)
    requested_engine: str
    fallback: bool
    fallback_reason: str
    namespace: str
    pod: str
    container: str
    address: str  # the probe's own source address (a probe pod has its own IP on SRC's node)
    run_id: str
    protocol: str
    port: int | None
    probes: tuple[str, ...]
    durations: Durations

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "image": self.image, "engine": self.engine,
                "requestedEngine": self.requested_engine, "fallback": self.fallback,
                "fallbackReason": self.fallback_reason or None, "namespace": self.namespace,
                "pod": self.pod, "container": self.container, "address": self.address or None,
                "runId": self.run_id,
                "protocol": self.protocol, "port": self.port, "probes": list(self.probes),
                "durations": self.durations.to_dict()}


@dataclass(frozen=True)
class TraceResult:
    source: PodInfo
    destination: Target
    relation: Relation
    datapath: Datapath
    expected: ExpectedPath
    observed: Mapping[str, Any]  # the agent's ProbeResult as it printed it: kept for the JSON only
    observations: Observations  # the same, parsed once, keyed by where it was seen
    spine: Spine  # the expected hops, each with what was observed there
    verdict: Verdict
    probe: ProbeDetails
    nodes: Mapping[str, NodeInfo]
    warnings: tuple[str, ...] = field(default=())
    policy: TracePolicy | None = None  # the Policy section (None: the policies were not evaluated)
    service: ServiceTrace | None = None  # through a Service: the DNS -> ClusterIP -> endpoints chain

    @property
    def destination_end(self) -> Endpoint:
        return endpoint_of(self.destination)

    def document(self) -> dict[str, Any]:
        """The `kind: Trace` document, built with the others in kdiag.model.documents."""
        return trace_document(self)
