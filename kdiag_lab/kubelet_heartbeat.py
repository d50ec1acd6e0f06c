"""Node heartbeats, as a kubelet sends them: a Lease per node in kube-node-lease renewed every
10 s, and the node's conditions re-posted every minute.

The controller-manager's node-lifecycle controller marks a node Unknown, taints it and evicts its
pods when neither moves for --node-monitor-grace-period (50 s); these keep lab nodes healthy.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Any

from kdiag_lab.api import Api, ApiError
from kdiag_lab.kubelet_runtime import now_rfc3339
from kdiag_lab.topology import LabNetwork

log = logging.getLogger("kdiag_lab.kubelet")
Json = dict[str, Any]
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION = 40  # the kubelet's default nodeLeaseDurationSeconds
RENEW_EVERY = LEASE_DURATION / 4  # as the kubelet renews: a quarter of the duration
STATUS_EVERY = 60.0  # nodeStatusReportFrequency is 5 min upstream; 1 min keeps `describe` fresh
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
CONDITIONS = ("NetworkUnavailable", "MemoryPressure", "DiskPressure", "PIDPressure", "Ready")


def _micro_time() -> str:
    """metav1.MicroTime: RFC 3339 with microseconds."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Heartbeat:
    def __init__(self, api: Api, net: LabNetwork, stopping: threading.Event) -> None:
        self.api = api
        self.nodes = [n.name for n in net.nodes]
        self.stopping = stopping

    def _lease(self, node: str) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"
        try:
            self.api.patch(f"{path}/{node}", {"spec": {"renewTime": _micro_time()}})
            return
        except ApiError as exc:
            if exc.status != 404:
                raise
        uid = self.api.get(f"/api/v1/nodes/{node}")["metadata"]["uid"]
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": node,
                # Owned by its Node, as the kubelet makes it: deleting the Node collects the Lease.
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": uid}],
            },
            "spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_DURATION,
                     "renewTime": _micro_time()},
        }
        self.api.ensure(path, lease)

    def _status(self, node: str) -> None:
        """Move each condition's lastHeartbeatTime; a strategic merge keys conditions by type, so
        status, reason and lastTransitionTime stay as registered."""
        now = now_rfc3339()
        patch = {"status": {"conditions": [{"type": c, "lastHeartbeatTime": now} for c in CONDITIONS]}}
        self.api.patch(f"/api/v1/nodes/{node}/status", patch, content_type=STRATEGIC_MERGE)

    def beat(self, *, status: bool) -> None:
        for node in self.nodes:
            try:
                self._lease(node)
                if status:
                    self._status(node)
            except (ApiError, OSError, KeyError) as exc:  # the next beat retries
                log.warning("heartbeat for node %s: %s", node, exc)

    def run(self) -> None:
        since_status = STATUS_EVERY  # post the status on the first beat
        while not self.stopping.is_set():
            post = since_status >= STATUS_EVERY
            self.beat(status=post)
            since_status = RENEW_EVERY if post else since_status + RENEW_EVERY
            self.stopping.wait(RENEW_EVERY)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True, name="heartbeat")
        thread.start()
        return thread
