"""Fetch what `kdiag.cluster.cni.detect` reads, cheaply, and run it.

- DaemonSets in all namespaces (a cluster has few);
- ConfigMaps only in the namespaces where a CNI-looking DaemonSet runs (flannel's net-conf.json,
  calico-config, cilium-config, antrea-config live next to their agents), never cluster-wide;
- Calico IPPools only when Calico shows up at all; forbidden or absent CRD -> None.
Anything the caller may not read is left out and said in the datapath's notes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from kdiag.cluster import paths
from kdiag.cluster.client import Cluster
from kdiag.cluster.cni import detect
from kdiag.errors import CannotProbeError, NotFoundError
from kdiag.model.datapath import Datapath
from kdiag.model.objects import NodeInfo

CNI_HINTS = ("flannel", "calico", "cilium", "antrea", "canal", "weave", "kube-router", "aws-node",
             "kindnet", "ovnkube", "ovn-kubernetes")
IPPOOLS = "/apis/crd.projectcalico.org/v1/ippools"


def _looks_like_cni(ds: dict[str, Any]) -> bool:
    meta = ds.get("metadata") or {}
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    images = " ".join(str(c.get("image", "")) for c in (spec.get("containers") or []))
    text = f"{meta.get('name', '')} {images}".lower()
    return any(h in text for h in CNI_HINTS)


def _list(cluster: Cluster, path: str, what: str, notes: list[str]) -> list[dict[str, Any]]:
    try:
        return list(cluster.list_pages(path, what=what))
    except CannotProbeError as exc:
        notes.append(f"not read ({exc.message.split(':')[0]}): {what}")
        return []


def fetch_ippools(cluster: Cluster) -> list[dict[str, Any]] | None:
    try:
        return list(cluster.list_pages(IPPOOLS, what="list ippools.crd.projectcalico.org"))
    except (NotFoundError, CannotProbeError):
        return None


def detect_datapath(cluster: Cluster, nodes: Iterable[NodeInfo]) -> Datapath:
    nodes = list(nodes)
    notes: list[str] = []
    daemonsets = _list(cluster, "/apis/apps/v1/daemonsets", "list daemonsets in all namespaces", notes)
    cni_namespaces = sorted({str((d.get("metadata") or {}).get("namespace", ""))
                             for d in daemonsets if _looks_like_cni(d)} - {""})
    configmaps: list[dict[str, Any]] = []
    for ns in cni_namespaces:
        configmaps += _list(cluster, paths.namespaced(ns, "configmaps"),
                            f"list configmaps in namespace {ns}", notes)
    calico = any("calico" in str((d.get("metadata") or {}).get("name", "")) for d in daemonsets) or any(
        k.startswith("projectcalico.org/") for n in nodes for k in n.annotations)
    ippools = fetch_ippools(cluster) if calico else None
    datapath = detect(daemonsets, configmaps, nodes, ippools)
    return replace(datapath, notes=(*datapath.notes, *notes)) if notes else datapath
