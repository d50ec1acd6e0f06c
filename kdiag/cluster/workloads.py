"""One runner for everything kdiag starts in the cluster: launch a manifest, wait, read, always delete.

`launched(...)` is a context manager: entering creates the pod (or adds the ephemeral container),
`.finish()` watches it to the end (kdiag.cluster.probewatch) and reads the container's log, and the
exit deletes the pod, on success, failure, timeout and every signal kdiag.cli.signals turns into
an exception. Several compose with `contextlib.ExitStack` (observers on two nodes are launched
together, then awaited). The deletion request is shielded from a second signal; it is sent, not
awaited: grace 0, background propagation, and, given a `Deletions`, from a thread the command joins
before it exits, so the verdict is not held up by the round trip. Ephemeral containers cannot be
removed (Kubernetes keeps them in the pod's spec); kdiag says so before adding one.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.cluster import paths
from kdiag.cluster.client import Cluster
from kdiag.cluster.probewatch import wait_for_container
from kdiag.errors import CannotProbeError, KdiagError, NotFoundError

Say = Callable[[str], None]
DELETE_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Workload:
    """A pod to run (or a container to add to `pod` when `ephemeral`) and how to speak of it."""

    namespace: str
    pod: str  # the pod's name; ephemeral: the pod that gets the container
    container: str  # the container whose end and log count
    node: str
    image: str
    timeout: float  # created -> finished, in seconds
    manifest: Mapping[str, Any]  # a Pod; ephemeral: the EphemeralContainer
    ephemeral: bool = False
    noun: str = "pod"  # "probe pod", later "observer pod": how messages name it
    resources: str = ""  # its requests/limits in words, for a quota refusal

    @property
    def what(self) -> str:
        if self.ephemeral:
            return f"ephemeral container {self.container} in {self.namespace}/{self.pod}"
        return f"{self.noun} {self.namespace}/{self.pod}"


@dataclass(frozen=True)
class Finished:
    log: str
    exit_code: int | None
    start_seconds: float  # created -> container running
    run_seconds: float  # running -> log read


class PodSecurityRejected(CannotProbeError):
    """The API server's PodSecurity admission refused the workload (pod or ephemeral container)."""

    @property
    def host_namespaces(self) -> bool:
        """Refused for sharing the host network, which the probe of a host-network source must:
        no engine fallback helps then."""
        return "host namespaces" in self.message


class Deletions:
    """Deletion requests sent from threads; `join` (shielded) waits until each has been answered."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []

    def send(self, delete: Callable[[], None]) -> None:
        thread = threading.Thread(target=delete, name="kdiag-delete")
        thread.start()
        self._threads.append(thread)

    def join(self) -> None:
        with shielded():
            for thread in self._threads:
                thread.join()


@contextlib.contextmanager
def deleting_in_background() -> Iterator[Deletions]:
    """For a command's whole run: deletions overlap judging and rendering, and are all answered
    before the command returns (the `finally` runs on signals too)."""
    deletions = Deletions()
    try:
        yield deletions
    finally:
        deletions.join()


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Cleanup must finish: a second Ctrl-C / SIGTERM / SIGHUP / SIGQUIT meanwhile is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ending = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in ending}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# ---- API calls ---------------------------------------------------------------------------------


def _rejected(exc: CannotProbeError, workload: Workload) -> CannotProbeError:
    if "violates PodSecurity" in exc.message and "host namespaces" in exc.message:
        return PodSecurityRejected(exc.message, hint="the source is in the host network, so its probe must "
                                   "be too; --mode ephemeral probes from inside the source pod instead")
    if "violates PodSecurity" in exc.message:
        return PodSecurityRejected(exc.message, hint="the namespace enforces a Pod Security level; "
                                   "--engine unprivileged fits `restricted`")
    if any(word in exc.message for word in ("exceeded quota", "status unknown for quota", "LimitRange",
                                            "maximum")):
        needs = f" ({workload.resources})" if workload.resources else ""
        return CannotProbeError(exc.message, hint=f"the namespace's ResourceQuota/LimitRange leaves no room "
                                f"for the {workload.noun}{needs}; free some, or use --probe-namespace")
    return exc


def _create(cluster: Cluster, workload: Workload) -> str:
    """Create the pod (or add the ephemeral container); returns the resourceVersion to watch from."""
    try:
        if workload.ephemeral:
            done = cluster.request(
                "PATCH", paths.pod(workload.namespace, workload.pod, "ephemeralcontainers"),
                body={"spec": {"ephemeralContainers": [dict(workload.manifest)]}},
                content_type="application/strategic-merge-patch+json",
                what=f"patch pods/ephemeralcontainers in namespace {workload.namespace}")
        else:
            done = cluster.request("POST", paths.pods(workload.namespace), body=dict(workload.manifest),
                                   what=f"create pods in namespace {workload.namespace}")
    except CannotProbeError as exc:
        raise _rejected(exc, workload) from None
    return str(done["metadata"]["resourceVersion"])


def delete_pod(cluster: Cluster, *, namespace: str, name: str) -> None:
    """Ask for the deletion and return: grace 0 (nothing in the pod needs to shut down) and background
    propagation, so the answer does not wait for the pod to be gone. A pod already gone is fine."""
    with contextlib.suppress(NotFoundError):
        cluster.request("DELETE", paths.pod(namespace, name), timeout=DELETE_TIMEOUT_SECONDS,
                        body={"gracePeriodSeconds": 0, "propagationPolicy": "Background"},
                        what=f"delete pods in namespace {namespace}")


def read_log(cluster: Cluster, workload: Workload) -> str:
    raw = cluster.request_raw("GET", paths.pod(workload.namespace, workload.pod, "log"),
                              query={"container": workload.container},
                              what=f"get pods/log in namespace {workload.namespace}")
    return raw.decode("utf-8", "replace")


# ---- running -----------------------------------------------------------------------------------


class Launched:
    """A created workload; `finish` waits for its container to end and reads its log."""

    def __init__(self, cluster: Cluster, workload: Workload, version: str, started: float) -> None:
        self.cluster, self.workload, self.version, self.started = cluster, workload, version, started
        self.created_seconds = time.monotonic() - started  # the create request itself

    def finish(self, *, say: Say) -> Finished:
        outcome = wait_for_container(self.cluster, self.workload, self.version,
                                     deadline=self.started + self.workload.timeout, say=say)
        log = read_log(self.cluster, self.workload)
        return Finished(log, outcome.exit_code,
                        start_seconds=outcome.running_at - self.started - self.created_seconds,
                        run_seconds=time.monotonic() - outcome.running_at)


@contextlib.contextmanager
def launched(cluster: Cluster, workload: Workload, *, say: Say, warn: Say,
             deletions: Deletions | None = None) -> Iterator[Launched]:
    """Create `workload`; the exit deletes it (given `deletions`, from a thread they join)."""
    started = time.monotonic()
    if workload.ephemeral:
        warn(f"adding {workload.what}: Kubernetes cannot remove an ephemeral container from a pod; it "
             "stays in the pod's spec (exited) until the pod is deleted")
        say(f"adding {workload.what}")
        yield Launched(cluster, workload, _create(cluster, workload), started)
        return
    created = interrupted = False
    try:
        say(f"creating {workload.what} on {workload.node}")
        try:
            version = _create(cluster, workload)
            created = True
        except KdiagError as exc:
            # Refused (4xx): nothing was created. No answer (timeout, connection lost, 5xx):
            # the server may have created it all the same, so delete it to be sure.
            created = not exc.refused
            raise
        except BaseException:
            created = True  # interrupted mid-request: it may exist
            raise
        yield Launched(cluster, workload, version, started)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if created:
            _delete(cluster, workload, warn=warn, interrupted=interrupted, deletions=deletions)


def _delete(cluster: Cluster, workload: Workload, *, warn: Say, interrupted: bool,
            deletions: Deletions | None) -> None:
    def delete() -> None:
        try:
            delete_pod(cluster, namespace=workload.namespace, name=workload.pod)
        except KdiagError as exc:
            warn(f"could not delete {workload.what}: {exc.message} (run `kdiag cleanup`)")
            return
        if interrupted:
            with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
                warn(f"interrupted: {workload.what} deleted")

    if deletions is not None and not interrupted:
        deletions.send(delete)
        return
    with shielded():
        delete()
