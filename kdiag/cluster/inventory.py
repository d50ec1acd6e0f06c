"""What the cluster holds, as kdiag's own frozen dataclasses: pods, nodes, namespaces.

Lists are paged like kubectl's (limit/continue) and parsed page by page from raw JSON, so a
10,000-pod cluster never sits in memory as dicts all at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kdiag.cluster import paths
from kdiag.cluster.client import Cluster
from kdiag.cluster.parse import parse_nodes, parse_pod, parse_pods
from kdiag.errors import CannotProbeError, NotFoundError, UsageError
from kdiag.model.objects import NodeInfo, PodInfo


@dataclass(frozen=True)
class PodQuery:
    namespace: str | None  # None: all namespaces
    label_selector: str = ""
    field_selector: str = ""


def _query(query: PodQuery) -> dict[str, str]:
    params = {}
    if query.label_selector:
        params["labelSelector"] = query.label_selector
    if query.field_selector:
        params["fieldSelector"] = query.field_selector
    return params


def _what(query: PodQuery) -> str:
    where = f"in namespace {query.namespace}" if query.namespace else "in all namespaces"
    return f"list pods {where}"


def list_pods(cluster: Cluster, query: PodQuery) -> list[PodInfo]:
    """Pods matching the query, in the API's order (namespace, then name), as kubectl prints."""
    pods = parse_pods(cluster.list_pages(paths.pods(query.namespace), query=_query(query), what=_what(query)))
    if not pods and query.namespace:
        cluster.ensure_namespace(query.namespace)  # empty because it does not exist?
    return pods


def list_nodes(cluster: Cluster, *, label_selector: str = "") -> list[NodeInfo]:
    query = {"labelSelector": label_selector} if label_selector else {}
    return parse_nodes(cluster.list_pages(paths.NODES, query=query, what="list nodes"))


def readable_nodes(cluster: Cluster, *, warn: Callable[[str], None], without: str) -> list[NodeInfo]:
    """All nodes, or none with a warning when RBAC forbids listing them (roles such as `view` are
    namespaced): node addresses and podCIDRs enrich kdiag's views, they are not essential.
    `without` says what the user loses, e.g. "node IPs come from status.hostIP"."""
    try:
        return list_nodes(cluster)
    except CannotProbeError as exc:
        if exc.status != 403:
            raise
        warn(f"cannot list nodes (forbidden): {without}")
        return []


def get_pod(cluster: Cluster, *, namespace: str, name: str) -> PodInfo:
    return parse_pod(
        cluster.request("GET", paths.pod(namespace, name), what=f"get pod {namespace}/{name}")
    )


def get_pods(cluster: Cluster, *, namespace: str, names: list[str]) -> list[PodInfo]:
    """Named pods in the order given (as `kubectl get pods A B`); the first missing one is an error."""
    found = []
    for name in dict.fromkeys(names):
        try:
            found.append(get_pod(cluster, namespace=namespace, name=name))
        except NotFoundError:
            cluster.ensure_namespace(namespace)
            raise NotFoundError(f'pods "{name}" not found in namespace "{namespace}"',
                                hint=f"list them with `kdiag pods -n {namespace}`") from None
    return found


def find_pod(cluster: Cluster, *, reference: str, default_namespace: str) -> PodInfo:
    """Resolve `name`, `ns/name` or a unique name prefix to one pod.

    No match and an ambiguous prefix are user errors that list the candidates.
    """
    if reference.count("/") > 1:
        raise UsageError(f"invalid pod reference {reference!r}", hint="use NAME or NAMESPACE/NAME")
    namespace, _, name = reference.rpartition("/")
    namespace = namespace or default_namespace
    if not name:
        raise UsageError(f"empty pod name in {reference!r}", hint="use NAME or NAMESPACE/NAME")
    try:
        return get_pod(cluster, namespace=namespace, name=name)
    except NotFoundError:
        pass
    cluster.ensure_namespace(namespace)
    pods = list_pods(cluster, PodQuery(namespace))
    matches = [p for p in pods if p.name.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(p.name for p in pods[:8]) + (" ..." if len(pods) > 8 else "")
        elsewhere = _elsewhere(cluster, name) if "/" not in reference else []
        if elsewhere:
            hint = f"did you mean {' or '.join(elsewhere)}?"
        else:
            hint = f"pods there: {known}" if pods else "that namespace has no pods"
        raise NotFoundError(f'pod "{name}" not found in namespace "{namespace}"', hint=hint)
    names = ", ".join(p.name for p in matches[:8]) + (" ..." if len(matches) > 8 else "")
    raise UsageError(f'"{name}" matches {len(matches)} pods in namespace "{namespace}": {names}',
                     hint="give more of the name")


def _elsewhere(cluster: Cluster, name: str) -> list[str]:
    """`ns/name` of pods called `name` (or starting with it) in other namespaces, when this user may
    list pods cluster-wide; a namespaced role simply gets no suggestion."""
    try:
        pods = list_pods(cluster, PodQuery(None, field_selector=f"metadata.name={name}"))
        if not pods:
            pods = [p for p in list_pods(cluster, PodQuery(None)) if p.name.startswith(name)]
    except CannotProbeError:
        return []
    return [f"{p.namespace}/{p.name}" for p in pods[:3]]
