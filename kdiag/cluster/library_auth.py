"""Exec credential plugins and auth-providers, through the kubernetes client library.

Only these forms need the library (it runs the plugin, caches and refreshes its token, speaks
OIDC); every other form is read by kdiag.cluster.kubeconfig without importing it. The library
writes certificate data it loads to temp files: here they go to a private directory (0700) that
is read back into memory and removed as soon as the configuration is loaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from kdiag.cluster.kubeconfig import Endpoint
from kdiag.errors import ConfigError


def library_endpoint(files: list[str], context: str | None, endpoint: Endpoint) -> tuple[Endpoint, Any]:
    """Load the context with the library; returns the endpoint with the plugin's client
    certificate (if it gave one) in memory, and the library Configuration for its tokens."""
    import logging

    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    root = logging.getLogger()
    if not root.handlers:
        # The library logs its own errors (an exec plugin's failure, say) before raising; kdiag
        # reports the raised error in one line, so the duplicate is silenced (-v configures logging).
        root.addHandler(logging.NullHandler())

    configuration = client.Configuration()
    private = tempfile.mkdtemp(prefix="kdiag-credentials-")
    try:
        try:
            config.load_kube_config(
                config_file=os.pathsep.join(files), context=context, client_configuration=configuration,
                persist_config=False, temp_file_path=private,
            )
        except ConfigException as exc:
            raise ConfigError(f"cannot use context {context or 'current'}: {exc}") from exc
        cert, key = _read(configuration.cert_file), _read(configuration.key_file)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if cert and key and not endpoint.client_cert:
        endpoint = replace(endpoint, client_cert=cert, client_key=key)
    plugin = _plugin(files, endpoint.user)
    if plugin and not library_auth_headers(configuration) and not endpoint.client_cert:
        # The client logs the plugin's failure and goes on anonymously; kubectl stops here.
        raise ConfigError(
            f"the credential plugin {plugin!r} of user {endpoint.user!r} gave no credentials",
            hint="run it by hand to see why; is it installed and on PATH?")
    return endpoint, configuration


def library_auth_headers(configuration: Any) -> dict[str, str]:
    # auth_settings() runs the kubeconfig's refresh hook (exec plugins, OIDC) and names the
    # header; its key name for the token changed between client releases, its shape did not.
    headers = {}
    for setting in configuration.auth_settings().values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[setting["key"].title()] = setting["value"]
    return headers


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def _plugin(files: list[str], user: str) -> str:
    """The exec credential command of `user`, from the first kubeconfig defining the user."""
    from kdiag.cluster.kubeconfig import merge

    entry, _base = merge(files).users.get(user, ({}, Path()))
    return str((entry.get("exec") or {}).get("command", ""))
