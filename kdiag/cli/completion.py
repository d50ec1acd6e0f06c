"""Shell completion from the live cluster. Completion must never print errors into the
user's prompt, so every failure yields no candidates."""

from __future__ import annotations

from kdiag.cluster.client import ClusterOptions


def contexts(options: ClusterOptions, incomplete: str) -> list[str]:
    try:
        from kdiag.cluster.client import context_names

        return [name for name in context_names(options) if name.startswith(incomplete)]
    except Exception:
        return []


def names(options: ClusterOptions, path: str, incomplete: str) -> list[str]:
    try:
        from kdiag.cluster.client import Cluster
        from kdiag.cluster.inventory import list_names

        return [n for n in list_names(Cluster(options), path) if n.startswith(incomplete)]
    except Exception:
        return []


def pods(options: ClusterOptions, incomplete: str) -> list[str]:
    """Pod names in the chosen namespace; `ns/` prefixes complete across namespaces."""
    try:
        from kdiag.cluster import paths
        from kdiag.cluster.client import Cluster
        from kdiag.cluster.inventory import list_names

        cluster = Cluster(options)
        if "/" in incomplete:
            namespace, _, prefix = incomplete.partition("/")
            found = list_names(cluster, paths.pods(namespace))
            return [f"{namespace}/{n}" for n in found if n.startswith(prefix)]
        found = list_names(cluster, paths.pods(cluster.namespace))
        return [n for n in found if n.startswith(incomplete)]
    except Exception:
        return []
