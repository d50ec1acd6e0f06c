"""API paths, built in one place: every name is quoted, so a namespace or pod name can never
change which URL a request goes to."""

from __future__ import annotations

from urllib.parse import quote

NODES = "/api/v1/nodes"
NAMESPACES = "/api/v1/namespaces"
ALL_PODS = "/api/v1/pods"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def namespace(name: str) -> str:
    return f"{NAMESPACES}/{quote(name, safe='')}"


def namespaced(ns: str, resource: str) -> str:
    """A namespaced list of core/v1 `resource` (pods, events, configmaps, services)."""
    return f"{namespace(ns)}/{resource}"


def pods(ns: str | None) -> str:
    """Pods of one namespace, or of all (None)."""
    return namespaced(ns, "pods") if ns else ALL_PODS


def pod(ns: str, name: str, subresource: str = "") -> str:
    """One pod, or its subresource (log, ephemeralcontainers)."""
    path = f"{namespaced(ns, 'pods')}/{quote(name, safe='')}"
    return f"{path}/{subresource}" if subresource else path
