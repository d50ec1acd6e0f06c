"""Read what policy evaluation needs, one API read per kind: NetworkPolicies, namespace labels,
AdminNetworkPolicies and the BaselineAdminNetworkPolicy when their CRDs exist, and the CNI-specific
policy kinds (listed if readable, never evaluated).

A read the user's RBAC forbids becomes a `Gap` naming the permission (the evaluation then says
`unknown`, never a silent `allowed`); a kind whose API group the server does not serve is absent.
With `namespaces` given (the namespaces of the pods involved) NetworkPolicies are read per
namespace; with `all_namespaces` one cluster-wide list, falling back per namespace on 403.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from kdiag.cluster.client import Cluster
from kdiag.cluster.policy_parse import parse_admin_policy, parse_network_policy
from kdiag.errors import CannotProbeError, NotFoundError
from kdiag.model.policy.cni import CNI_KINDS
from kdiag.model.policy.objects import CniPolicy, Gap, NetworkPolicy, PolicySet

NETWORKING = "networking.k8s.io/v1"
ADMIN_GROUP = "policy.networking.k8s.io"


def _forbidden(exc: CannotProbeError) -> bool:
    return exc.status == 403


def _list(cluster: Cluster, path: str, what: str) -> list[Any]:
    return list(cluster.list_pages(path, what=what))


def served_groups(cluster: Cluster) -> dict[str, list[str]]:
    """API group -> versions the server serves (preferred first), from one discovery read."""
    document = cluster.request("GET", "/apis", what="discover API groups")
    groups: dict[str, list[str]] = {}
    for group in document.get("groups") or ():
        preferred = (group.get("preferredVersion") or {}).get("version", "")
        versions = [v.get("version", "") for v in group.get("versions") or ()]
        groups[group.get("name", "")] = [preferred, *[v for v in versions if v != preferred]] if preferred \
            else versions
    return groups


def _namespaced_lists(cluster: Cluster, group_version: str, plural: str, kind: str,
                      namespaces: Iterable[str], gaps: list[Gap]) -> list[Any]:
    items: list[Any] = []
    for namespace in sorted(set(namespaces)):
        path = f"/apis/{group_version}/namespaces/{quote(namespace)}/{plural}"
        try:
            items += _list(cluster, path, f"list {plural} in namespace {namespace}")
        except CannotProbeError as exc:
            if not _forbidden(exc):
                raise
            gaps.append(Gap(kind, namespace, f"list {group_version.split('/')[0]}/{plural} in namespace "
                                             f"{namespace}"))
    return items


def _read(cluster: Cluster, group_version: str, plural: str, kind: str, *, namespaced: bool,
          namespaces: Iterable[str], all_namespaces: bool, gaps: list[Gap]) -> list[Any]:
    """Every object of a kind: cluster-wide, or per namespace; 403s become gaps."""
    group = group_version.split("/")[0]
    if namespaced and not all_namespaces:
        return _namespaced_lists(cluster, group_version, plural, kind, namespaces, gaps)
    try:
        return _list(cluster, f"/apis/{group_version}/{plural}", f"list {plural}")
    except NotFoundError:
        return []  # the group is served but not this resource: the kind does not exist here
    except CannotProbeError as exc:
        if not _forbidden(exc):
            raise
        if namespaced:
            return _namespaced_lists(cluster, group_version, plural, kind, namespaces, gaps)
        gaps.append(Gap(kind, None, f"list {group}/{plural} (cluster-scoped)"))
        return []


def _namespace_labels(cluster: Cluster, namespaces: Iterable[str], *, all_namespaces: bool,
                      gaps: list[Gap]) -> dict[str, Mapping[str, str]]:
    wanted = sorted(set(namespaces))
    if all_namespaces or len(wanted) > 3:
        try:
            items = _list(cluster, "/api/v1/namespaces", "list namespaces")
            metas = [item.get("metadata") or {} for item in items]
            return {meta.get("name", ""): meta.get("labels") or {} for meta in metas}
        except CannotProbeError as exc:
            if not _forbidden(exc):
                raise
    labels: dict[str, Mapping[str, str]] = {}
    for namespace in wanted:
        try:
            obj = cluster.request("GET", f"/api/v1/namespaces/{quote(namespace)}",
                                  what=f"get namespace {namespace}")
            labels[namespace] = (obj.get("metadata") or {}).get("labels") or {}
        except CannotProbeError as exc:
            if not _forbidden(exc):
                raise
            gaps.append(Gap("Namespace", namespace, f"get namespace {namespace} (its labels)"))
        except NotFoundError:
            continue
    return labels


def read_policies(cluster: Cluster, *, namespaces: Iterable[str], all_namespaces: bool = False) -> PolicySet:
    """The PolicySet for flows among pods of `namespaces` (all namespaces with `all_namespaces`)."""
    namespaces = sorted(set(namespaces))
    gaps: list[Gap] = []
    groups = served_groups(cluster)
    raw = _read(cluster, NETWORKING, "networkpolicies", "NetworkPolicy", namespaced=True,
                namespaces=namespaces, all_namespaces=all_namespaces, gaps=gaps)
    network_policies: tuple[NetworkPolicy, ...] = tuple(parse_network_policy(item) for item in raw)
    admin, baseline = [], None
    for version in groups.get(ADMIN_GROUP, [])[:1]:
        group_version = f"{ADMIN_GROUP}/{version}"
        admin = [parse_admin_policy(item) for item in _read(
            cluster, group_version, "adminnetworkpolicies", "AdminNetworkPolicy", namespaced=False,
            namespaces=namespaces, all_namespaces=True, gaps=gaps)]
        baselines = [parse_admin_policy(item, baseline=True) for item in _read(
            cluster, group_version, "baselineadminnetworkpolicies", "BaselineAdminNetworkPolicy",
            namespaced=False, namespaces=namespaces, all_namespaces=True, gaps=gaps)]
        baseline = baselines[0] if baselines else None
    cni: list[CniPolicy] = []
    for kind, group_version, plural, namespaced in CNI_KINDS:
        group, _, version = group_version.partition("/")
        served = groups.get(group)
        if not served:
            continue
        # The kind's own version when served, else the group's preferred one.
        chosen = f"{group}/{version if version in served else served[0]}"
        for item in _read(cluster, chosen, plural, kind, namespaced=namespaced, namespaces=namespaces,
                          all_namespaces=all_namespaces, gaps=gaps):
            meta = item.get("metadata") or {}
            cni.append(CniPolicy(kind, meta.get("namespace", "") if namespaced else "", meta.get("name", "")))
    labels = _namespace_labels(cluster, namespaces, all_namespaces=all_namespaces, gaps=gaps)
    return PolicySet(network_policies, tuple(admin), baseline, labels, tuple(cni), tuple(gaps))
