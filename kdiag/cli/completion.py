"""Shell completion from the live cluster. Completion must never print errors into the
user's prompt, so every failure yields no candidates; and it must never hang the prompt, so
each request gets at most `REQUEST_SECONDS` (an API that does not answer: nothing offered)."""

from __future__ import annotations

from dataclasses import replace

from kdiag.cluster.client import ClusterOptions

# One request per completion: a TCP connect, the TLS handshake and the list, each bounded by this.
REQUEST_SECONDS = 0.5


def _bounded(options: ClusterOptions) -> ClusterOptions:
    given = options.request_timeout
    return replace(options, request_timeout=min(given, REQUEST_SECONDS) if given else REQUEST_SECONDS)


def contexts(options: ClusterOptions, incomplete: str) -> list[str]:
    try:
        from kdiag.cluster.client import context_names

        return [name for name in context_names(options) if name.startswith(incomplete)]
    except Exception:
        return []


def names(options: ClusterOptions, path: str, incomplete: str) -> list[str]:
    try:
        from kdiag.cluster.client import Cluster

        return [n for n in Cluster(_bounded(options)).list_names(path) if n.startswith(incomplete)]
    except Exception:
        return []


def pods(options: ClusterOptions, incomplete: str) -> list[str]:
    """Pod names in the chosen namespace; `ns/` prefixes complete across namespaces."""
    try:
        from kdiag.cluster import paths
        from kdiag.cluster.client import Cluster

        cluster = Cluster(_bounded(options))
        if "/" in incomplete:
            namespace, _, prefix = incomplete.partition("/")
            found = cluster.list_names(paths.pods(namespace))
            return [f"{namespace}/{n}" for n in found if n.startswith(prefix)]
        found = cluster.list_names(paths.pods(cluster.namespace))
        return [n for n in found if n.startswith(incomplete)]
    except Exception:
        return []


def services(options: ClusterOptions, incomplete: str) -> list[str]:
    """`svc/NAME` in the chosen namespace; `svc/NS/` completes the Services of NS."""
    try:
        from kdiag.cluster import paths
        from kdiag.cluster.client import Cluster

        cluster = Cluster(_bounded(options))
        rest = incomplete[len("svc/"):]
        if "/" in rest:
            namespace, _, prefix = rest.partition("/")
            found = cluster.list_names(paths.namespaced(namespace, "services"))
            return [f"svc/{namespace}/{n}" for n in found if n.startswith(prefix)]
        found = cluster.list_names(paths.namespaced(cluster.namespace, "services"))
        return [f"svc/{n}" for n in found if n.startswith(rest)]
    except Exception:
        return []


def destinations(options: ClusterOptions, incomplete: str) -> list[str]:
    """A trace's DST: pods, and Services as `svc/NAME`. An empty word gets the pods and the word
    `svc/` itself (one request, so a silent API costs one bound); `s`, `sv`, `svc` get both lists."""
    if incomplete.startswith("svc/"):
        return services(options, incomplete)
    offered = pods(options, incomplete)
    if not incomplete:
        return [*offered, "svc/"]
    if "svc/".startswith(incomplete):
        offered += services(options, "svc/")
    return offered
