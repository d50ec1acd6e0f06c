"""Pod events as the kubelet records them (Pulled, Created, Started, Failed, BackOff, Killing).

Posted from a background thread so the pod start path never waits on the event API."""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from typing import Any

from kdiag_lab.api import Api, ApiError
from kdiag_lab.kubelet_runtime import now_rfc3339

log = logging.getLogger("kdiag_lab.kubelet")


class EventRecorder:
    def __init__(self, api: Api) -> None:
        self.api = api
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True, name="events")
        self._thread.start()

    def pod(
        self, pod: dict[str, Any], reason: str, message: str, *, warning: bool = False, container: str = ""
    ) -> None:
        meta = pod["metadata"]
        node = pod["spec"].get("nodeName", "")
        stamp = now_rfc3339()
        involved = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
        }
        if container:
            involved["fieldPath"] = f"spec.containers{{{container}}}"
        self._queue.put(
            {
                "metadata": {
                    "name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
                    "namespace": meta["namespace"],
                },
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "type": "Warning" if warning else "Normal",
                "source": {"component": "kubelet", "host": node},
                "reportingComponent": "kubelet",
                "reportingInstance": node,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            }
        )

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self.api.create(f"/api/v1/namespaces/{event['metadata']['namespace']}/events", event)
            except (ApiError, OSError) as exc:  # a lost event must never stop the kubelet
                log.debug("event not recorded: %s", exc)

    def flush(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
