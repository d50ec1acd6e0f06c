"""One worker thread per pod: sandbox (netns + IP), containers, restarts, status, graceful deletion.

Events for a pod are coalesced (the worker always acts on the newest object), so a slow step never
queues stale work, and the watch loop never blocks on a pod.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdiag_lab import kubelet_sandbox, netns
from kdiag_lab.api import Api, ApiError
from kdiag_lab.kubelet_config import DataplaneConfig, normalize_image
from kdiag_lab.kubelet_events import EventRecorder
from kdiag_lab.kubelet_node import FIXED_IP_ANNOTATION, IpAllocator
from kdiag_lab.kubelet_runtime import ContainerLog, Process, container_argv, container_env, now_rfc3339
from kdiag_lab.kubelet_status import (
    CRASH_LOOP,
    ERR_IMAGE_PULL,
    IMAGE_PULL_BACKOFF,
    ContainerRecord,
    container_id,
    phase,
    pod_status,
    will_restart,
)
from kdiag_lab.topology import LabNetwork

log = logging.getLogger("kdiag_lab.kubelet")
Json = dict[str, Any]
MAX_BACKOFF = 300.0
DEFAULT_GRACE = 30.0
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


@dataclass
class Context:
    """What every pod worker shares (passed explicitly, no module globals)."""

    api: Api
    net: LabNetwork
    config: DataplaneConfig
    pods_dir: Path
    allocator: IpAllocator
    events: EventRecorder
    known_images: frozenset[str]


def backoff(failures: int, base: float = 10.0) -> float:
    return min(base * 2.0 ** max(failures - 1, 0), MAX_BACKOFF)


class PodWorker:
    def __init__(self, ctx: Context, pod: Json) -> None:
        meta = pod["metadata"]
        self.ctx = ctx
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.key = f"{self.namespace}/{self.name}"
        self.node = pod["spec"]["nodeName"]
        self.host_network = bool(pod["spec"].get("hostNetwork"))
        self.records: dict[str, ContainerRecord] = {}
        self.ephemeral: dict[str, ContainerRecord] = {}
        self.lock = threading.RLock()  # guards records; exit callbacks come from other threads
        self._cond = threading.Condition()
        self._pod = pod
        self._dirty = True
        self._gone = False
        self.sandbox = False
        self.sandbox_done = False  # torn down after the pod finished; podIP stays in the status
        self.netns = ""
        self.mounts: kubelet_sandbox.MountSandbox | None = None
        self.pod_ip = ""
        self.host_ip = ctx.net.node(self.node).underlay_ip
        self.start_time = now_rfc3339()
        self.started, self.deadline_exceeded = time.monotonic(), False  # for activeDeadlineSeconds
        self.terminating = False
        self._sandbox_error = ""
        self._sandbox_retry = 0.0
        self._conditions: list[Json] = []
        self._published: Json | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True, name=f"pod-{self.key}")

    # -- inputs -----------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def update(self, pod: Json) -> None:
        with self._cond:
            self._pod = pod
            self._dirty = True
            self._cond.notify()

    def gone(self) -> None:
        """The pod object no longer exists in the API (force-deleted): stop everything."""
        with self._cond:
            self._gone = True
            self._cond.notify()

    def wake(self) -> None:
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def record(self, container: str) -> ContainerRecord | None:
        with self.lock:
            return self.records.get(container) or self.ephemeral.get(container)

    # -- loop -------------------------------------------------------------------------------
    def _next_due(self) -> float | None:
        if self.sandbox_done or self.terminating:
            return None
        with self.lock:
            dues = [r.due for r in (*self.records.values(), *self.ephemeral.values()) if r.due]
        if self._sandbox_retry:
            dues.append(self._sandbox_retry)
        if (deadline := self._pod["spec"].get("activeDeadlineSeconds")) and not self.deadline_exceeded:
            dues.append(self.started + float(deadline))
        return max(min(dues) - time.monotonic(), 0.0) if dues else None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._dirty and not self._gone:
                    wait = self._next_due()
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                self._dirty = False
                pod, gone = self._pod, self._gone
            if self._sandbox_retry and time.monotonic() >= self._sandbox_retry:
                self._sandbox_retry = 0.0  # due now: this round retries
            try:
                if gone:
                    self._stop_all(grace=0)
                    self._teardown_sandbox()
                    return
                if pod["metadata"].get("deletionTimestamp"):
                    self._terminate(pod)
                    return
                self._sync(pod)
            except Exception:  # one pod's trouble must never take the kubelet down
                log.exception("pod %s: sync failed; retrying in 2s", self.key)
                self._sandbox_retry = time.monotonic() + 2

    # -- sync -------------------------------------------------------------------------------
    def _sync(self, pod: Json) -> None:
        spec = pod["spec"]
        deadline = spec.get("activeDeadlineSeconds")
        if deadline and not self.sandbox_done and time.monotonic() >= self.started + float(deadline):
            self._deadline_exceeded(pod)
        if not self.sandbox and not self.sandbox_done:
            if self._sandbox_retry:  # failed recently; the loop wakes us when the retry is due
                return self._publish(pod)
            self._create_sandbox(pod)
        if self.sandbox:
            with self.lock:
                for container in spec.get("containers") or []:
                    rec = self.records.setdefault(
                        container["name"], ContainerRecord(container["name"], container["image"])
                    )
                    self._maybe_start(pod, container, rec)
                for container in spec.get("ephemeralContainers") or []:
                    rec = self.ephemeral.setdefault(
                        container["name"],
                        ContainerRecord(container["name"], container["image"], ephemeral=True),
                    )
                    self._maybe_start(pod, container, rec)
            policy = spec.get("restartPolicy", "Always")
            with self.lock:
                records = list(self.records.values())
            if phase(records, policy) in ("Succeeded", "Failed"):
                # As the kubelet does for finished pods: kill the sandbox, release the IP.
                self._stop_all(grace=0)
                self._teardown_sandbox()
                self.sandbox_done = True
        self._publish(pod)
        return None

    def _create_sandbox(self, pod: Json) -> None:
        if self.host_network:
            self.netns, self.pod_ip = self.ctx.net.node_ns(self.node), self.host_ip
        elif not self._create_pod_network(pod):
            return None
        try:  # hostNetwork pods too: ClusterFirstWithHostNet's resolv.conf, volumes
            self.mounts = kubelet_sandbox.for_pod(pod, self.netns, self._sandbox_dir(), self.ctx.api.get,
                                                  self.ctx.net.pod_ns(self.key))
        except (OSError, ApiError) as exc:
            if not self.host_network:
                self.ctx.net.remove_pod(self.key, node=self.node)
                self.ctx.allocator.release(self.node, self.pod_ip)
            return self._sandbox_failed(pod, str(exc))
        self.sandbox = True
        self._sandbox_error = ""
        self._sandbox_retry = 0.0
        return None

    def _create_pod_network(self, pod: Json) -> bool:
        """The pod's own network namespace and IP; False (an event sent) when it cannot have them."""
        wanted = (pod["metadata"].get("annotations") or {}).get(FIXED_IP_ANNOTATION, "")
        try:
            ip = self.ctx.allocator.take(self.node, wanted)
        except ValueError as exc:
            self._sandbox_failed(pod, str(exc))
            return False
        try:
            podnet = self.ctx.net.add_pod(self.node, self.key, ip)
        except (netns.NetnsError, ValueError) as exc:
            self.ctx.allocator.release(self.node, ip)
            self._sandbox_failed(pod, str(exc))
            return False
        self.netns, self.pod_ip = podnet.netns, ip
        return True

    def _sandbox_dir(self) -> Path:
        return self.ctx.pods_dir / f"{self.namespace}_{self.name}_{self.uid}" / "sandbox"

    def _sandbox_failed(self, pod: Json, why: str) -> None:
        message = f'Failed to create pod sandbox: plugin type="kdiag-lab" failed (add): {why}'
        if why != self._sandbox_error:
            self.ctx.events.pod(pod, "FailedCreatePodSandBox", message, warning=True)
        self._sandbox_error = why
        self._sandbox_retry = time.monotonic() + 5

    def _teardown_sandbox(self) -> None:
        if not self.sandbox:
            return
        if self.mounts is not None:
            self.mounts.stop()
            self.mounts = None
        self.sandbox = False
        if not self.host_network:
            self.ctx.net.remove_pod(self.key, node=self.node)
            self.ctx.allocator.release(self.node, self.pod_ip)

    def _maybe_start(self, pod: Json, container: Json, rec: ContainerRecord) -> None:
        if rec.state == "running" or self.terminating:
            return
        policy = pod["spec"].get("restartPolicy", "Always")
        if rec.state == "terminated" and (rec.ephemeral or not will_restart(rec, policy)):
            return
        if rec.due and time.monotonic() < rec.due:
            return
        if rec.state == "waiting" and rec.reason == ERR_IMAGE_PULL and rec.due:
            # The kubelet shows ErrImagePull once, then ImagePullBackOff while it waits to retry.
            rec.reason = IMAGE_PULL_BACKOFF
            rec.message = f'Back-off pulling image "{rec.image}"'
            rec.due = time.monotonic() + backoff(rec.pull_failures)
            self.ctx.events.pod(pod, "BackOff", rec.message, container=rec.name)
            return
        if normalize_image(rec.image) not in self.ctx.known_images:
            self._pull_failed(pod, rec)
            return
        if rec.state == "terminated":  # restarting: keep the last run for `kubectl logs -p`
            rec.last_terminated = rec.terminated_json()
            rec.restart_count += 1
            rec.previous_log = rec.log
        self._run(pod, container, rec)

    def _pull_failed(self, pod: Json, rec: ContainerRecord) -> None:
        rec.pull_failures += 1
        rec.state, rec.reason = "waiting", ERR_IMAGE_PULL
        rec.message = (
            f'failed to pull and unpack image "{normalize_image(rec.image)}": failed to resolve reference '
            f'"{normalize_image(rec.image)}": not found (the kdiag lab knows only its listed images)'
        )
        rec.due = time.monotonic() + 0.5
        self.ctx.events.pod(pod, "Pulling", f'Pulling image "{rec.image}"', container=rec.name)
        self.ctx.events.pod(
            pod,
            "Failed",
            f'Failed to pull image "{rec.image}": {rec.message}',
            warning=True,
            container=rec.name,
        )
        self.ctx.events.pod(pod, "Failed", "Error: ErrImagePull", warning=True, container=rec.name)

    def _run(self, pod: Json, container: Json, rec: ContainerRecord) -> None:
        run_no = rec.restart_count
        workdir = self.ctx.pods_dir / f"{self.namespace}_{self.name}_{self.uid}" / rec.name
        rec.log = ContainerLog(workdir.parent / "logs" / rec.name / f"{run_no}.log")
        rec.container_id = container_id(self.uid, rec.name, run_no)
        rec.started_at, rec.finished_at, rec.message, rec.due = now_rfc3339(), "", "", 0.0
        rec.ever_started = True
        self.ctx.events.pod(
            pod, "Pulled", f'Container image "{rec.image}" already present on machine', container=rec.name
        )
        try:
            argv = container_argv(container, self.name, self.ctx.config.entrypoints)
            env = container_env(container, pod, self.pod_ip, self.host_ip)
            rec.process = Process(
                self.netns,
                argv,
                env,
                workdir,
                rec.log,
                lambda code: self._exited(rec, run_no, code),
                hostname=self.node if self.host_network else self.name[:63],
                enter=self.mounts.enter_argv(workdir) if self.mounts else (),
            )
        except OSError as exc:
            rec.log.close()
            rec.state, rec.reason, rec.exit_code = "terminated", "StartError", 128
            rec.message = f"failed to create containerd task: failed to start shim: {exc}"
            rec.finished_at = now_rfc3339()
            self.ctx.events.pod(pod, "Failed", f"Error: {rec.message}", warning=True, container=rec.name)
            self._schedule_restart(pod, rec)
            return
        rec.state, rec.reason = "running", ""
        self.ctx.events.pod(pod, "Created", f"Created container {rec.name}", container=rec.name)
        self.ctx.events.pod(pod, "Started", f"Started container {rec.name}", container=rec.name)

    def _schedule_restart(self, pod: Json, rec: ContainerRecord) -> None:
        if self.terminating or not will_restart(rec, pod["spec"].get("restartPolicy", "Always")):
            return
        # First restart at once, then 10s, 20s, ... 5 min, reported as CrashLoopBackOff meanwhile.
        if rec.restart_count == 0:
            rec.due = time.monotonic()
            return
        delay = backoff(rec.restart_count)
        rec.due = time.monotonic() + delay
        self.ctx.events.pod(
            pod, "BackOff", "Back-off restarting failed container", warning=True, container=rec.name
        )
        rec.last_terminated = rec.terminated_json()
        rec.state, rec.reason = "waiting", CRASH_LOOP
        rec.message = (
            f"back-off {int(delay)}s restarting failed container={rec.name} "
            f"pod={self.name}_{self.namespace}({self.uid})"
        )
        rec.restart_count += 1
        rec.previous_log = rec.log

    def _exited(self, rec: ContainerRecord, run_no: int, code: int) -> None:
        with self.lock:
            if rec.restart_count != run_no or rec.state != "running":
                return
            rec.exit_code = code if code >= 0 else 128 - code  # killed by signal N: 128 + N
            rec.state = "terminated"
            rec.reason = "Completed" if rec.exit_code == 0 else "Error"
            rec.finished_at = now_rfc3339()
            rec.process = None
            self._schedule_restart(self._pod, rec)
        self.wake()

    def _deadline_exceeded(self, pod: Json) -> None:
        """activeDeadlineSeconds passed (or was lowered below the pod's age): Failed, SIGTERM, SIGKILL."""
        self.deadline_exceeded = True
        self.ctx.events.pod(pod, "DeadlineExceeded", DEADLINE_MESSAGE, warning=True)
        self._stop_all(float(pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE)))
        self._teardown_sandbox()
        self.sandbox_done = True

    # -- stop -------------------------------------------------------------------------------
    def _stop_all(self, grace: float) -> None:
        with self.lock:
            running = [r for r in (*self.records.values(), *self.ephemeral.values()) if r.process is not None]
        stoppers = [
            threading.Thread(target=r.process.stop, args=(grace,), daemon=True) for r in running if r.process
        ]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()

    def _terminate(self, pod: Json) -> None:
        """Graceful deletion: stop containers within the grace period, remove the sandbox, then
        delete the pod object with grace 0, as the kubelet's status manager does."""
        self.terminating = True
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        grace_s = DEFAULT_GRACE if grace is None else float(grace)
        with self.lock:
            names = [r.name for r in self.records.values() if r.state == "running"]
        for name in names:
            self.ctx.events.pod(pod, "Killing", f"Stopping container {name}", container=name)
        self._stop_all(grace_s)
        self._teardown_sandbox()
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"
        try:
            self.ctx.api.delete(path, {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}})
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise

    # -- status -----------------------------------------------------------------------------
    def _publish(self, pod: Json) -> None:
        spec = pod["spec"]
        with self.lock:
            records = [
                self.records[c["name"]] for c in spec.get("containers") or [] if c["name"] in self.records
            ]
            if not records:  # sandbox not ready: every container still "ContainerCreating"
                records = [ContainerRecord(c["name"], c["image"]) for c in spec.get("containers") or []]
            status = pod_status(
                records=records,
                ephemeral=list(self.ephemeral.values()),
                restart_policy=spec.get("restartPolicy", "Always"),
                sandbox=self.sandbox,
                pod_ip=self.pod_ip,
                host_ip=self.host_ip,
                start_time=self.start_time,
                previous_conditions=self._conditions,
                now=now_rfc3339(),
            )
            if self.deadline_exceeded:
                status.update(phase="Failed", reason="DeadlineExceeded", message=DEADLINE_MESSAGE)
            # The apiserver sets qosClass at creation from the resources and it is immutable.
            status["qosClass"] = (pod.get("status") or {}).get("qosClass") or status["qosClass"]
        if status == self._published:
            return
        self._conditions = status["conditions"]
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status"
        try:
            self.ctx.api.patch(path, {"status": status})
            self._published = status
        except ApiError as exc:
            if exc.status != 404:  # deleted meanwhile: the watch will tell us
                raise
