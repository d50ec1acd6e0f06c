"""`kdiag cleanup`: find and delete probe pods that traces left behind (kdiag killed with -9, say)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from kdiag.cluster import paths
from kdiag.cluster.client import Cluster
from kdiag.cluster.parse import parse_time
from kdiag.cluster.probepods import PROBE_SELECTOR
from kdiag.cluster.workloads import delete_pod


@dataclass(frozen=True)
class Cleanup:
    deleted: tuple[str, ...]  # ns/name
    spared: tuple[str, ...]  # ns/name of probe pods whose trace may still be running


def _may_be_in_use(pod: dict[str, Any], now: datetime) -> bool:
    """A probe pod that is still Pending/Running and younger than its activeDeadlineSeconds may
    belong to a trace in progress (kdiag deletes its pods itself; the deadline bounds a trace)."""
    if pod.get("status", {}).get("phase") not in ("Pending", "Running"):
        return False
    deadline = pod.get("spec", {}).get("activeDeadlineSeconds")
    created = parse_time(pod["metadata"].get("creationTimestamp"))
    if not deadline or created is None:
        return False
    return (now - created).total_seconds() < float(deadline)


def cleanup(cluster: Cluster, namespace: str | None, *, include_running: bool = False) -> Cleanup:
    """Delete kdiag probe pods in `namespace` (None: all namespaces); those a running trace may
    still use only with `include_running`."""
    where = f"in namespace {namespace}" if namespace else "in all namespaces"
    now = datetime.now(timezone.utc)
    deleted: list[str] = []
    spared: list[str] = []
    listing = cluster.list_pages(paths.pods(namespace), query={"labelSelector": PROBE_SELECTOR},
                                 what=f"list pods {where}")
    for pod in listing:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if not include_running and _may_be_in_use(pod, now):
            spared.append(f"{ns}/{name}")
            continue
        delete_pod(cluster, namespace=ns, name=name)
        deleted.append(f"{ns}/{name}")
    return Cleanup(tuple(deleted), tuple(spared))
