"""Kubeconfig files read as kubectl reads them, without the kubernetes client.

Importing and initialising the `kubernetes` package costs more than the whole `kubectl get pods`
it is compared with, and its loader writes certificate and key data to temp files. The forms
that carry their credentials in the file (token, token file, basic auth, client certificate and
key as data or paths, CA as data or path) are read here; the forms that run code or talk to an
identity provider (exec plugins, auth-provider) are handed to the client library
(`Endpoint.delegate`), which implements them in full.

Merging follows kubectl: files in $KUBECONFIG order, the first file defining a named cluster,
user or context wins, and the first non-empty current-context wins. Relative paths in a file are
relative to that file's directory.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdiag.errors import ConfigError

NO_KUBECONFIG_HINT = "point --kubeconfig or KUBECONFIG at one; for the practice lab run `kdiag lab up`"


@dataclass(frozen=True)
class Endpoint:
    """One cluster and the credentials for it, as the chosen context names them."""

    server: str
    namespace: str = ""
    ca_data: bytes | None = None  # PEM, from certificate-authority-data or the file's content
    insecure: bool = False
    tls_server_name: str = ""
    client_cert: bytes | None = None  # PEM
    client_key: bytes | None = None  # PEM
    token: str = ""
    token_file: str = ""
    username: str = ""
    password: str = ""
    proxy_url: str = ""
    user: str = ""
    # exec plugin or auth-provider: credentials come from the kubernetes client library.
    delegate: bool = False


def kubeconfig_files(explicit: str | None) -> list[str]:
    """--kubeconfig, else $KUBECONFIG (colon-separated, empty entries skipped), else ~/.kube/config.

    An explicit file must exist; $KUBECONFIG entries that do not exist are skipped, as kubectl does.
    """
    if explicit:
        path = Path(explicit)
        if path.is_dir():
            raise ConfigError(f"kubeconfig {explicit} is a directory, not a file", hint="check --kubeconfig")
        if not path.is_file():
            raise ConfigError(f"kubeconfig file {explicit} does not exist", hint="check --kubeconfig")
        return [explicit]
    env = os.environ.get("KUBECONFIG", "")
    candidates = [p for p in env.split(os.pathsep) if p] if env else [str(Path.home() / ".kube" / "config")]
    for candidate in candidates:
        if Path(candidate).is_dir():
            raise ConfigError(f"kubeconfig {candidate} is a directory, not a file", hint="check $KUBECONFIG")
    return [p for p in candidates if Path(p).is_file()]


def load_document(path: str) -> dict[str, Any]:
    """One kubeconfig file as a mapping; an empty file is an empty kubeconfig (kubectl agrees)."""
    import yaml

    try:
        document = yaml.load(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"kubeconfig {path} is not valid YAML: {first}",
                          hint="fix or remove it (check --kubeconfig and $KUBECONFIG)") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"kubeconfig {path} is not a kubeconfig (expected a YAML mapping)",
                          hint="check --kubeconfig and $KUBECONFIG")
    return document


@dataclass(frozen=True)
class Merged:
    """The kubeconfig files merged: named entries (with the directory of the file each came from)."""

    clusters: dict[str, tuple[dict[str, Any], Path]]
    users: dict[str, tuple[dict[str, Any], Path]]
    contexts: dict[str, dict[str, Any]]
    current: str


def merge(files: list[str]) -> Merged:
    clusters: dict[str, tuple[dict[str, Any], Path]] = {}
    users: dict[str, tuple[dict[str, Any], Path]] = {}
    contexts: dict[str, dict[str, Any]] = {}
    current = ""
    for path in files:
        document = load_document(path)
        base = Path(path).resolve().parent
        for key, into, field in (("clusters", clusters, "cluster"), ("users", users, "user")):
            for entry in _entries(document, key, path):
                into.setdefault(str(entry["name"]), (entry.get(field) or {}, base))
        for entry in _entries(document, "contexts", path):
            contexts.setdefault(str(entry["name"]), entry.get("context") or {})
        current = current or str(document.get("current-context") or "")
    return Merged(clusters, users, contexts, current)


def _entries(document: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
    entries = document.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("name") for e in entries):
        raise ConfigError(f"invalid kubeconfig {path}: {key} must be a list of entries with a name")
    return entries


def context_names(files: list[str]) -> list[str]:
    return list(merge(files).contexts)


def resolve(files: list[str], context: str | None) -> Endpoint:
    """The endpoint of `context` (default: the current context) across the merged files."""
    merged = merge(files)
    if context and context not in merged.contexts:
        raise ConfigError(f'context "{context}" not found in kubeconfig',
                          hint=f"known contexts: {', '.join(merged.contexts) or 'none'}")
    chosen = context or merged.current
    if not chosen:
        raise ConfigError("kubeconfig has no current context", hint="pass --context")
    if chosen not in merged.contexts:
        raise ConfigError(f'current context "{chosen}" not found in kubeconfig', hint="pass --context")
    ctx = merged.contexts[chosen]
    cluster_name, user_name = str(ctx.get("cluster") or ""), str(ctx.get("user") or "")
    if cluster_name not in merged.clusters:
        raise ConfigError(f'cannot use context {chosen}: cluster "{cluster_name}" not found in kubeconfig')
    cluster, cluster_dir = merged.clusters[cluster_name]
    user, user_dir = merged.users.get(user_name, ({}, cluster_dir))
    server = str(cluster.get("server") or "")
    if not server:
        raise ConfigError(f'cannot use context {chosen}: cluster "{cluster_name}" has no server')
    cert, key = _pem(user, "client-certificate", user_dir), _pem(user, "client-key", user_dir)
    if (cert is None) != (key is None):
        raise ConfigError(f'user "{user_name}" has only one of client-certificate and client-key',
                          hint="give both, as data or as paths")
    return Endpoint(
        server=server,
        namespace=str(ctx.get("namespace") or ""),
        ca_data=_pem(cluster, "certificate-authority", cluster_dir),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=str(cluster.get("tls-server-name") or ""),
        client_cert=cert,
        client_key=key,
        token=str(user.get("token") or ""),
        token_file=_path(user.get("tokenFile"), user_dir),
        username=str(user.get("username") or ""),
        password=str(user.get("password") or ""),
        proxy_url=str(cluster.get("proxy-url") or ""),
        user=user_name,
        delegate=bool(user.get("exec") or user.get("auth-provider")),
    )


def _path(value: Any, base: Path) -> str:
    if not value:
        return ""
    path = Path(os.path.expanduser(str(value)))
    return str(path if path.is_absolute() else base / path)


def _pem(entry: dict[str, Any], field: str, base: Path) -> bytes | None:
    """`field-data` (base64) or the file `field` names; the data form wins, as in kubectl."""
    data = entry.get(f"{field}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"{field}-data in the kubeconfig is not valid base64: {exc}") from exc
    path = _path(entry.get(field), base)
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {field} {path}: {exc.strerror}", hint="check the kubeconfig") from exc
