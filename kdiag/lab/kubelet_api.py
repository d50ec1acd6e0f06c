"""A small, thread-safe Kubernetes API client for the lab kubelet and seeder (plain HTTPS + JSON).

Why not the `kubernetes` package: the kubelet needs only a dozen calls plus watches, wants raw JSON
(no model classes), and must stream watch events line by line with its own reconnects. `http.client`
does all of that with one TLS context, and keeps the daemon's start-up fast.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from kdiag.lab.paths import LabPaths

Json = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


class ApiError(Exception):
    def __init__(self, status: int, body: Any, what: str) -> None:
        self.status = status
        self.body = body
        message = body.get("message") if isinstance(body, dict) else str(body)[:200]
        super().__init__(f"{what}: HTTP {status}: {message}")


@dataclass(frozen=True)
class ApiConfig:
    host: str
    port: int
    token: str
    ca_file: str


def config_from_lab(paths: LabPaths) -> ApiConfig:
    """Server from the lab kubeconfig's admin context, token from the admin token file."""
    kubeconfig = yaml.safe_load(paths.kubeconfig.read_text())
    server = kubeconfig["clusters"][0]["cluster"]["server"]
    url = urllib.parse.urlsplit(server)
    return ApiConfig(
        host=url.hostname or "127.0.0.1",
        port=url.port or 443,
        token=paths.admin_token_file.read_text().strip(),
        ca_file=str(paths.ca_cert),
    )


class Api:
    def __init__(self, config: ApiConfig, timeout: float = 30.0) -> None:
        self.config = config
        self.timeout = timeout
        self._tls = ssl.create_default_context(cafile=config.ca_file)
        self._local = threading.local()  # one keep-alive connection per thread

    def _connection(self, timeout: float | None) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self.config.host, self.config.port, context=self._tls, timeout=timeout
        )

    def _headers(self, content_type: str = "application/json") -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.config.token}",
            "Accept": "application/json",
            "Content-Type": content_type,
            "User-Agent": "kdiag-lab-kubelet",
        }

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
    ) -> Json:
        if query:
            path += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._connection(self.timeout)
            try:
                conn.request(method, path, body=data, headers=self._headers(content_type))
                response = conn.getresponse()
                raw = response.read()
            except (http.client.HTTPException, OSError):
                # A kept-alive connection the server closed: reconnect once, then give up.
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
                continue
            parsed: Any = json.loads(raw) if raw else {}
            if response.status >= 400:
                raise ApiError(response.status, parsed, f"{method} {path}")
            result: Json = parsed
            return result
        raise AssertionError("unreachable")

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

        Raises ApiError(410) when `resource_version` is too old: the caller re-lists.
        """
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
            **query,
        }
        conn = self._connection(timeout_seconds + 30)
        try:
            conn.request("GET", f"{path}?{urllib.parse.urlencode(params)}", headers=self._headers())
            response = conn.getresponse()
            if response.status >= 400:
                raise ApiError(response.status, json.loads(response.read() or b"{}"), f"watch {path}")
            while True:
                line = response.readline()
                if not line:
                    return
                event: Json = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object", {})
                    raise ApiError(int(status.get("code", 500)), status, f"watch {path}")
                yield event
        finally:
            conn.close()
