"""API access: kubeconfig like kubectl, raw JSON requests, paging, and errors a user can act on.

`kubernetes` is imported lazily (inside functions) so that `kdiag --help` stays fast. Responses are
read as raw JSON and handed to `kdiag.cluster.parse`; the client's model classes are never built
(they are several times slower on large lists).
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from kdiag import __version__
from kdiag.cluster import paths
from kdiag.errors import CannotProbeError, ConfigError, KdiagError, NotFoundError, UsageError

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


def kubeconfig_files(explicit: str | None) -> list[str]:
    """--kubeconfig, else $KUBECONFIG (colon-separated), else ~/.kube/config; existing files only."""
    if explicit:
        if not Path(explicit).is_file():
            raise ConfigError(f"kubeconfig file {explicit} does not exist", hint="check --kubeconfig")
        return [explicit]
    env = os.environ.get("KUBECONFIG", "")
    candidates = [p for p in env.split(os.pathsep) if p] if env else [str(Path.home() / ".kube" / "config")]
    return [p for p in candidates if Path(p).is_file()]


class Cluster:
    """A connection to one cluster: the API client plus the namespace kubectl would use."""

    def __init__(self, options: ClusterOptions) -> None:
        self.options = options
        self._configuration, self.context_namespace = _connect(options)
        self.server: str = self._configuration.host
        self._pool = _pool_for(self._configuration)

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
                              timeout=timeout, stream=False, what=what)
        data: bytes = response.data
        return data

    def stream_lines(self, path: str, *, query: dict[str, str], what: str, timeout: float) -> Iterator[bytes]:
        """A streaming GET (watch, follow logs), yielding lines as they arrive; ends quietly when
        the server closes the stream or `timeout` passes without data."""
        response = self._send("GET", path, query=query, body=None, content_type="application/json",
                              timeout=timeout, stream=True, what=what)
        try:
            buffer = b""
            for chunk in response.stream(4096, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    yield line
            if buffer:
                yield buffer
        except Exception as exc:
            if "timed out" in str(exc).lower():
                return
            raise transport_error(exc, self.server) from exc
        finally:
            response.release_conn()

    def _send(self, method: str, path: str, *, query: dict[str, str] | None, body: Any,
              content_type: str, timeout: float | None, stream: bool, what: str) -> Any:
        import urllib3

        url = self.server.rstrip("/") + path
        if query:
            url += "?" + urlencode(query)
        headers = {"Accept": "application/json", "User-Agent": f"kdiag/{__version__}"}
        headers.update(self._auth_headers())
        payload: bytes | None = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        timeout = timeout if timeout is not None else self.options.request_timeout
        try:
            response = self._pool.request(
                method, url, body=payload, headers=headers, preload_content=not stream,
                timeout=urllib3.Timeout(connect=timeout or 10.0, read=timeout),
                retries=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise transport_error(exc, self.server) from exc
        if response.status >= 400:
            data = response.data if not stream else response.read()
            raise api_error(response.status, data, what=what or f"{method} {path}")
        return response

    def _auth_headers(self) -> dict[str, str]:
        # auth_settings() runs the kubeconfig's refresh hook (exec plugins, OIDC) and names the
        # header; its key name for the token changed between client releases, its shape did not.
        headers = {}
        for setting in self._configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"].title()] = setting["value"]
        return headers

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
    from kubernetes import config

    files = kubeconfig_files(options.kubeconfig)
    if not files:
        return []
    contexts, _current = config.list_kube_config_contexts(config_file=os.pathsep.join(files))
    return [c["name"] for c in contexts]


def _exec_plugin(files: list[str], user: str) -> str:
    """The exec credential command of `user`, from the first kubeconfig defining the user."""
    import yaml

    for path in files:
        document = yaml.safe_load(Path(path).read_text()) or {}
        for entry in document.get("users") or []:
            if isinstance(entry, dict) and entry.get("name") == user:
                exec_config = (entry.get("user") or {}).get("exec") or {}
                return str(exec_config.get("command", ""))
    return ""


def _check_kubeconfig(path: str) -> None:
    """A file that is not a YAML mapping would otherwise surface as a parser traceback."""
    import yaml

    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"kubeconfig {path} is not valid YAML: {first}",
                          hint="fix or remove it (check --kubeconfig and $KUBECONFIG)") from exc
    if document is not None and not isinstance(document, dict):
        raise ConfigError(f"kubeconfig {path} is not a kubeconfig (expected a YAML mapping)",
                          hint="check --kubeconfig and $KUBECONFIG")


def _pool_for(configuration: Any) -> Any:
    """An urllib3 pool with the kubeconfig's TLS settings. kdiag sends its own requests rather
    than through the generated client, whose low-level call API changes between releases."""
    import urllib3

    tls: dict[str, Any] = {}
    if configuration.verify_ssl:
        tls["cert_reqs"] = "CERT_REQUIRED"
        if configuration.ssl_ca_cert:
            tls["ca_certs"] = configuration.ssl_ca_cert
        if getattr(configuration, "tls_server_name", None):
            tls["server_hostname"] = configuration.tls_server_name
    else:
        tls["cert_reqs"] = "CERT_NONE"
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    if configuration.cert_file:
        tls["cert_file"] = configuration.cert_file
        tls["key_file"] = configuration.key_file
    if configuration.proxy:
        return urllib3.ProxyManager(configuration.proxy, maxsize=16, **tls)
    return urllib3.PoolManager(maxsize=16, **tls)


def _connect(options: ClusterOptions) -> tuple[Any, str]:
    """Load kubeconfig (or in-cluster config) into a client Configuration; returns it and the
    context's namespace."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    files = kubeconfig_files(options.kubeconfig)
    configuration = client.Configuration()
    namespace = ""
    if not files:
        account = options.service_account_dir
        if (account / "token").exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
            # Running in a pod without a kubeconfig: the service account, as kubectl does.
            from kubernetes.config.incluster_config import InClusterConfigLoader

            loader = InClusterConfigLoader(str(account / "token"), str(account / "ca.crt"))
            try:
                loader.load_and_set(configuration)
            except ConfigException as exc:
                raise ConfigError(f"in-cluster configuration is incomplete: {exc}") from exc
            ns_file = account / "namespace"
            namespace = ns_file.read_text().strip() if ns_file.exists() else ""
        else:
            raise ConfigError(
                "no kubeconfig found (looked at --kubeconfig, $KUBECONFIG and ~/.kube/config)",
                hint="point --kubeconfig or KUBECONFIG at one; for the practice lab run `kdiag lab up`",
            )
    else:
        for path in files:
            _check_kubeconfig(path)
        config_file = os.pathsep.join(files)
        try:
            contexts, current = config.list_kube_config_contexts(config_file=config_file)
        except (ConfigException, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"invalid kubeconfig {config_file}: {exc}") from exc
        names = [c["name"] for c in contexts]
        chosen = options.context or (current or {}).get("name")
        if options.context and options.context not in names:
            raise ConfigError(
                f'context "{options.context}" not found in kubeconfig',
                hint=f"known contexts: {', '.join(names) or 'none'}",
            )
        if not chosen:
            raise ConfigError("kubeconfig has no current context", hint="pass --context")
        user = ""
        for ctx in contexts:
            if ctx["name"] == chosen:
                namespace = (ctx.get("context") or {}).get("namespace") or ""
                user = (ctx.get("context") or {}).get("user") or ""
        try:
            config.load_kube_config(
                config_file=config_file,
                context=chosen,
                client_configuration=configuration,
                persist_config=False,
            )
        except ConfigException as exc:
            raise ConfigError(f"cannot use context {chosen}: {exc}") from exc
        plugin = _exec_plugin(files, user)
        settings: Any = configuration.auth_settings()
        if plugin and not any(s.get("value") for s in settings.values()):
            # The client logs the plugin's failure and goes on anonymously; kubectl stops here.
            raise ConfigError(f"the credential plugin {plugin!r} of user {user!r} gave no credentials",
                              hint="run it by hand to see why; is it installed and on PATH?")
    return configuration, namespace


def api_error(status: int, body: Any, *, what: str) -> KdiagError:
    """Map an API error status to kdiag's error classes, keeping the server's own message."""
    message = ""
    try:
        message = json.loads(body).get("message", "") if body else ""
    except (ValueError, AttributeError):
        message = str(body or "")[:200]
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


def transport_error(exc: Exception, server: str) -> Exception:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text or "ssl" in type(exc).__name__.lower():
        return CannotProbeError(
            f"TLS handshake with the API server {server} failed",
            hint="the server certificate does not match the kubeconfig's certificate-authority",
        )
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return CannotProbeError(f"the API server {server} did not answer in time", hint="--request-timeout")
    return CannotProbeError(
        f"cannot reach the API server {server}", hint="is the cluster up and the kubeconfig current?"
    )
