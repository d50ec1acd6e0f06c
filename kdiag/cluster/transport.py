"""HTTP(S) to the API server on the standard library: a small thread-safe keep-alive pool.

kdiag sends a handful of plain requests per command (and streams watches and logs); importing
urllib3 for that costs more than half of `kubectl get pods` in all, http.client much less. The pool
keeps idle connections for reuse; a reused connection the server has closed meanwhile is retried
once on a fresh one, before any byte of the answer was read (so nothing is sent twice that the
server has seen answered).
"""

from __future__ import annotations

import http.client
import queue
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from kdiag.errors import ConfigError

IDLE_CONNECTIONS = 16
# What a request can raise short of an answer: socket and TLS errors, broken HTTP.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (OSError, http.client.HTTPException)
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, http.client.BadStatusLine)


class _TLSConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose certificate is checked against `server_name` (tls-server-name)."""

    def __init__(self, host: str, port: int | None, *, context: ssl.SSLContext, server_name: str,
                 timeout: float | None) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._tls_context = context
        self._server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP (and a proxy's CONNECT tunnel)
        hostname = self._server_name or getattr(self, "_tunnel_host", None) or self.host
        self.sock = self._tls_context.wrap_socket(self.sock, server_hostname=hostname)


@dataclass
class Response:
    status: int
    connection: http.client.HTTPConnection
    raw: http.client.HTTPResponse

    def read(self) -> bytes:
        return self.raw.read()

    def chunks(self, size: int) -> Iterator[bytes]:
        while True:
            chunk = self.raw.read1(size)
            if not chunk:
                return
            yield chunk


class Transport:
    def __init__(self, server: str, *, context: ssl.SSLContext, server_name: str = "",
                 proxy_url: str = "") -> None:
        parts = urlsplit(server)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(f"invalid server URL {server!r} in the kubeconfig", hint="use https://HOST:PORT")
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.context, self.server_name = context, server_name
        self.proxy = urlsplit(proxy_url) if proxy_url else None
        if self.proxy is not None and (self.proxy.scheme != "http" or not self.proxy.hostname):
            raise ConfigError(f"proxy-url {proxy_url!r} is not supported",
                              hint="kdiag speaks http:// proxies")
        self._idle: queue.LifoQueue[http.client.HTTPConnection] = queue.LifoQueue(IDLE_CONNECTIONS)

    def _new(self, timeout: float | None) -> http.client.HTTPConnection:
        host, port = self.host, self.port
        if self.proxy is not None:
            host, port = str(self.proxy.hostname), self.proxy.port or 80
        connection: http.client.HTTPConnection
        if self.https:
            connection = _TLSConnection(host, port, context=self.context, server_name=self.server_name,
                                        timeout=timeout)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        if self.proxy is not None:
            connection.set_tunnel(self.host, self.port)
        return connection

    def request(self, method: str, path: str, *, body: bytes | None, headers: dict[str, str],
                connect_timeout: float, read_timeout: float | None) -> Response:
        """Send one request and read the status line and headers; the body is the caller's to read."""
        for attempt in (1, 2):
            reused = True
            try:
                connection = self._idle.get_nowait() if attempt == 1 else None
            except queue.Empty:
                connection = None
            if connection is None:
                reused, connection = False, self._new(connect_timeout)
            try:
                if connection.sock is None:
                    connection.connect()
                connection.sock.settimeout(read_timeout)
                connection.request(method, self.prefix + path, body=body, headers=headers)
                raw = connection.getresponse()
            except _STALE:
                connection.close()
                if reused and attempt == 1:
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            return Response(raw.status, connection, raw)
        raise AssertionError("unreachable")

    def release(self, response: Response, *, reuse: bool) -> None:
        """Back to the pool when the answer was read to its end and the server keeps the connection."""
        if reuse and not response.raw.will_close and response.raw.isclosed():
            try:
                self._idle.put_nowait(response.connection)
                return
            except queue.Full:
                pass
        response.connection.close()
