"""Pure functions: the lab kubelet's view of a pod -> the `status` a real kubelet would write."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from kdiag_lab.kubelet_runtime import ContainerLog, Process

Json = dict[str, Any]

# Waiting reasons, as the kubelet spells them.
CREATING = "ContainerCreating"
ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
CRASH_LOOP = "CrashLoopBackOff"


@dataclass
class ContainerRecord:
    name: str
    image: str
    ephemeral: bool = False
    state: str = "waiting"  # waiting | running | terminated
    reason: str = CREATING
    message: str = ""
    exit_code: int = 0
    started_at: str = ""
    finished_at: str = ""
    restart_count: int = 0
    container_id: str = ""
    last_terminated: Json | None = None
    ever_started: bool = False
    pull_failures: int = 0
    process: Process | None = field(default=None, repr=False)
    log: ContainerLog | None = field(default=None, repr=False)
    previous_log: ContainerLog | None = field(default=None, repr=False)
    due: float = 0.0  # monotonic time of the next pull retry / restart while waiting

    def terminated_json(self) -> Json:
        term: Json = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at or None,
            "finishedAt": self.finished_at or None,
            "containerID": self.container_id or None,
        }
        if self.message:
            term["message"] = self.message
        return {k: v for k, v in term.items() if v is not None}

    def state_json(self) -> Json:
        if self.state == "running":
            return {"running": {"startedAt": self.started_at}}
        if self.state == "terminated":
            return {"terminated": self.terminated_json()}
        waiting: Json = {"reason": self.reason}
        if self.message:
            waiting["message"] = self.message
        return {"waiting": waiting}

    def status_json(self) -> Json:
        digest = hashlib.sha256(self.image.encode()).hexdigest()
        status: Json = {
            "name": self.name,
            "image": self.image,
            "imageID": f"{self.image.split('@')[0].rsplit(':', 1)[0]}@sha256:{digest}"
            if self.ever_started
            else "",
            "ready": self.state == "running" and not self.ephemeral,
            "started": self.state == "running",
            "restartCount": self.restart_count,
            "state": self.state_json(),
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


def container_id(pod_uid: str, name: str, restart: int) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}/{restart}".encode()).hexdigest()


def phase(records: list[ContainerRecord], restart_policy: str) -> str:
    """Pending until every container has started once; then Running, Succeeded or Failed."""
    if not records or any(not r.ever_started for r in records):
        return "Pending"
    if all(r.state == "terminated" for r in records):
        if all(r.exit_code == 0 for r in records):
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
    return "Running"


def will_restart(record: ContainerRecord, restart_policy: str) -> bool:
    if record.ephemeral:
        return False
    return restart_policy == "Always" or (restart_policy == "OnFailure" and record.exit_code != 0)


def conditions(
    records: list[ContainerRecord], sandbox: bool, pod_phase: str, previous: list[Json], now: str
) -> list[Json]:
    """The five pod conditions; lastTransitionTime changes only when a status changes."""
    ready = bool(records) and all(r.state == "running" for r in records)
    not_ready = [r.name for r in records if r.state != "running"]
    done = pod_phase in ("Succeeded", "Failed")
    wanted: list[tuple[str, bool, str]] = [
        ("PodReadyToStartContainers", sandbox and not done, ""),
        ("Initialized", True, ""),
        ("Ready", ready, "PodCompleted" if done else "ContainersNotReady"),
        ("ContainersReady", ready, "PodCompleted" if done else "ContainersNotReady"),
        ("PodScheduled", True, ""),
    ]
    before = {c["type"]: c for c in previous}
    result = []
    for kind, ok, reason in wanted:
        cond: Json = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
        old = before.get(kind)
        cond["lastTransitionTime"] = (
            old["lastTransitionTime"] if old and old["status"] == cond["status"] else now
        )
        if not ok and reason:
            cond["reason"] = reason
            if reason == "ContainersNotReady":
                cond["message"] = f"containers with unready status: [{' '.join(not_ready)}]"
        result.append(cond)
    return result


def pod_status(
    *,
    records: list[ContainerRecord],
    ephemeral: list[ContainerRecord],
    restart_policy: str,
    sandbox: bool,
    pod_ip: str,
    host_ip: str,
    start_time: str,
    previous_conditions: list[Json],
    now: str,
    reason: str = "",
    message: str = "",
) -> Json:
    pod_phase = phase(records, restart_policy)
    status: Json = {
        "phase": pod_phase,
        "conditions": conditions(records, sandbox, pod_phase, previous_conditions, now),
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": start_time,
        "qosClass": "BestEffort",
        "containerStatuses": [r.status_json() for r in records],
    }
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if ephemeral:
        status["ephemeralContainerStatuses"] = [r.status_json() for r in ephemeral]
    if reason:
        status["reason"] = reason
        status["message"] = message
    return status
