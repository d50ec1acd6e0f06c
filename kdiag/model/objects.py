"""kdiag's own view of cluster objects: frozen dataclasses, no I/O, no `kubernetes` types.

`kdiag.cluster` parses the API's raw JSON into these; everything downstream (model, render, cli)
works only with them. Timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ContainerState:
    """One of a container's `state` / `lastState` entries: waiting, running or terminated."""

    kind: str  # "waiting" | "running" | "terminated" | "" (unknown / empty)
    reason: str = ""
    message: str = ""
    exit_code: int = 0
    signal: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class ContainerStatusInfo:
    name: str
    ready: bool
    restart_count: int
    state: ContainerState
    last_state: ContainerState
    started: bool | None = None
    image: str = ""


@dataclass(frozen=True)
class ContainerPort:
    container: str
    port: int
    protocol: str = "TCP"
    name: str = ""


@dataclass(frozen=True)
class PodCondition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str = ""


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    uid: str = ""
    node_name: str = ""
    phase: str = ""  # Pending | Running | Succeeded | Failed | Unknown
    status_reason: str = ""  # status.reason, e.g. "Evicted", "NodeLost"
    pod_ip: str = ""
    pod_ips: tuple[str, ...] = ()
    host_ip: str = ""
    host_network: bool = False
    created: datetime | None = None
    deleted: datetime | None = None  # metadata.deletionTimestamp
    containers: tuple[str, ...] = ()  # spec.containers names
    # spec.initContainers as (name, restartable) where restartable means restartPolicy=Always (sidecar)
    init_containers: tuple[tuple[str, bool], ...] = ()
    container_statuses: tuple[ContainerStatusInfo, ...] = ()
    init_container_statuses: tuple[ContainerStatusInfo, ...] = ()
    conditions: tuple[PodCondition, ...] = ()
    readiness_gates: tuple[str, ...] = ()
    nominated_node_name: str = ""
    ports: tuple[ContainerPort, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def ready(self) -> bool:
        return any(c.type == "Ready" and c.status == "True" for c in self.conditions)


@dataclass(frozen=True)
class NodeInfo:
    name: str
    # status of the Ready condition: "True" | "False" | "Unknown"; "" when the node has no Ready
    # condition at all (kubectl prints "Unknown" then, but "NotReady" for a condition that says Unknown)
    ready: str = "Unknown"
    unschedulable: bool = False
    roles: tuple[str, ...] = ()  # from node-role.kubernetes.io/<role> labels
    internal_ips: tuple[str, ...] = ()
    external_ips: tuple[str, ...] = ()
    pod_cidrs: tuple[str, ...] = ()
    created: datetime | None = None
    kubelet_version: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def internal_ip(self) -> str:
        return self.internal_ips[0] if self.internal_ips else ""
