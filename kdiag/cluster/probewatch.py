"""Waiting for a workload's container by watching its pod (never polling), and saying why it never ran.

A container that will not start without someone changing something (the image cannot be pulled,
the kubelet refused the pod, it is unschedulable) ends the wait at once with the reason from the
pod's status and its Warning events; otherwise the wait ends at the deadline with the last state
seen. Both are `CannotProbeError` (exit 3).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kdiag.cluster import paths
from kdiag.cluster.client import Cluster
from kdiag.errors import CannotProbeError, KdiagError, NotFoundError

if TYPE_CHECKING:
    from kdiag.cluster.workloads import Workload

# Waiting reasons after which the container does not start by itself (restartPolicy Never).
STUCK_REASONS = frozenset({
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError", "PreCreateHookError",
})
IMAGE_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                           "RegistryUnavailable"})


class _Reported(CannotProbeError):
    """What this module found out about the workload (stuck, timed out, deleted, the API lost): passed
    on as it is, while a failed request without an answer means the API server was lost."""


@dataclass(frozen=True)
class Outcome:
    running_at: float  # time.monotonic() when the container was first seen running (or finished)
    exit_code: int | None
    detail: str


@dataclass(frozen=True)
class State:
    phase: str  # waiting | running | done | stuck
    detail: str
    reason: str = ""
    exit_code: int | None = None
    message: str = ""  # the waiting reason's message, as the kubelet wrote it


def assess(pod: dict[str, Any], spec: Workload) -> State:
    """Where the probe container stands, from one pod object."""
    status = pod.get("status") or {}
    key = "ephemeralContainerStatuses" if spec.ephemeral else "containerStatuses"
    cs: dict[str, Any] = next((c for c in status.get(key) or [] if c.get("name") == spec.container), {})
    state = cs.get("state") or {}
    if "terminated" in state:
        term = state["terminated"] or {}
        code = term.get("exitCode")
        return State("done", f"terminated ({term.get('reason', '')}, exit code {code})",
                     str(term.get("reason", "")), code if isinstance(code, int) else None)
    if "running" in state:
        return State("running", "running")
    waiting = state.get("waiting") or {}
    reason, message = str(waiting.get("reason", "")), str(waiting.get("message", ""))
    if reason in STUCK_REASONS:
        return State("stuck", f"{reason}: {message}" if message else reason, reason, message=message)
    if not spec.ephemeral:
        phase = str(status.get("phase", ""))
        if phase in ("Failed", "Succeeded"):
            why = ": ".join(x for x in (status.get("reason"), status.get("message")) if x)
            reason = str(status.get("reason", ""))
            return State("stuck", f"pod {phase}" + (f" ({why})" if why else ""), reason)
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                why = f"{cond.get('reason', '')}: {cond.get('message', '')}".strip(": ")
                return State("stuck", f"not scheduled ({why})", str(cond.get("reason", "")))
        return State("waiting", reason or phase or "Pending", reason)
    return State("waiting", reason or "waiting", reason)


def warning_events(cluster: Cluster, spec: Workload, limit: int = 3) -> list[str]:
    """The newest Warning events of the probe pod (its container in ephemeral mode), best effort."""
    query = {"fieldSelector": f"involvedObject.kind=Pod,involvedObject.name={spec.pod}"}
    try:
        listing = cluster.request("GET", paths.namespaced(spec.namespace, "events"), query=query,
                                  what=f"list events in namespace {spec.namespace}", timeout=5)
    except KdiagError:
        return []
    items = [e for e in listing.get("items") or [] if e.get("type") == "Warning"]
    if spec.ephemeral:
        items = [e for e in items if spec.container in str((e.get("involvedObject") or {}).get("fieldPath"))]
    items.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    seen = list(dict.fromkeys(f"{e.get('reason', '')}: {e.get('message', '')}" for e in items))
    return seen[-limit:]


def _with_events(cluster: Cluster, spec: Workload, message: str) -> str:
    events = warning_events(cluster, spec)
    return message + (f"; events: {' | '.join(events)}" if events else "")


def root_cause(message: str, limit: int = 100) -> str:
    """The innermost part of a wrapped error ("failed to pull ...: failed to resolve ...: not found"
    -> "not found"), cut to `limit` characters: the outer parts repeat the image name."""
    cause = message.rsplit(": ", 1)[-1].strip()
    return cause if len(cause) <= limit else cause[: limit - 3] + "..."


def _stuck(cluster: Cluster, spec: Workload, state: State) -> CannotProbeError:
    if state.reason in IMAGE_REASONS:
        # The kubelet's message and its events say the same long sentence several times: one line.
        cause = f"{state.reason}: {root_cause(state.message)}" if state.message else state.reason
        return _Reported(f"{spec.what} on {spec.node} cannot pull image {spec.image} ({cause})",
                         hint="--image or KDIAG_PROBE_IMAGE: an image the node can pull, with python3")
    message = _with_events(cluster, spec, f"{spec.what} cannot start on {spec.node}: {state.detail}")
    return _Reported(message, hint=f"kubectl describe pod -n {spec.namespace} {spec.pod}")


def _lost(cluster: Cluster, spec: Workload) -> CannotProbeError:
    return _Reported(
        f"lost the API server {cluster.server} while {spec.what} ran: it stopped answering",
        hint="is the control plane up? once it answers again, `kdiag cleanup` removes what was left")


def _answers(cluster: Cluster, spec: Workload) -> bool:
    """Does the API server still answer (whatever it says)? Asked before blaming --timeout."""
    try:
        cluster.request("GET", paths.pod(spec.namespace, spec.pod), timeout=5,
                        what=f"get pods in namespace {spec.namespace}")
    except KdiagError as exc:
        return exc.status is not None
    return True


def _timed_out(cluster: Cluster, spec: Workload, state: State, running: bool) -> CannotProbeError:
    if not _answers(cluster, spec):
        return _lost(cluster, spec)
    verb = "finish" if running else "start"
    message = _with_events(cluster, spec, f"{spec.what} did not {verb} within {spec.timeout:g}s "
                                          f"(last state: {state.detail})")
    hint = ("raise --timeout" if running else
            f"is node {spec.node} Ready with a running kubelet? is the image slow to pull? raise --timeout")
    return _Reported(message, hint=hint)


def _get(cluster: Cluster, spec: Workload) -> dict[str, Any]:
    try:
        pod: dict[str, Any] = cluster.request(
            "GET", paths.pod(spec.namespace, spec.pod),
            what=f"get pods in namespace {spec.namespace}")
    except NotFoundError:
        raise _Reported(f"{spec.what} was deleted while it ran",
                               hint="was `kdiag cleanup` run meanwhile?") from None
    return pod


def wait_for_container(cluster: Cluster, spec: Workload, version: str, *, deadline: float,
                       say: Callable[[str], None]) -> Outcome:
    """Watch the pod from `version` (the create/patch response) until the container has finished.
    An API server that stops answering meanwhile is reported as lost, not as a slow workload."""
    try:
        return _watch(cluster, spec, version, deadline=deadline, say=say)
    except CannotProbeError as exc:
        if exc.status is None and not isinstance(exc, _Reported):
            raise _lost(cluster, spec) from exc
        raise


def _watch(cluster: Cluster, spec: Workload, version: str, *, deadline: float,
           say: Callable[[str], None]) -> Outcome:
    path = paths.pods(spec.namespace)
    state, running_at = State("waiting", "Pending"), 0.0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(cluster, spec, state, bool(running_at))
        query = {"watch": "1", "fieldSelector": f"metadata.name={spec.pod}", "resourceVersion": version,
                 "timeoutSeconds": str(max(1, math.ceil(remaining)))}
        objects: list[dict[str, Any]] = []
        for line in cluster.stream_lines(path, query=query, what=f"watch pods in namespace {spec.namespace}",
                                         timeout=remaining + 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                break  # a line cut short by a dropped connection: watch again from `version`
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":  # 410 Gone: the version is too old; start again from a fresh GET
                obj = _get(cluster, spec)
            elif kind == "DELETED":
                raise _Reported(f"{spec.what} was deleted while it ran",
                                       hint="was `kdiag cleanup` run meanwhile?")
            objects = [obj]
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            state = assess(obj, spec)
            if state.phase in ("running", "done") and not running_at:
                running_at = time.monotonic()
                say(f"probing from {spec.node}")
            if state.phase == "done":
                return Outcome(running_at, state.exit_code, state.detail)
            if state.phase == "stuck":
                raise _stuck(cluster, spec, state)
            if state.phase == "waiting":
                say(f"waiting for the probe container: {state.detail}")
            if kind == "ERROR" or time.monotonic() >= deadline:
                break
        if not objects and time.monotonic() < deadline:
            # The stream closed without news: make sure nothing was missed before watching again.
            pod = _get(cluster, spec)
            version = str((pod.get("metadata") or {}).get("resourceVersion") or version)
            state = assess(pod, spec)
            if state.phase == "done":
                return Outcome(running_at or time.monotonic(), state.exit_code, state.detail)
            if state.phase == "stuck":
                raise _stuck(cluster, spec, state)
