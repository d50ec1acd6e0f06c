"""The lab daemons' view of the API (kubelet, seeder, controllers): verbs and watches over Cluster.

Requests go through `kdiag.cluster.client.Cluster` (thread-safe: one urllib3 pool), as the lab
admin; this module only adds the verbs the daemons use and decodes watch streams into events.
Errors are kdiag's own (`ApiError` is `KdiagError`): `.status` holds the HTTP status when the
server answered and is None when it could not be reached.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from kdiag.cluster.client import Cluster, ClusterOptions
from kdiag.errors import KdiagError
from kdiag_lab.paths import LabPaths

Json = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
ApiError = KdiagError


def config_from_lab(paths: LabPaths) -> ClusterOptions:
    """The lab kubeconfig's admin context."""
    return ClusterOptions(kubeconfig=str(paths.kubeconfig), context="kdiag-lab")


class Api:
    def __init__(self, options: ClusterOptions, timeout: float = 30.0) -> None:
        self.cluster = Cluster(options)
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
    ) -> Json:
        result: Json = self.cluster.request(
            method, path, query=query, body=body, content_type=content_type,
            what=f"{method} {path}", timeout=self.timeout,
        ) or {}
        return result

    def get(self, path: str, **query: str) -> Json:
        return self.request("GET", path, query=query or None)

    def create(self, path: str, body: Json) -> Json:
        return self.request("POST", path, body)

    def patch(self, path: str, body: Json, content_type: str = MERGE_PATCH) -> Json:
        return self.request("PATCH", path, body, content_type=content_type)

    def delete(self, path: str, body: Json | None = None) -> Json:
        return self.request("DELETE", path, body)

    def ensure(self, path: str, body: Json) -> Json:
        """Create, or leave as is when it exists already (409)."""
        try:
            return self.create(path, body)
        except ApiError as exc:
            if exc.status != 409:
                raise
            return self.get(f"{path}/{body['metadata']['name']}")

    def watch(
        self, path: str, resource_version: str, timeout_seconds: int = 300, **query: str
    ) -> Iterator[Json]:
        """Stream watch events (dicts with `type` and `object`) until the server ends the watch.

        Raises ApiError with status 410 when `resource_version` is too old: the caller re-lists.
        """
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
            **query,
        }
        for line in self.cluster.stream_lines(path, query=params, what=f"watch {path}",
                                              timeout=timeout_seconds + 30):
            if not line.strip():
                continue
            event: Json = json.loads(line)
            if event.get("type") == "ERROR":
                status = event.get("object", {})
                raise ApiError(f"watch {path}: {status.get('message', '')}",
                               status=int(status.get("code", 500)))
            yield event
