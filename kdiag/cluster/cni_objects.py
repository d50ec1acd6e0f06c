"""Reading raw CNI objects (DaemonSets, ConfigMaps, node annotations) for `kdiag.cluster.cni`.

Pure helpers over API JSON dicts: name and image look-ups, env values with configMapKeyRef
resolved, command-line flags. Split from cni.py so that file reads as the per-CNI rules alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.model.objects import NodeInfo


@dataclass(frozen=True)
class Inputs:
    daemonsets: list[dict[str, Any]]
    configmaps: list[dict[str, Any]]
    nodes: list[NodeInfo]
    ippools: list[dict[str, Any]] | None


def meta(obj: Mapping[str, Any]) -> tuple[str, str]:
    md = obj.get("metadata") or {}
    return str(md.get("namespace", "")), str(md.get("name", ""))


def ref(kind: str, obj: Mapping[str, Any]) -> str:
    ns, name = meta(obj)
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


def containers(ds: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def find_daemonset(inp: Inputs, names: Iterable[str], image_hint: str) -> dict[str, Any] | None:
    """A DaemonSet by name (any namespace: operators move them), else by a container image."""
    wanted = set(names)
    for ds in inp.daemonsets:
        if meta(ds)[1] in wanted:
            return ds
    for ds in inp.daemonsets:
        if any(image_hint in str(c.get("image", "")) for c in containers(ds)):
            return ds
    return None


def configmap(inp: Inputs, name: str, key: str = "") -> tuple[str, dict[str, str]] | None:
    """(reference, data) of a ConfigMap named `name` or `name-<hash>` (Antrea <=1.x) holding `key`."""
    for cm in inp.configmaps:
        n, data = meta(cm)[1], {str(k): str(v) for k, v in (cm.get("data") or {}).items()}
        if (n == name or re.fullmatch(re.escape(name) + r"-[a-z0-9]{5,12}", n)) and (not key or key in data):
            return ref("configmap", cm), data
    return None


def env_values(inp: Inputs, ds: Mapping[str, Any]) -> dict[str, str]:
    """Literal env values of all containers; configMapKeyRef resolved against the listed ConfigMaps
    (calico.yaml takes CALICO_NETWORKING_BACKEND from calico-config's calico_backend this way)."""
    out: dict[str, str] = {}
    for c in containers(ds):
        for e in c.get("env") or []:
            name = str(e.get("name", ""))
            if "value" in e:
                out[name] = str(e["value"])
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef") or {}
            cm = configmap(inp, str(ref.get("name", "")), str(ref.get("key", ""))) if ref else None
            if cm is not None:
                out[name] = cm[1][str(ref["key"])]
    return out


def flags(ds: Mapping[str, Any]) -> dict[str, str]:
    """`--flag=value` / `--flag` arguments of all containers (kube-router is configured this way)."""
    out: dict[str, str] = {}
    for c in containers(ds):
        for a in list(c.get("args") or []) + list(c.get("command") or []):
            m = re.fullmatch(r"--([\w-]+)(?:=(.*))?", str(a).strip())
            if m:
                out[m.group(1)] = m.group(2) if m.group(2) is not None else "true"
    return out


def node_annotation(inp: Inputs, key: str) -> tuple[NodeInfo, str] | None:
    for n in inp.nodes:
        if key in n.annotations:
            return n, n.annotations[key]
    return None


def to_int(v: Any, default: int | None = None) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default
