"""API access: kubeconfig like kubectl, raw JSON requests, paging, and errors a user can act on.

The kubeconfig is read by `kdiag.cluster.kubeconfig` and requests go out through
`kdiag.cluster.transport` (http.client, TLS context built in memory by `kdiag.cluster.tls`): the
`kubernetes` package is imported only for exec plugins and auth-providers
(`kdiag.cluster.library_auth`), because importing it costs more than `kubectl get pods` takes.
Responses are read as raw JSON and handed to `kdiag.cluster.parse`; the client's model classes are
never built (they are several times slower on large lists).
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from kdiag import __version__
from kdiag.cluster import kubeconfig, paths
from kdiag.cluster.kubeconfig import NO_KUBECONFIG_HINT, Endpoint, kubeconfig_files
from kdiag.errors import CannotProbeError, ConfigError, KdiagError, NotFoundError, UsageError

if TYPE_CHECKING:  # http.client is imported with the first request, not for `kdiag --help`
    from kdiag.cluster.transport import Response, Transport

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
PAGE_SIZE = 500


@dataclass(frozen=True)
class ClusterOptions:
    """What the user chose on the command line, as kubectl's global flags."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    request_timeout: float | None = None
    # Where a pod's service-account token, CA and namespace are mounted (in-cluster config).
    service_account_dir: Path = SERVICE_ACCOUNT_DIR


class Cluster:
    """A connection to one cluster: the API client plus the namespace kubectl would use."""

    def __init__(self, options: ClusterOptions) -> None:
        self.options = options
        self._endpoint, self._library_config = _connect(options)
        self.context_namespace = self._endpoint.namespace
        self.server: str = self._endpoint.server
        self._transport = _transport_for(self._endpoint)

    @property
    def namespace(self) -> str:
        return self.options.namespace or self.context_namespace or "default"

    @property
    def scope(self) -> str | None:
        """The namespace a list covers; None for all namespaces (-A)."""
        return None if self.options.all_namespaces else self.namespace

    # -- raw requests ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        what: str = "",
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        """One API call; returns parsed JSON (or text for non-JSON bodies). `what` names the
        verb and resource for error messages, e.g. "list pods in namespace default"."""
        raw = self.request_raw(
            method, path, query=query, body=body, what=what, content_type=content_type, timeout=timeout
        )
        # Decoding a large list allocates millions of objects; the cyclic collector re-scanning
        # them meanwhile more than doubles the cost, and JSON cannot contain cycles anyway.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")
        finally:
            if collecting:
                gc.enable()

    def request_raw(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        what: str = "",
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> bytes:
        response = self._send(method, path, query=query, body=body, content_type=content_type,
                              timeout=timeout, what=what)
        try:
            data = response.read()
        except _transport_errors() as exc:
            self._transport.release(response, reuse=False)
            raise transport_error(exc, self._endpoint) from exc
        self._transport.release(response, reuse=True)
        return data

    def stream_lines(self, path: str, *, query: dict[str, str], what: str, timeout: float) -> Iterator[bytes]:
        """A streaming GET (watch, follow logs), yielding lines as they arrive; ends quietly when
        the server closes the stream or `timeout` passes without data."""
        response = self._send("GET", path, query=query, body=None, content_type="application/json",
                              timeout=timeout, what=what)
        try:
            buffer = b""
            for chunk in response.chunks(4096):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    yield line
            if buffer:
                yield buffer
        except _transport_errors() as exc:
            if _is_timeout(exc):
                return
            raise transport_error(exc, self._endpoint) from exc
        finally:
            self._transport.release(response, reuse=False)

    def _send(self, method: str, path: str, *, query: dict[str, str] | None, body: Any,
              content_type: str, timeout: float | None, what: str) -> Response:
        if query:
            path += "?" + urlencode(query)
        headers = {"Accept": "application/json", "User-Agent": f"kdiag/{__version__}"}
        headers.update(self._auth_headers())
        payload: bytes | None = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        timeout = timeout if timeout is not None else self.options.request_timeout
        try:
            response = self._transport.request(method, path, body=payload, headers=headers,
                                               connect_timeout=timeout or 10.0, read_timeout=timeout)
        except _transport_errors() as exc:
            raise transport_error(exc, self._endpoint) from exc
        if response.status >= 400:
            try:
                data = response.read()
            except _transport_errors():
                data = b""
            self._transport.release(response, reuse=True)
            raise api_error(response.status, data, what=what or f"{method} {path}")
        return response

    def _auth_headers(self) -> dict[str, str]:
        if self._library_config is not None:
            # Only for exec plugins and auth-providers: kdiag.cluster.library_auth imports tempfile,
            # shutil and, in turn, the kubernetes package.
            from kdiag.cluster.library_auth import library_auth_headers

            return library_auth_headers(self._library_config)
        endpoint = self._endpoint
        token = endpoint.token
        if not token and endpoint.token_file:
            # Re-read on every request, as client-go does: the file is rotated under a running pod.
            try:
                token = Path(endpoint.token_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read tokenFile {endpoint.token_file}: {exc.strerror}") from exc
        if token:
            return {"Authorization": f"Bearer {token}"}
        if endpoint.username or endpoint.password:
            import base64

            basic = base64.b64encode(f"{endpoint.username}:{endpoint.password}".encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        return {}

    def list_pages(self, path: str, *, query: dict[str, str] | None = None, what: str) -> Iterator[Any]:
        """Every item of a list, fetched `PAGE_SIZE` at a time with limit/continue like kubectl."""
        params = dict(query or {})
        params["limit"] = str(PAGE_SIZE)
        while True:
            page = self.request("GET", path, query=params, what=what)
            yield from page.get("items") or ()
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            params["continue"] = token

    def list_names(self, path: str) -> list[str]:
        """Names of any list (for shell completion), without the parser and model `kdiag pods` uses."""
        return [item["metadata"]["name"] for item in self.list_pages(path, what=f"list {path}")]

    def ensure_namespace(self, namespace: str) -> None:
        """kubectl reports an empty list for a missing namespace; kdiag says it does not exist.

        Users with only namespace-scoped roles may not read the Namespace object itself: a 403
        here says nothing about existence, so it passes (the caller's own request decides).
        """
        try:
            self.request("GET", paths.namespace(namespace), what=f"get namespace {namespace}")
        except NotFoundError:
            raise NotFoundError(
                f'namespace "{namespace}" not found', hint="list namespaces with `kubectl get ns`"
            ) from None
        except CannotProbeError as exc:
            if exc.status != 403:
                raise


def context_names(options: ClusterOptions) -> list[str]:
    """Context names of the kubeconfig, without contacting any server."""
    files = kubeconfig_files(options.kubeconfig)
    return kubeconfig.context_names(files) if files else []


def _transport_errors() -> tuple[type[Exception], ...]:
    from kdiag.cluster.transport import TRANSPORT_ERRORS

    return TRANSPORT_ERRORS


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError)  # socket.timeout is TimeoutError since Python 3.10


def _transport_for(endpoint: Endpoint) -> Transport:
    """The endpoint's connection pool, with its TLS context built in memory (kdiag.cluster.tls).
    kdiag sends its own requests rather than through the generated client, whose low-level call
    API changes between releases."""
    from kdiag.cluster.tls import context_for
    from kdiag.cluster.transport import Transport

    return Transport(endpoint.server, context=context_for(endpoint), server_name=endpoint.tls_server_name,
                     proxy_url=endpoint.proxy_url)


def _connect(options: ClusterOptions) -> tuple[Endpoint, Any]:
    """The endpoint of the chosen context (or of the pod's service account), plus the client
    library's Configuration when the credentials come from an exec plugin or auth-provider."""
    files = kubeconfig_files(options.kubeconfig)
    if not files:
        account = options.service_account_dir
        if (account / "token").exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return in_cluster_endpoint(account), None
        raise ConfigError(
            "no kubeconfig found (looked at --kubeconfig, $KUBECONFIG and ~/.kube/config)",
            hint=NO_KUBECONFIG_HINT,
        )
    endpoint = kubeconfig.resolve(files, options.context)
    if not endpoint.delegate:
        return endpoint, None
    from kdiag.cluster.library_auth import library_endpoint

    return library_endpoint(files, options.context, endpoint)


def in_cluster_endpoint(account: Path) -> Endpoint:
    """Running in a pod without a kubeconfig: the service account, as kubectl does."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST", ""), os.environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise ConfigError("in-cluster configuration is incomplete: KUBERNETES_SERVICE_HOST and "
                          "KUBERNETES_SERVICE_PORT must both be set")
    ca_file = account / "ca.crt"
    if not ca_file.exists():
        raise ConfigError(f"in-cluster configuration is incomplete: {ca_file} does not exist")
    namespace_file = account / "namespace"
    return Endpoint(
        server=f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}",
        namespace=namespace_file.read_text().strip() if namespace_file.exists() else "",
        ca_data=ca_file.read_bytes(),
        token_file=str(account / "token"),
    )


def api_error(status: int, body: Any, *, what: str) -> KdiagError:
    """Map an API error status to kdiag's error classes, keeping the server's own message."""
    message = ""
    try:
        message = json.loads(body).get("message", "") if body else ""
    except (ValueError, AttributeError):
        # Not a Status object (a proxy, or an HTTPS server asked in plain HTTP): its text, in one line.
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        message = " ".join(text.split())[:200]
        if status == 400:  # not the API refusing the request: something else answered
            hint = "the server speaks HTTPS: use https:// in the kubeconfig" if "HTTPS" in message else ""
            return CannotProbeError(f"the server answered 400 to {what}: {message}", hint=hint, status=status)
    error = _api_error(status, message, what)
    error.status = status
    return error


def _api_error(status: int, message: str, what: str) -> KdiagError:
    if status == 401:
        return CannotProbeError(
            f"unauthorized (401) to {what}: the server rejected the credentials",
            hint="check the token or certificate of this kubeconfig context",
        )
    if status == 403:
        return CannotProbeError(
            f"forbidden (403): cannot {what}" + (f": {message}" if message else ""),
            hint="ask for RBAC permission for this verb and resource",
        )
    if status == 404:
        return NotFoundError(message or f"not found: {what}")
    if status in (400, 422):
        return UsageError(f"invalid request to {what}: {message}")
    return CannotProbeError(f"API error {status} to {what}: {message}")


def transport_error(exc: Exception, endpoint: Endpoint) -> Exception:
    text, server = str(exc), endpoint.server
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text or "ssl" in type(exc).__name__.lower():
        return _tls_error(text, endpoint)
    if _is_timeout(exc) or "timed out" in text.lower():
        return CannotProbeError(f"the API server {server} did not answer in time", hint="--request-timeout")
    return CannotProbeError(
        f"cannot reach the API server {server}", hint="is the cluster up and the kubeconfig current?"
    )


def _tls_error(text: str, endpoint: Endpoint) -> CannotProbeError:
    """kubectl's x509 wording for what went wrong, and a hint about what the kubeconfig says."""
    server = endpoint.server
    lowered = text.lower()
    if "hostname mismatch" in lowered or "ip address mismatch" in lowered:
        return CannotProbeError(
            f"TLS handshake with the API server {server} failed: x509: certificate is not valid for "
            "this server's name", hint="set tls-server-name in the kubeconfig, or use the certificate's name")
    if "certificate verify failed" in lowered or "certificate_verify_failed" in lowered:
        if endpoint.ca_data:
            hint = "the server certificate is not signed by the kubeconfig's certificate-authority"
        else:
            hint = ("the kubeconfig gives no certificate-authority for this cluster and the system roots "
                    "do not trust it: add certificate-authority-data")
        return CannotProbeError(
            f"TLS handshake with the API server {server} failed: x509: certificate signed by unknown "
            "authority", hint=hint)
    return CannotProbeError(f"TLS handshake with the API server {server} failed",
                            hint="does the server speak HTTPS on that port?")
