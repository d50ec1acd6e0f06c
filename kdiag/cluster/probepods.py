"""Probe pods as manifests: what the agent is told, where it runs, with which privilege, for how long.

A probe pod runs the agent (`kdiag.agent.agent_source()`) as `python3 -c <source> <spec json>` on
the source pod's node (spec.nodeName, so no scheduler is involved), with the least privilege its
engine needs:

- raw engine: capabilities drop ALL + add NET_RAW, uid 0 (file capabilities aside, a non-root
  process gets no effective capabilities from the container's set); only Pod Security `privileged`
  allows it (`baseline` forbids adding any capability beyond its short list, NET_RAW included);
- unprivileged engine: no capabilities, runAsNonRoot as uid/gid 65534, and the namespaced sysctl
  net.ipv4.ping_group_range opened so ping sockets work; Pod Security `restricted` allows it.

Both: no privilege escalation, seccomp RuntimeDefault, read-only root filesystem, no service
account token, requests/limits, restartPolicy Never, activeDeadlineSeconds as a server-side net.
`--mode ephemeral` adds the same container to the source pod as an ephemeral container instead.

This module only builds: `workload(spec)` is what kdiag.cluster.workloads launches, awaits and
deletes; `probe_result(...)` reads the agent's answer from the container's log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.agent import agent_source
from kdiag.cluster.workloads import Workload
from kdiag.defaults import PROBE_IMAGE
from kdiag.errors import CannotProbeError

DEFAULT_IMAGE = PROBE_IMAGE
IMAGE_ENV = "KDIAG_PROBE_IMAGE"
MANAGED_BY_LABEL, MANAGED_BY = "app.kubernetes.io/managed-by", "kdiag"
RUN_ID_LABEL = "kdiag.dev/run-id"
PROBE_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
CONTAINER = "probe"
NOBODY = 65534
PING_GROUP_RANGE = {"name": "net.ipv4.ping_group_range", "value": "0 2147483647"}
RESOURCES = {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}
# How far the server-side deadline outlasts kdiag's own timeout: the net for a kdiag killed with -9.
DEADLINE_MARGIN_SECONDS = 60


def new_run_id() -> str:
    # What secrets.token_hex(4) returns, without importing secrets (and hashlib, hmac) on every trace.
    return os.urandom(4).hex()


@dataclass(frozen=True)
class AgentSpec:
    """What the agent is told: its JSON argument (docs/agent.md)."""

    target: str  # IPv4 address the agent probes
    probes: tuple[str, ...]
    engine: str = "auto"  # auto | raw | unprivileged
    port: int | None = None
    count: int = 3
    timeout: float = 2.0  # per probe, in seconds
    waypoints: tuple[str, ...] = ()  # addresses on the expected path the waypoints probe pings
    # spec.dns / spec.targets of a trace through a Service (kdiag.model.service_trace.agent_extras)
    extras: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "probes": list(self.probes), "engine": self.engine,
                               "count": self.count, "timeout": self.timeout}
        if self.port is not None:
            out["port"] = self.port
        if self.waypoints and "waypoints" in self.probes:
            out["waypoints"] = list(self.waypoints)
        out.update(self.extras)
        return out


@dataclass(frozen=True)
class Placement:
    """Where the probe runs: a pod of its own on the source's node, or inside the source pod."""

    namespace: str  # the probe pod's namespace (ephemeral mode: the source pod's)
    node: str  # the source pod's node
    host_network: bool = False
    mode: str = "pod"  # "pod" | "ephemeral"
    source_pod: str = ""  # ephemeral mode: the pod that gets the container


@dataclass(frozen=True)
class Lifecycle:
    """How long the probe may take (start + probe + result) and the run id that names and labels it."""

    timeout: float = 60.0
    run_id: str = field(default_factory=new_run_id)


@dataclass(frozen=True)
class ProbeSpec:
    agent: AgentSpec
    placement: Placement
    privilege: str  # "raw" | "unprivileged": the container's capabilities and user
    image: str = DEFAULT_IMAGE
    lifecycle: Lifecycle = field(default_factory=Lifecycle)

    @property
    def name(self) -> str:
        """The probe pod's name (pod mode) or the ephemeral container's name."""
        return f"kdiag-probe-{self.lifecycle.run_id}"

    @property
    def ephemeral(self) -> bool:
        return self.placement.mode == "ephemeral"

    @property
    def container(self) -> str:
        return self.name if self.ephemeral else CONTAINER

    @property
    def pod(self) -> str:
        return self.placement.source_pod if self.ephemeral else self.name


# ---- what is sent ------------------------------------------------------------------------------


def container_security(privilege: str) -> dict[str, Any]:
    base: dict[str, Any] = {"privileged": False, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if privilege == "raw":
        return {**base, "runAsUser": 0, "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}}
    return {**base, "runAsNonRoot": True, "runAsUser": NOBODY, "runAsGroup": NOBODY,
            "capabilities": {"drop": ["ALL"]}}


def _container(spec: ProbeSpec) -> dict[str, Any]:
    return {
        "name": spec.container,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "-c", agent_source(), json.dumps(spec.agent.to_dict(), separators=(",", ":"))],
        "securityContext": container_security(spec.privilege),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def labels(run_id: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, RUN_ID_LABEL: run_id, "app.kubernetes.io/name": "kdiag-probe"}


def pod_manifest(spec: ProbeSpec) -> dict[str, Any]:
    place = spec.placement
    pod_security: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if spec.privilege == "unprivileged":
        pod_security.update(runAsNonRoot=True, runAsUser=NOBODY, runAsGroup=NOBODY)
        if not place.host_network:  # namespaced sysctls are refused in the host's namespace
            pod_security["sysctls"] = [PING_GROUP_RANGE]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": spec.name, "namespace": place.namespace, "labels": labels(spec.lifecycle.run_id),
                     "annotations": {"kdiag.dev/target": spec.agent.target}},
        "spec": {
            "nodeName": place.node,
            "hostNetwork": place.host_network,
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 0,
            "activeDeadlineSeconds": int(spec.lifecycle.timeout) + DEADLINE_MARGIN_SECONDS,
            "tolerations": [{"operator": "Exists"}],  # probe from the node whatever its taints
            "securityContext": pod_security,
            "containers": [{**_container(spec), "resources": RESOURCES}],
        },
    }


def ephemeral_container(spec: ProbeSpec) -> dict[str, Any]:
    """Ephemeral containers take no resources or ports; the same security context applies."""
    return _container(spec)


def workload(spec: ProbeSpec) -> Workload:
    """The probe as something kdiag.cluster.workloads can launch, await and delete."""
    place = spec.placement
    return Workload(
        namespace=place.namespace, pod=spec.pod, container=spec.container, node=place.node,
        image=spec.image, timeout=spec.lifecycle.timeout,
        manifest=ephemeral_container(spec) if spec.ephemeral else pod_manifest(spec),
        ephemeral=spec.ephemeral, noun="probe pod", resources=_resources_text(),
    )


def _resources_text() -> str:
    """RESOURCES as a user reads them: "requests cpu 50m, memory 32Mi; limits cpu 500m, memory 128Mi"."""
    return "; ".join(f"{kind} " + ", ".join(f"{name} {value}" for name, value in amounts.items())
                     for kind, amounts in RESOURCES.items())


# ---- what comes back ---------------------------------------------------------------------------


def last_document(log: str, kind: str) -> Mapping[str, Any] | None:
    """The last JSON line of `kind` in a container's log (stderr lines may surround it)."""
    for line in reversed(log.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("kind") == kind:
                return doc
    return None


def probe_result(log: str, *, where: str, exit_code: int | None) -> Mapping[str, Any]:
    """The agent's ProbeResult: the last JSON line of kind ProbeResult in the container's log."""
    doc = last_document(log, "ProbeResult")
    if doc is not None:
        return doc
    tail = " | ".join(log.strip().splitlines()[-3:]) or "no output"
    raise CannotProbeError(f"the probe agent in {where} returned no result (exit code {exit_code}): {tail}",
                           hint="does the image have python3 3.8+? try --image or KDIAG_PROBE_IMAGE")
