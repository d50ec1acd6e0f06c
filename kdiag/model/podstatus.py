"""kubectl's pod and node printer rules, ported so `kdiag pods` / `kdiag nodes` read like `kubectl get`.
The rules only: column headers, row cells and `<none>` are presentation (kdiag.render.rows).

The source of truth is k8s.io/kubernetes v1.36.3 pkg/printers/internalversion/printers.go
(`printPod`, `printNode`, `findNodeRoles`, `translateTimestampSince`) and
k8s.io/apimachinery v0.36.3 pkg/util/duration `HumanDuration`. Where this module looks odd, it is
because the Go code does the same thing; keep the two in step rather than "fixing" one side.

`kubectl get pod` prints what the *apiserver* computed (server-side tables), so AGE and "(5m ago)"
there use the apiserver's clock; every function here takes `now` explicitly instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from kdiag.model.objects import ContainerStatusInfo, NodeInfo, PodInfo

UNKNOWN_TIME = "<unknown>"

# status.reason the node lifecycle controller sets on pods of an unreachable node (NodeUnreachablePodReason).
_NODE_LOST = "NodeLost"
_SCHEDULING_GATED = "SchedulingGated"
_TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})

_MICROS_PER_SECOND = 1_000_000
_MICROS_PER_MINUTE = 60 * _MICROS_PER_SECOND
_MICROS_PER_HOUR = 60 * _MICROS_PER_MINUTE


@dataclass(frozen=True)
class PodStatusSummary:
    """The clock-independent part of a kubectl pod row: READY, STATUS and the restart count."""

    ready_containers: int
    total_containers: int
    status: str
    restarts: int
    last_restart: datetime | None  # latest lastState.terminated.finishedAt among the counted containers

    @property
    def ready(self) -> str:
        return f"{self.ready_containers}/{self.total_containers}"


def human_duration(delta: timedelta) -> str:
    """apimachinery's HumanDuration: ~2-3 significant figures ("90s", "5m3s", "6d2h", "3y12d")."""
    # Go works on integer nanoseconds and truncates toward zero; timedelta is exact in microseconds,
    # which gives the same results at every threshold below.
    micros = (delta.days * 86_400 + delta.seconds) * _MICROS_PER_SECOND + delta.microseconds
    seconds = micros // _MICROS_PER_SECOND if micros >= 0 else -(-micros // _MICROS_PER_SECOND)
    # Up to 2 s in the future is tolerated as clock skew between machines.
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = micros // _MICROS_PER_MINUTE
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = micros // _MICROS_PER_HOUR
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def translate_timestamp_since(timestamp: datetime | None, now: datetime) -> str:
    """kubectl's translateTimestampSince: the AGE column; a missing timestamp is "<unknown>"."""
    if timestamp is None:
        return UNKNOWN_TIME
    return human_duration(now - timestamp)


def _later(current: datetime | None, status: ContainerStatusInfo) -> datetime | None:
    """The later of `current` and the container's last termination time (Go's lastRestartDate.Before)."""
    last = status.last_state
    if last.kind != "terminated" or last.finished_at is None:
        return current
    if current is None or current < last.finished_at:
        return last.finished_at
    return current


def _terminated_reason(prefix: str, status: ContainerStatusInfo) -> str:
    state = status.state
    if state.reason:
        return prefix + state.reason
    if state.signal != 0:
        return f"{prefix}Signal:{state.signal}"
    return f"{prefix}ExitCode:{state.exit_code}"


def summarize_pod(pod: PodInfo) -> PodStatusSummary:
    """printPod's READY / STATUS / RESTARTS logic, line for line."""
    reason = pod.status_reason or pod.phase
    for condition in pod.conditions:
        if condition.type == "PodScheduled" and condition.reason == _SCHEDULING_GATED:
            reason = _SCHEDULING_GATED

    # Sidecars (restartable init containers) count as containers of the pod.
    restartable = {name: is_sidecar for name, is_sidecar in pod.init_containers}
    total = len(pod.containers) + sum(1 for _, is_sidecar in pod.init_containers if is_sidecar)
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    initializing = False
    for index, status in enumerate(pod.init_container_statuses):
        restarts += status.restart_count
        last_restart = _later(last_restart, status)
        is_sidecar = restartable.get(status.name, False)
        if is_sidecar:
            sidecar_restarts += status.restart_count
            last_sidecar_restart = _later(last_sidecar_restart, status)
        state = status.state
        if state.kind == "terminated" and state.exit_code == 0:
            continue
        if is_sidecar and status.started:
            if status.ready:
                ready += 1
            continue
        if state.kind == "terminated":
            reason = _terminated_reason("Init:", status)
        elif state.kind == "waiting" and state.reason and state.reason != "PodInitializing":
            reason = "Init:" + state.reason
        else:
            reason = f"Init:{index}/{len(pod.init_containers)}"
        initializing = True
        break

    if not initializing or _initialized(pod):
        # Once initialised, only sidecar restarts carry over from the init phase.
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        error_reason = ""
        # Go walks the statuses backwards, so the first container's state wins.
        for status in reversed(pod.container_statuses):
            restarts += status.restart_count
            last_restart = _later(last_restart, status)
            state = status.state
            if state.kind == "waiting" and state.reason:
                reason = state.reason
            elif state.kind == "terminated":
                reason = _terminated_reason("", status)
                if state.exit_code != 0:
                    error_reason = reason
            elif status.ready and state.kind == "running":
                has_running = True
                ready += 1
        # A completed container next to running ones does not make the pod "Completed".
        if reason == "Completed":
            if has_running and pod.ready:
                reason = "Running"
            elif error_reason:
                reason = error_reason
            elif has_running:
                reason = "NotReady"

    if pod.deleted is not None and pod.status_reason == _NODE_LOST:
        reason = "Unknown"
    elif pod.deleted is not None and pod.phase not in _TERMINAL_PHASES:
        reason = "Terminating"

    return PodStatusSummary(ready, total, reason, restarts, last_restart)


def _initialized(pod: PodInfo) -> bool:
    # Like isPodInitializedConditionTrue: only the first Initialized condition counts.
    for condition in pod.conditions:
        if condition.type == "Initialized":
            return condition.status == "True"
    return False


def restarts_text(summary: PodStatusSummary, now: datetime) -> str:
    """RESTARTS as kubectl prints it: "0", "3", or "2 (5m ago)" when the last restart time is known."""
    if summary.restarts != 0 and summary.last_restart is not None:
        return f"{summary.restarts} ({translate_timestamp_since(summary.last_restart, now)} ago)"
    return str(summary.restarts)


def readiness_gates_text(pod: PodInfo) -> str:
    """How many readiness-gate conditions are True out of the gates, e.g. "1/2"; "" without gates."""
    if not pod.readiness_gates:
        return ""
    true_conditions = 0
    for gate in pod.readiness_gates:
        for condition in pod.conditions:
            if condition.type == gate:
                if condition.status == "True":
                    true_conditions += 1
                break
    return f"{true_conditions}/{len(pod.readiness_gates)}"


def first_pod_ip(pod: PodInfo) -> str:
    """The IP kubectl shows: status.podIPs[0] (the API mirrors podIP there)."""
    if pod.pod_ips:
        return pod.pod_ips[0]
    return pod.pod_ip


# --- nodes -------------------------------------------------------------------------------------

_ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
_LEGACY_ROLE_LABEL = "kubernetes.io/role"


def find_node_roles(labels: Mapping[str, str]) -> tuple[str, ...]:
    """findNodeRoles: `node-role.kubernetes.io/<role>` keys, `kubernetes.io/role=<role>`; sorted, unique."""
    roles: set[str] = set()
    for key, value in labels.items():
        if key.startswith(_ROLE_LABEL_PREFIX):
            role = key[len(_ROLE_LABEL_PREFIX) :]
            if role:
                roles.add(role)
        elif key == _LEGACY_ROLE_LABEL and value:
            roles.add(value)
    return tuple(sorted(roles))


def node_status(node: NodeInfo) -> str:
    """printNode's STATUS: Ready / NotReady / Unknown (no Ready condition), then ",SchedulingDisabled"."""
    if node.ready == "True":
        status = "Ready"
    elif node.ready:
        # Any other value of a present Ready condition, "Unknown" included, prints NotReady.
        status = "NotReady"
    else:
        status = "Unknown"
    if node.unschedulable:
        status += ",SchedulingDisabled"
    return status
