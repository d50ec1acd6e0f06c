"""Has every node's kube-proxy programmed the Services the API holds? `lab up` waits for it.

kube-proxy's /healthz says 200 before its first sync with the seed's Services (it is healthy as
long as no update is overdue), and the seed's EndpointSlices are filled only after its pods run;
a trace right after `lab up` would then meet an untranslated ClusterIP. So the wait reads the
state itself: the API's Services and ready endpoints, and each node's rules.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from kdiag_lab import netns
from kdiag_lab.api import Api
from kdiag_lab.seed import pod_ready
from kdiag_lab.topology import LabNetwork

Json = dict[str, Any]


@dataclass(frozen=True)
class Translation:
    cluster_ip: str
    endpoints: tuple[tuple[str, int, str], ...]  # ready endpoints as (IP, port, node)
    node_local: bool  # internalTrafficPolicy Local: a node translates only to its own endpoints

    def on(self, node: str) -> list[tuple[str, int]]:
        return [(ip, port) for ip, port, where in self.endpoints if not self.node_local or where == node]


def rules(net: LabNetwork, node: str, mode: str) -> str:
    """The node's Service rules as text: nftables' kube-proxy table, or every iptables table
    (a Service without endpoints is a REJECT in the filter table, not a nat rule)."""
    show = ["nft", "list", "table", "ip", "kube-proxy"] if mode == "nftables" else ["iptables-save"]
    return netns.run_in(net.node_ns(node), show, check=False).stdout


def translates(text: str, cluster_ip: str, endpoints: list[tuple[str, int]]) -> bool:
    """The ClusterIP and a DNAT to each endpoint: nftables writes `IP . PORT` in its numgen map,
    iptables `--to-destination IP:PORT`."""
    def named(pattern: str) -> bool:  # 10.96.0.1 must not match inside 10.96.0.10
        return re.search(rf"(?<![\d.]){pattern}(?!\d)", text) is not None

    dots = re.escape
    return named(dots(cluster_ip)) and all(
        named(rf"{dots(ip)}(?: \. |:){port}") for ip, port in endpoints)


def expected(services: list[Json], slices: list[Json], pods: list[Json]) -> list[Translation] | None:
    """What kube-proxy should program for each ClusterIP Service, or None while the EndpointSlice
    controller has not yet listed exactly the ready pods a Service's selector matches."""
    out: list[Translation] = []
    for service in services:
        meta, spec = service["metadata"], service.get("spec", {})
        cluster_ip = spec.get("clusterIP") or "None"
        if cluster_ip == "None" or spec.get("type") == "ExternalName":
            continue
        own = [s for s in slices if s["metadata"].get("namespace") == meta["namespace"]
               and s["metadata"].get("labels", {}).get("kubernetes.io/service-name") == meta["name"]]
        ready = {(address, port["port"], e.get("nodeName", "")) for s in own for e in s.get("endpoints") or []
                 if (e.get("conditions") or {}).get("ready") for address in e.get("addresses", [])
                 for port in s.get("ports") or [] if port.get("port")}
        selector = spec.get("selector")
        if selector:
            matching = {p["status"]["podIP"] for p in pods if p["metadata"]["namespace"] == meta["namespace"]
                        and pod_ready(p) and p["status"].get("podIP")
                        and not p["metadata"].get("deletionTimestamp")  # terminating: not ready there
                        and selector.items() <= p["metadata"].get("labels", {}).items()}
            if matching != {address for address, _, _ in ready}:
                return None
        local = spec.get("internalTrafficPolicy") == "Local"
        out.append(Translation(cluster_ip, tuple(sorted(ready)), local))
    return out


def wait_programmed(api: Api, net: LabNetwork, mode: str, timeout: float) -> None:
    """Until every node's rules translate every ClusterIP Service to its ready endpoints."""
    deadline = time.monotonic() + timeout
    missing: list[str] = ["the EndpointSlice controller"]
    while time.monotonic() < deadline:
        services = api.get("/api/v1/services")["items"]
        slices = api.get("/apis/discovery.k8s.io/v1/endpointslices")["items"]
        wanted = expected(services, slices, api.get("/api/v1/pods")["items"])
        if wanted is not None:
            missing = []
            for node in net.nodes:
                text = rules(net, node.name, mode)
                missing += [f"{t.cluster_ip} on {node.name}" for t in wanted
                            if not translates(text, t.cluster_ip, t.on(node.name))]
            if not missing:
                return
        time.sleep(0.2)
    raise TimeoutError(f"kube-proxy ({mode}) did not program every Service within {timeout:.0f}s: "
                       f"waiting for {', '.join(missing[:5])}")
