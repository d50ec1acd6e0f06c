"""The kubelet API on 127.0.0.1 (HTTPS): `/containerLogs/{ns}/{pod}/{container}` for `kubectl logs`.

The apiserver dials it with its kubelet client certificate; only clients with a certificate signed by
the lab CA are accepted. exec/attach/port-forward are answered with 501: use `kdiag lab exec`.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kdiag_lab.kubelet_runtime import ContainerLog, follow, format_lines, peer_closed
from kdiag_lab.kubelet_status import ContainerRecord

log = logging.getLogger("kdiag_lab.kubelet")
# (namespace, pod, container) -> the container's record, or None when the pod is unknown here.
Lookup = Callable[[str, str, str], "tuple[bool, ContainerRecord | None]"]


class LogRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def select_log(
    found: tuple[bool, ContainerRecord | None], pod: str, container: str, previous: bool
) -> ContainerLog:
    known_pod, rec = found
    if not known_pod:
        raise LogRequestError(404, f'pod "{pod}" not found on this node')
    if rec is None:
        raise LogRequestError(400, f'container "{container}" in pod "{pod}" is not valid')
    chosen = rec.previous_log if previous else rec.log
    if chosen is None:
        if previous:
            raise LogRequestError(
                400, f'previous terminated container "{container}" in pod "{pod}" not found'
            )
        raise LogRequestError(
            400, f'container "{container}" in pod "{pod}" is waiting to start: {rec.reason}'
        )
    return chosen


def _since(query: dict[str, str]) -> str:
    if "sinceTime" in query:
        return query["sinceTime"].replace("+00:00", "Z")
    if "sinceSeconds" in query:
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=int(query["sinceSeconds"]))
        return cutoff.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return ""


class Handler(BaseHTTPRequestHandler):
    server: KubeletServer
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: simplest for follow

    def setup(self) -> None:
        super().setup()
        conn: Any = self.connection
        try:
            conn.do_handshake()  # here, in the request thread, not in the accept loop
        except (ssl.SSLError, OSError):
            self.close_connection = True
            raise

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kubelet api: " + format, *args)

    def _text(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
        if parts == ["healthz"]:
            return self._text(200, "ok")
        if len(parts) == 4 and parts[0] == "containerLogs":
            return self._logs(parts[1], parts[2], parts[3], dict(urllib.parse.parse_qsl(url.query)))
        if parts and parts[0] in ("exec", "attach", "portForward", "run"):
            return self._text(
                501, f"{parts[0]} is not supported by the kdiag lab kubelet; use `kdiag lab exec`"
            )
        return self._text(404, "not found")

    do_POST = do_GET

    def _logs(self, namespace: str, pod: str, container: str, query: dict[str, str]) -> None:
        truthy = ("true", "1")
        try:
            clog = select_log(
                self.server.lookup(namespace, pod, container),
                pod,
                container,
                query.get("previous", "") in truthy,
            )
        except LogRequestError as exc:
            return self._text(exc.status, str(exc))
        timestamps = query.get("timestamps", "") in truthy
        since = _since(query)
        raw = Path(clog.path).read_text()
        raw = raw[: raw.rfind("\n") + 1]  # whole lines only: a line being written comes with follow
        offset = len(raw.encode())
        lines = raw.splitlines(keepends=True)
        if since:
            lines = [line for line in lines if line.split(" ", 1)[0] >= since]
        if "tailLines" in query:
            tail = int(query["tailLines"])
            lines = lines[-tail:] if tail > 0 else []
        limit = int(query["limitBytes"]) if "limitBytes" in query else None
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        sent = 0

        def write(text: str) -> bool:
            nonlocal sent
            data = text.encode()
            if limit is not None:
                data = data[: max(limit - sent, 0)]
            self.wfile.write(data)
            self.wfile.flush()
            sent += len(data)
            return limit is None or sent < limit

        try:
            if not write("".join(format_lines("".join(lines), timestamps))):
                return None
            if query.get("follow", "") in truthy:
                sock: socket.socket = self.connection
                for chunk in follow(clog, offset, lambda: not peer_closed(sock)):
                    if not write("".join(format_lines(chunk, timestamps))):
                        return None
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client went away (kubectl logs -f interrupted)
        return None


class KubeletServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, cert: Path, key: Path, client_ca: Path, lookup: Lookup) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.lookup = lookup
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        context.load_verify_locations(cafile=str(client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def serve_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True, name="kubelet-api")
        thread.start()
        return thread
