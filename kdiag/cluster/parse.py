"""Raw API JSON (already `json.loads`-ed) to kdiag's frozen dataclasses. Pure: no I/O, no `kubernetes`.

This runs once per pod on lists of 10,000 pods, so it reads only the fields kdiag uses, shares the
decoded strings and dicts instead of copying them, and takes a fast path for the timestamps the
apiserver actually writes. Missing fields get the API's zero values, as Go's decoder would give.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from kdiag.model.objects import (
    ContainerPort,
    ContainerState,
    ContainerStatusInfo,
    NodeInfo,
    PodCondition,
    PodInfo,
)
from kdiag.model.podstatus import find_node_roles

JSON = Mapping[str, Any]

_EMPTY: JSON = {}
_NO_STATE = ContainerState(kind="")
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))$"
)


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None for a missing (zero) time."""
    if not value:
        return None
    # metav1.Time always serialises as "2006-01-02T15:04:05Z": one C call instead of a regex.
    # (Python 3.10's fromisoformat rejects "Z"; an explicit offset yields the timezone.utc singleton.)
    if len(value) == 20 and value[19] == "Z":
        return datetime.fromisoformat(value[:19] + "+00:00")
    match = _RFC3339.match(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    # MicroTime carries up to nanoseconds; datetime keeps microseconds, so extra digits are dropped.
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    parsed = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=timezone.utc
    )
    if not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        parsed = parsed - offset if sign == "+" else parsed + offset
    return parsed


def _state(raw: JSON | None) -> ContainerState:
    if not raw:
        return _NO_STATE
    # The API allows only one of the three; the order matches printPod's precedence.
    waiting = raw.get("waiting")
    if waiting is not None:
        return ContainerState("waiting", waiting.get("reason", ""), waiting.get("message", ""))
    terminated = raw.get("terminated")
    if terminated is not None:
        return ContainerState(
            "terminated",
            terminated.get("reason", ""),
            terminated.get("message", ""),
            terminated.get("exitCode", 0),
            terminated.get("signal", 0),
            parse_time(terminated.get("startedAt")),
            parse_time(terminated.get("finishedAt")),
        )
    running = raw.get("running")
    if running is not None:
        return ContainerState("running", started_at=parse_time(running.get("startedAt")))
    return _NO_STATE


def _container_statuses(raw: list[JSON] | None) -> tuple[ContainerStatusInfo, ...]:
    if not raw:
        return ()
    return tuple(
        [
            ContainerStatusInfo(
                s.get("name", ""),
                s.get("ready", False),
                s.get("restartCount", 0),
                _state(s.get("state")),
                _state(s.get("lastState")),
                s.get("started"),
                s.get("image", ""),
            )
            for s in raw
        ]
    )


def _ports(container: JSON, into: list[ContainerPort]) -> None:
    raw_ports = container.get("ports")
    if raw_ports:
        name = container.get("name", "")
        for port in raw_ports:
            into.append(
                ContainerPort(
                    name, port.get("containerPort", 0), port.get("protocol") or "TCP", port.get("name", "")
                )
            )


def parse_pod(obj: JSON) -> PodInfo:
    """One item of a PodList (or a Pod) as returned by the API."""
    meta = obj.get("metadata") or _EMPTY
    spec = obj.get("spec") or _EMPTY
    status = obj.get("status") or _EMPTY

    ports: list[ContainerPort] = []
    containers = spec.get("containers") or ()
    for container in containers:
        _ports(container, ports)
    init_containers = []
    for container in spec.get("initContainers") or ():
        # restartPolicy=Always on an init container makes it a sidecar that keeps running.
        sidecar = container.get("restartPolicy") == "Always"
        init_containers.append((container.get("name", ""), sidecar))
        if sidecar:
            # Sidecars keep serving; their ports are as reachable as the main containers'.
            _ports(container, ports)

    # The API mirrors podIP into podIPs[0]; old objects may carry only podIP.
    pod_ip = status.get("podIP", "")
    raw_ips = status.get("podIPs")
    pod_ips = tuple(entry.get("ip", "") for entry in raw_ips) if raw_ips else ((pod_ip,) if pod_ip else ())

    raw_conditions = status.get("conditions")
    conditions = (
        tuple(
            PodCondition(c.get("type", ""), c.get("status", ""), c.get("reason", "")) for c in raw_conditions
        )
        if raw_conditions
        else ()
    )
    gates = spec.get("readinessGates")

    return PodInfo(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        node_name=spec.get("nodeName", ""),
        phase=status.get("phase", ""),
        status_reason=status.get("reason", ""),
        pod_ip=pod_ip or (pod_ips[0] if pod_ips else ""),
        pod_ips=pod_ips,
        host_ip=status.get("hostIP", ""),
        host_network=spec.get("hostNetwork", False),
        created=parse_time(meta.get("creationTimestamp")),
        deleted=parse_time(meta.get("deletionTimestamp")),
        containers=tuple(c.get("name", "") for c in containers),
        init_containers=tuple(init_containers),
        container_statuses=_container_statuses(status.get("containerStatuses")),
        init_container_statuses=_container_statuses(status.get("initContainerStatuses")),
        conditions=conditions,
        readiness_gates=tuple(g.get("conditionType", "") for g in gates) if gates else (),
        nominated_node_name=status.get("nominatedNodeName", ""),
        ports=tuple(ports),
        labels=meta.get("labels") or {},
    )


def parse_node(obj: JSON) -> NodeInfo:
    """One item of a NodeList (or a Node) as returned by the API."""
    meta = obj.get("metadata") or _EMPTY
    spec = obj.get("spec") or _EMPTY
    status = obj.get("status") or _EMPTY

    # printNode keeps the last Ready condition; "" records that there is none.
    ready = ""
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Ready":
            ready = condition.get("status") or "Unknown"
    internal: list[str] = []
    external: list[str] = []
    for address in status.get("addresses") or ():
        kind = address.get("type")
        if kind == "InternalIP":
            internal.append(address.get("address", ""))
        elif kind == "ExternalIP":
            external.append(address.get("address", ""))
    pod_cidr = spec.get("podCIDR", "")
    labels = meta.get("labels") or {}

    return NodeInfo(
        name=meta.get("name", ""),
        ready=ready,
        unschedulable=spec.get("unschedulable", False),
        roles=find_node_roles(labels),
        internal_ips=tuple(internal),
        external_ips=tuple(external),
        pod_cidrs=tuple(spec.get("podCIDRs") or ((pod_cidr,) if pod_cidr else ())),
        created=parse_time(meta.get("creationTimestamp")),
        kubelet_version=(status.get("nodeInfo") or _EMPTY).get("kubeletVersion", ""),
        labels=labels,
        annotations=meta.get("annotations") or {},
    )


def parse_pods(items: Iterable[JSON]) -> list[PodInfo]:
    """parse_pod over a whole list, with the cyclic garbage collector paused meanwhile.

    Every object built here is acyclic, yet on a 10,000-pod list the collector's generation-2
    passes re-scan the whole decoded JSON again and again and more than double the cost.
    """
    with _collector_paused():
        return [parse_pod(item) for item in items]


def parse_nodes(items: Iterable[JSON]) -> list[NodeInfo]:
    with _collector_paused():
        return [parse_node(item) for item in items]


@contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
