"""Node observer pods as manifests, and the three things a trace does with a running one: wait until it
captures, tell it to stop, read its ObserverResult.

An observer pod runs `kdiag.observer.observer_source()` as `python3 -c <source> <spec json>` in the
node's network namespace (hostNetwork, spec.nodeName) with exactly what docs/observer.md measured it
needs: uid 0 (the legacy iptables table list is root-only), capabilities drop ALL + add NET_RAW
(packet sockets) and NET_ADMIN (nfnetlink reads of the nftables / iptables-nft counters); not
privileged, no hostPID, no privilege escalation, read-only root filesystem, no service account token.
Pod Security must be `privileged` in its namespace: `baseline` forbids hostNetwork and both capabilities.

Stopping: the observer captures until SIGTERM. kdiag lowers the pod's `activeDeadlineSeconds` (a
field the API lets a client lower on a running pod); the kubelet then stops the container with
SIGTERM within terminationGracePeriodSeconds, the observer prints its result, and the log stays
readable until kdiag deletes the pod (`workloads.launched` deletes it as it deletes probe pods).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kdiag.cluster import paths, probepods
from kdiag.cluster.client import Cluster
from kdiag.cluster.probewatch import assess
from kdiag.cluster.workloads import PodSecurityRejected, Workload
from kdiag.errors import CannotProbeError, KdiagError
from kdiag.observer import observer_source

READY = "kdiag-observer: capturing"  # kdiag/observer/observer.py prints it once every socket is open
CONTAINER = "observer"
DEFAULT_NAMESPACE = "kube-system"
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
RESOURCES = {"requests": {"cpu": "50m", "memory": "48Mi"}, "limits": {"cpu": "500m", "memory": "192Mi"}}
GRACE_SECONDS = 10  # after SIGTERM: counters, node state and the result take well under a second
MAX_WINDOW = 60.0  # the observer's own ceiling (kdiag/observer/spec.py)
_LEVEL = re.compile(r'violates PodSecurity "([a-z]+)')


@dataclass(frozen=True)
class ObserverSpec:
    """One observer: on which node, for which flow, and its JSON argument (docs/observer.md "Spec")."""

    node: str
    namespace: str
    run_id: str
    image: str
    timeout: float  # created -> result read
    argument: Mapping[str, Any]  # the observer's spec

    @property
    def name(self) -> str:
        return f"kdiag-observer-{self.run_id}-{_dns_label(self.node)}"[:63].rstrip("-")


def _dns_label(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-") or "node"


def observer_argument(*, node: str, flow: Mapping[str, Any], interfaces: Sequence[Mapping[str, str]],
                      encapsulations: Sequence[Mapping[str, Any]], peers: Sequence[str],
                      window: float) -> dict[str, Any]:
    """The observer's spec: capture on `any` interface (the CNI's veth names are not in the API),
    describe the named bridge/tunnel devices, snapshot routes to the peers."""
    return {"flow": dict(flow), "interfaces": [{"name": "any", "role": "other"}, *map(dict, interfaces)],
            "encapsulations": [dict(e) for e in encapsulations], "peers": list(peers),
            "window": min(max(window, 1.0), MAX_WINDOW), "node": node, "maxPackets": 400}


def pod_manifest(spec: ObserverSpec) -> dict[str, Any]:
    labels = {**probepods.labels(spec.run_id), "app.kubernetes.io/name": "kdiag-observer"}
    security = {"privileged": False, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                "runAsUser": 0, "capabilities": {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels},
        "spec": {
            "nodeName": spec.node,
            "hostNetwork": True,
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": GRACE_SECONDS,
            "activeDeadlineSeconds": int(spec.timeout) + probepods.DEADLINE_MARGIN_SECONDS,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": CONTAINER, "image": spec.image, "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "-I", "-c", observer_source(),
                            json.dumps(spec.argument, separators=(",", ":"))],
                "securityContext": security, "resources": RESOURCES,
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }],
        },
    }


def workload(spec: ObserverSpec) -> Workload:
    return Workload(namespace=spec.namespace, pod=spec.name, container=CONTAINER, node=spec.node,
                    image=spec.image, timeout=spec.timeout, manifest=pod_manifest(spec), noun="observer pod",
                    resources="; ".join(f"{kind} " + ", ".join(f"{k} {v}" for k, v in amounts.items())
                                        for kind, amounts in RESOURCES.items()))


def refused(exc: PodSecurityRejected, namespace: str) -> CannotProbeError:
    """Pod Security refused an observer: one line naming the namespace's label and what it must say."""
    found = _LEVEL.search(exc.message)
    level = found.group(1) if found else "a level below privileged"
    return CannotProbeError(
        f"Pod Security in namespace {namespace} ({ENFORCE_LABEL}={level}) refuses observer pods: they "
        "need hostNetwork and NET_RAW + NET_ADMIN, which only `privileged` admits",
        hint=f"kubectl label namespace {namespace} {ENFORCE_LABEL}=privileged --overwrite, or "
             "--observer-namespace NS for a namespace that admits privileged pods")


def wait_capturing(cluster: Cluster, work: Workload, *, deadline: float) -> None:
    """Until the observer says it captures (every socket open): only then may the probe start."""
    pause = 0.02
    while True:
        try:
            raw = cluster.request_raw("GET", paths.pod(work.namespace, work.pod, "log"),
                                      query={"container": work.container},
                                      what=f"get pods/log in namespace {work.namespace}")
            log = raw.decode("utf-8", "replace")
        except KdiagError as exc:
            if exc.status is None or exc.status >= 500:
                raise
            log = ""  # 400 while the container is still being created
        if READY in log:
            return
        pod = cluster.request("GET", paths.pod(work.namespace, work.pod),
                              what=f"get pods in namespace {work.namespace}")
        state = assess(pod, work)
        if state.phase in ("stuck", "done"):
            tail = " | ".join(log.strip().splitlines()[-2:])
            raise CannotProbeError(f"{work.what} on {work.node} ended before capturing: {state.detail}"
                                   + (f": {tail}" if tail else ""),
                                   hint=f"kubectl describe pod -n {work.namespace} {work.pod}")
        if time.monotonic() >= deadline:
            raise CannotProbeError(f"{work.what} on {work.node} did not start capturing in time "
                                   f"(last state: {state.detail})", hint="raise --timeout")
        time.sleep(pause)  # the log has no "changed" watch; the pod's state is checked with it
        pause = min(pause * 2, 0.2)


def stop(cluster: Cluster, work: Workload) -> None:
    """End the observer's window: the kubelet SIGTERMs it once activeDeadlineSeconds has passed."""
    cluster.request("PATCH", paths.pod(work.namespace, work.pod), body={"spec": {"activeDeadlineSeconds": 1}},
                    content_type="application/strategic-merge-patch+json",
                    what=f"patch pods in namespace {work.namespace}")


def observer_result(log: str, *, where: str, exit_code: int | None) -> Mapping[str, Any]:
    """The ObserverResult: the JSON line of that kind in the container's log (stderr lines around it)."""
    doc = probepods.last_document(log, "ObserverResult")
    if doc is not None:
        return doc
    tail = " | ".join(log.strip().splitlines()[-3:]) or "no output"
    raise CannotProbeError(f"the observer in {where} returned no result (exit code {exit_code}): {tail}",
                           hint="does the image have python3 3.8+, ip and nft? try --image")
