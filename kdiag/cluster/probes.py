"""Probe pods: build one, run the agent in it, read its ProbeResult, and always delete it.

A probe pod runs the agent (`kdiag.agent.agent_source()`) as `python3 -c <source> <spec json>` on
the source pod's node (spec.nodeName, so no scheduler is involved), with the least privilege its engine needs:

- raw engine: capabilities drop ALL + add NET_RAW, uid 0 (file capabilities aside, a non-root
  process gets no effective capabilities from the container's set); Pod Security `baseline` allows it;
- unprivileged engine: no capabilities, runAsNonRoot as uid/gid 65534, and the namespaced sysctl
  net.ipv4.ping_group_range opened so ping sockets work; Pod Security `restricted` allows it.

Both: no privilege escalation, seccomp RuntimeDefault, read-only root filesystem, no service
account token, requests/limits, restartPolicy Never, activeDeadlineSeconds as a server-side net.

`run` waits by watching (kdiag.cluster.probewatch), reads the result from the container's log, and
deletes the pod in a `finally` (success, failure, timeout, Ctrl-C, and SIGTERM, which is turned
into KeyboardInterrupt while a probe runs). `--mode ephemeral` adds the agent to the source pod
as an ephemeral container instead, which Kubernetes cannot remove afterwards.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from kdiag.agent import agent_source
from kdiag.cluster.client import Cluster
from kdiag.cluster.probewatch import Outcome, wait_for_container
from kdiag.defaults import PROBE_IMAGE
from kdiag.errors import CannotProbeError, KdiagError, NotFoundError

DEFAULT_IMAGE = PROBE_IMAGE
IMAGE_ENV = "KDIAG_PROBE_IMAGE"
MANAGED_BY_LABEL, MANAGED_BY = "app.kubernetes.io/managed-by", "kdiag"
RUN_ID_LABEL = "kdiag.dev/run-id"
PROBE_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
CONTAINER = "probe"
NOBODY = 65534
ENGINES = ("raw", "unprivileged")
PING_GROUP_RANGE = {"name": "net.ipv4.ping_group_range", "value": "0 2147483647"}
RESOURCES = {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}

Say = Callable[[str], None]


def new_run_id() -> str:
    return secrets.token_hex(4)


class PodSecurityRejected(CannotProbeError):
    """The API server's PodSecurity admission refused the probe (pod or ephemeral container)."""

    @property
    def host_namespaces(self) -> bool:
        """Refused for sharing the host network, which the probe of a host-network source must:
        no engine fallback helps then."""
        return "host namespaces" in self.message


@dataclass(frozen=True)
class ProbeSpec:
    namespace: str  # where the probe pod goes (ephemeral mode: the source pod's namespace)
    node: str  # the source pod's node
    target: str  # IPv4 address the agent probes
    probes: tuple[str, ...]
    engine: str  # "raw" | "unprivileged": how the container is privileged
    agent_engine: str = "auto"  # what the agent is told: auto | raw | unprivileged
    port: int | None = None
    count: int = 3
    agent_timeout: float = 2.0
    image: str = DEFAULT_IMAGE
    host_network: bool = False
    mode: str = "pod"  # "pod" | "ephemeral"
    source_pod: str = ""  # ephemeral mode: the pod that gets the container
    timeout: float = 60.0  # start + probe + result, in seconds
    run_id: str = field(default_factory=new_run_id)

    @property
    def name(self) -> str:
        """The probe pod's name (pod mode) or the ephemeral container's name."""
        return f"kdiag-probe-{self.run_id}"

    @property
    def container(self) -> str:
        return self.name if self.mode == "ephemeral" else CONTAINER

    @property
    def pod(self) -> str:
        return self.source_pod if self.mode == "ephemeral" else self.name


@dataclass(frozen=True)
class ProbeRun:
    result: dict[str, Any]
    pod: str
    namespace: str
    container: str
    start_seconds: float  # created -> container running
    probe_seconds: float  # running -> result read


# ---- what is sent ------------------------------------------------------------------------------


def agent_spec(spec: ProbeSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"target": spec.target, "probes": list(spec.probes), "engine": spec.agent_engine,
                           "count": spec.count, "timeout": spec.agent_timeout}
    if spec.port is not None:
        out["port"] = spec.port
    return out


def container_security(engine: str) -> dict[str, Any]:
    base: dict[str, Any] = {"privileged": False, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if engine == "raw":
        return {**base, "runAsUser": 0, "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}}
    return {**base, "runAsNonRoot": True, "runAsUser": NOBODY, "runAsGroup": NOBODY,
            "capabilities": {"drop": ["ALL"]}}


def _container(spec: ProbeSpec) -> dict[str, Any]:
    return {
        "name": spec.container,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "-c", agent_source(), json.dumps(agent_spec(spec), separators=(",", ":"))],
        "securityContext": container_security(spec.engine),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def labels(run_id: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, RUN_ID_LABEL: run_id, "app.kubernetes.io/name": "kdiag-probe"}


def pod_manifest(spec: ProbeSpec) -> dict[str, Any]:
    pod_security: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if spec.engine == "unprivileged":
        pod_security.update(runAsNonRoot=True, runAsUser=NOBODY, runAsGroup=NOBODY)
        if not spec.host_network:  # namespaced sysctls are refused in the host's namespace
            pod_security["sysctls"] = [PING_GROUP_RANGE]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels(spec.run_id),
                     "annotations": {"kdiag.dev/target": spec.target}},
        "spec": {
            "nodeName": spec.node,
            "hostNetwork": spec.host_network,
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 0,
            "activeDeadlineSeconds": int(spec.timeout) + 60,  # if kdiag itself is killed -9
            "tolerations": [{"operator": "Exists"}],  # probe from the node whatever its taints
            "securityContext": pod_security,
            "containers": [{**_container(spec), "resources": RESOURCES}],
        },
    }


def ephemeral_container(spec: ProbeSpec) -> dict[str, Any]:
    """Ephemeral containers take no resources or ports; the same security context applies."""
    return _container(spec)


# ---- signals -----------------------------------------------------------------------------------


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While a probe runs, SIGTERM raises KeyboardInterrupt like Ctrl-C, so `finally` cleans up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Cleanup must finish: a second Ctrl-C / SIGTERM during the delete request is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# ---- API calls ---------------------------------------------------------------------------------


def _pods(namespace: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/pods"


def _rejected(exc: CannotProbeError) -> CannotProbeError:
    if "violates PodSecurity" in exc.message and "host namespaces" in exc.message:
        return PodSecurityRejected(exc.message, hint="the source is in the host network, so its probe must "
                                   "be too; --mode ephemeral probes from inside the source pod instead")
    if "violates PodSecurity" in exc.message:
        return PodSecurityRejected(exc.message, hint="the namespace enforces a Pod Security level; "
                                   "--engine unprivileged fits `restricted`")
    if "exceeded quota" in exc.message or "LimitRange" in exc.message or "maximum" in exc.message:
        return CannotProbeError(exc.message, hint="the namespace's ResourceQuota/LimitRange leaves no room "
                                f"for the probe pod ({RESOURCES}); free some, or use --probe-namespace")
    return exc


def _create_pod(cluster: Cluster, spec: ProbeSpec) -> str:
    try:
        created = cluster.request("POST", _pods(spec.namespace), body=pod_manifest(spec),
                                  what=f"create pods in namespace {spec.namespace}")
    except CannotProbeError as exc:
        raise _rejected(exc) from None
    return str(created["metadata"]["resourceVersion"])


def delete_pod(cluster: Cluster, namespace: str, name: str) -> None:
    """Delete now (grace 0: the probe holds no state); a pod already gone is fine."""
    with contextlib.suppress(NotFoundError):
        cluster.request("DELETE", f"{_pods(namespace)}/{quote(name)}", timeout=15,
                        body={"gracePeriodSeconds": 0, "propagationPolicy": "Background"},
                        what=f"delete pods in namespace {namespace}")


def _add_ephemeral(cluster: Cluster, spec: ProbeSpec) -> str:
    patch = {"spec": {"ephemeralContainers": [ephemeral_container(spec)]}}
    try:
        updated = cluster.request(
            "PATCH", f"{_pods(spec.namespace)}/{quote(spec.source_pod)}/ephemeralcontainers", body=patch,
            content_type="application/strategic-merge-patch+json",
            what=f"patch pods/ephemeralcontainers in namespace {spec.namespace}")
    except CannotProbeError as exc:
        raise _rejected(exc) from None
    return str(updated["metadata"]["resourceVersion"])


def read_result(cluster: Cluster, spec: ProbeSpec, outcome: Outcome) -> dict[str, Any]:
    raw = cluster.request_raw("GET", f"{_pods(spec.namespace)}/{quote(spec.pod)}/log",
                              query={"container": spec.container},
                              what=f"get pods/log in namespace {spec.namespace}")
    text = raw.decode("utf-8", "replace")
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("kind") == "ProbeResult":
                return doc
    tail = " | ".join(text.strip().splitlines()[-3:]) or "no output"
    raise CannotProbeError(
        f"the probe agent in {spec.namespace}/{spec.pod} returned no result (exit code {outcome.exit_code}): "
        f"{tail}", hint="does the image have python3 3.8+? try --image or KDIAG_PROBE_IMAGE")


# ---- running -----------------------------------------------------------------------------------


def run(cluster: Cluster, spec: ProbeSpec, *, say: Say, warn: Say) -> ProbeRun:
    """Run the agent once and return its ProbeResult; the probe pod is gone when this returns or
    raises (pod mode)."""
    if spec.mode == "ephemeral":
        return _run_ephemeral(cluster, spec, say=say, warn=warn)
    started = time.monotonic()
    with sigterm_interrupts():
        created = interrupted = False
        try:
            say(f"creating probe pod {spec.namespace}/{spec.name} on {spec.node}")
            try:
                version = _create_pod(cluster, spec)
                created = True
            except KdiagError as exc:
                # Refused (4xx): nothing was created. No answer (timeout, connection lost, 5xx):
                # the server may have created it all the same, so delete it to be sure.
                created = not exc.refused
                raise
            except BaseException:
                created = True  # interrupted mid-request: it may exist
                raise
            api = time.monotonic() - started
            outcome = wait_for_container(cluster, spec, version, deadline=started + spec.timeout, say=say)
            result = read_result(cluster, spec, outcome)
            probe_s = time.monotonic() - outcome.running_at
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            if created:
                try:
                    with _shielded():
                        delete_pod(cluster, spec.namespace, spec.name)
                    if interrupted:
                        warn(f"interrupted: probe pod {spec.namespace}/{spec.name} deleted")
                except KdiagError as exc:
                    warn(f"could not delete probe pod {spec.namespace}/{spec.name}: {exc.message} "
                         "(run `kdiag cleanup`)")
    return ProbeRun(result, spec.name, spec.namespace, spec.container, outcome.running_at - started - api,
                    probe_s)


def _run_ephemeral(cluster: Cluster, spec: ProbeSpec, *, say: Say, warn: Say) -> ProbeRun:
    started = time.monotonic()
    warn(f"adding ephemeral container {spec.name} to {spec.namespace}/{spec.source_pod}: Kubernetes cannot "
         "remove an ephemeral container from a pod; it stays in the pod's spec (exited) until the pod "
         "is deleted")
    with sigterm_interrupts():
        say(f"adding ephemeral container {spec.name} to {spec.namespace}/{spec.source_pod}")
        version = _add_ephemeral(cluster, spec)
        api = time.monotonic() - started
        outcome = wait_for_container(cluster, spec, version, deadline=started + spec.timeout, say=say)
        result = read_result(cluster, spec, outcome)
    return ProbeRun(result, spec.source_pod, spec.namespace, spec.name, outcome.running_at - started - api,
                    time.monotonic() - outcome.running_at)


def _allowed(cluster: Cluster, namespace: str, verb: str, resource: str, subresource: str) -> bool | None:
    attributes = {"namespace": namespace, "verb": verb, "resource": resource}
    if subresource:
        attributes["subresource"] = subresource
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes}}
    try:
        review = cluster.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body,
                                 what="create selfsubjectaccessreviews")
    except KdiagError:
        return None  # cannot tell: let the real request speak
    return bool((review.get("status") or {}).get("allowed"))


def check_permissions(cluster: Cluster, spec: ProbeSpec) -> None:
    """Ask the API (SelfSubjectAccessReview) before creating anything, so a user who may not run a
    probe learns which permission is missing and nothing is left half-done."""
    if spec.mode == "ephemeral":
        needed = [("patch", "pods", "ephemeralcontainers"), ("get", "pods", "log")]
    else:
        needed = [("create", "pods", ""), ("get", "pods", "log"), ("delete", "pods", "")]
    for verb, resource, sub in needed:
        if _allowed(cluster, spec.namespace, verb, resource, sub) is False:
            name = f"{resource}/{sub}" if sub else resource
            raise CannotProbeError(
                f"missing permission: cannot {verb} {name} in namespace {spec.namespace} (a probe needs it)",
                hint=f"kubectl auth can-i {verb} {name} -n {spec.namespace}; ask for a Role granting it, "
                     "or use a context that has it")
