"""A finished trace as plain data: both ends, the datapath, expected vs observed, the verdict, and how
the probe ran. Built by kdiag.trace.run, rendered by kdiag.render.trace; `document()` is the
`kind: Trace` output (docs/schema/trace.schema.json). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.model.datapath import Datapath, Relation
from kdiag.model.findings import Verdict
from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.path import ExpectedPath, node_ip


@dataclass(frozen=True)
class Durations:
    api: float
    pod_start: float
    probe: float
    total: float

    def to_dict(self) -> dict[str, float]:
        return {"api": round(self.api, 3), "podStart": round(self.pod_start, 3),
                "probe": round(self.probe, 3), "total": round(self.total, 3)}


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
    destination: PodInfo
    destination_is_pod: bool  # False: DST was an address no running pod holds
    relation: Relation
    datapath: Datapath
    expected: ExpectedPath
    observed: Mapping[str, Any]
    verdict: Verdict
    probe: ProbeDetails
    nodes: Mapping[str, NodeInfo]
    warnings: tuple[str, ...] = field(default=())

    def endpoint(self, pod: PodInfo, is_pod: bool = True) -> dict[str, Any]:
        return {"namespace": pod.namespace if is_pod else None, "name": pod.name if is_pod else None,
                "ip": pod.pod_ip, "node": pod.node_name or None,
                "nodeIP": node_ip(self.nodes.get(pod.node_name)) or pod.host_ip or None,
                "hostNetwork": pod.host_network, "phase": pod.phase or None,
                "ready": pod.ready if pod.conditions else None}

    def document(self) -> dict[str, Any]:
        """The `kind: Trace` document (docs/schema/trace.schema.json)."""
        return {
            "apiVersion": "kdiag/v1", "kind": "Trace",
            "source": self.endpoint(self.source),
            "destination": self.endpoint(self.destination, self.destination_is_pod),
            "relation": self.relation.value,
            "datapath": self.datapath.to_dict(),
            "expected": self.expected.to_dict(),
            "observed": dict(self.observed),
            "verdict": self.verdict.to_dict(),
            "probe": self.probe.to_dict(),
            "warnings": list(self.warnings),
        }
