"""Services, their EndpointSlices, and who translates them, read from the API into
`kdiag.model.service_objects` / `service_proxy` dataclasses (raw JSON parsed here, once).

The Service datapath facts come from the objects `kdiag.model.service_proxy` names: the
kube-proxy DaemonSet and ConfigMap (kube-system/kube-proxy, key config.conf), cilium-config,
antrea-config (antrea-agent.conf), the ovnkube-node DaemonSet, and NodeLocal DNSCache's
node-local-dns DaemonSet. Objects RBAC hides are left out and named in `ProxyFacts.unreadable`;
the Service and its EndpointSlices are essential, so a 403 there is the usual one-line error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kdiag.cluster.client import Cluster
from kdiag.cluster.inventory import PodQuery, list_pods
from kdiag.errors import CannotProbeError, NotFoundError
from kdiag.model.service import Translation, translate
from kdiag.model.service_dns import DnsConfig
from kdiag.model.service_objects import (
    DEFAULT_AFFINITY_TIMEOUT,
    HEADLESS,
    EndpointPort,
    EndpointSliceInfo,
    ServiceInfo,
    ServicePort,
    SliceEndpoint,
)
from kdiag.model.service_proxy import ProxyFacts

JSON = Mapping[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
NODE_LOCAL_DNS_NAMES = ("node-local-dns", "nodelocaldns")


def _services_path(namespace: str | None) -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/services" if namespace else "/api/v1/services"


def _slices_path(namespace: str) -> str:
    return f"/apis/discovery.k8s.io/v1/namespaces/{quote(namespace)}/endpointslices"


# ---- parsing ---------------------------------------------------------------------------------------


def parse_service(obj: JSON) -> ServiceInfo:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    ports = []
    for p in spec.get("ports") or ():
        target = p.get("targetPort")
        port = int(p.get("port", 0))
        ports.append(ServicePort(
            port, name=p.get("name", ""), protocol=p.get("protocol") or "TCP",
            # The API defaults targetPort to port; keep a name as a name ("8080" stays a number).
            target_port=(target if isinstance(target, str) and not target.isdigit()
                         else int(target) if target not in (None, "", 0) else port),
            node_port=int(p.get("nodePort") or 0), app_protocol=p.get("appProtocol", "")))
    cluster_ip = spec.get("clusterIP", "")
    headless = cluster_ip == HEADLESS
    listed = spec.get("clusterIPs") or ([cluster_ip] if cluster_ip else [])
    ips = tuple(ip for ip in listed if ip != HEADLESS)
    affinity = spec.get("sessionAffinity") or "None"
    timeout = (((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
               or (DEFAULT_AFFINITY_TIMEOUT if affinity == "ClientIP" else 0))
    return ServiceInfo(
        namespace=meta.get("namespace", ""), name=meta.get("name", ""), type=spec.get("type") or "ClusterIP",
        cluster_ips=ips, headless=headless, ports=tuple(ports), selector=spec.get("selector") or {},
        external_name=spec.get("externalName", ""), session_affinity=affinity, affinity_timeout=int(timeout),
        internal_traffic_policy=spec.get("internalTrafficPolicy") or "Cluster",
        external_traffic_policy=spec.get("externalTrafficPolicy") or "",
        publish_not_ready=bool(spec.get("publishNotReadyAddresses")),
    )


def parse_endpoint_slice(obj: JSON) -> EndpointSliceInfo:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    endpoints = []
    for e in obj.get("endpoints") or ():
        conditions, ref = e.get("conditions") or {}, e.get("targetRef") or {}
        endpoints.append(SliceEndpoint(
            tuple(e.get("addresses") or ()), ready=conditions.get("ready"),
            serving=conditions.get("serving"), terminating=conditions.get("terminating"),
            node_name=e.get("nodeName", ""), zone=e.get("zone", ""), hostname=e.get("hostname", ""),
            target_kind=ref.get("kind", ""), target_name=ref.get("name", ""),
            target_namespace=ref.get("namespace") or meta.get("namespace", "")))
    ports = tuple(EndpointPort(p.get("name") or "", p.get("port"), p.get("protocol") or "TCP",
                               p.get("appProtocol", "")) for p in obj.get("ports") or ())
    return EndpointSliceInfo(
        namespace=meta.get("namespace", ""), name=meta.get("name", ""),
        service_name=labels.get(SERVICE_NAME_LABEL, ""), address_type=obj.get("addressType", "IPv4"),
        ports=ports, endpoints=tuple(endpoints),
        managed_by=labels.get("endpointslice.kubernetes.io/managed-by", ""),
    )


def parse_dns_config(obj: JSON | None) -> DnsConfig | None:
    if not obj:
        return None
    options = tuple((str(o.get("name", "")), o.get("value")) for o in obj.get("options") or ())
    return DnsConfig(tuple(obj.get("nameservers") or ()), tuple(obj.get("searches") or ()), options)


# ---- reading ---------------------------------------------------------------------------------------


def get_service(cluster: Cluster, namespace: str, name: str) -> ServiceInfo:
    """One Service; a missing one is a one-line NotFoundError naming what is there."""
    try:
        return parse_service(cluster.request("GET", f"{_services_path(namespace)}/{quote(name)}",
                                             what=f"get service {namespace}/{name}"))
    except NotFoundError:
        pass
    cluster.ensure_namespace(namespace)
    try:
        names = [s.name for s in list_services(cluster, namespace)]
    except CannotProbeError:
        names = []
    shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
    raise NotFoundError(f'service "{name}" not found in namespace "{namespace}"',
                        hint=f"services there: {shown}" if names else "no services listed there") from None


def find_service(cluster: Cluster, namespace: str, name: str) -> ServiceInfo | None:
    """One Service, None when it does not exist (a DNS name's query names are looked up this way)."""
    try:
        return parse_service(cluster.request("GET", f"{_services_path(namespace)}/{quote(name)}",
                                             what=f"get service {namespace}/{name}"))
    except NotFoundError:
        return None


def list_services(cluster: Cluster, namespace: str | None) -> list[ServiceInfo]:
    where = f"in namespace {namespace}" if namespace else "in all namespaces"
    items = cluster.list_pages(_services_path(namespace), what=f"list services {where}")
    return [parse_service(o) for o in items]


def services_with_cluster_ip(cluster: Cluster, address: str) -> list[ServiceInfo]:
    """The Services whose ClusterIP is `address`: the apiserver filters on spec.clusterIP."""
    items = cluster.list_pages(_services_path(None), query={"fieldSelector": f"spec.clusterIP={address}"},
                               what="list services in all namespaces")
    return [s for s in map(parse_service, items) if address in s.cluster_ips]


def list_endpoint_slices(cluster: Cluster, service: ServiceInfo) -> list[EndpointSliceInfo]:
    query = {"labelSelector": f"{SERVICE_NAME_LABEL}={service.name}"}
    items = cluster.list_pages(_slices_path(service.namespace), query=query,
                               what=f"list endpointslices in namespace {service.namespace}")
    return [parse_endpoint_slice(o) for o in items]


def service_translation(cluster: Cluster, service: ServiceInfo, *, port: ServicePort,
                        source_node: str) -> Translation:
    """Read the Service's EndpointSlices and its namespace's pods and translate (model.service)."""
    slices = list_endpoint_slices(cluster, service)
    pods = list_pods(cluster, PodQuery(service.namespace)) if service.selector else []
    return translate(service, port=port, slices=slices, pods=pods, source_node=source_node)


@dataclass(frozen=True)
class PodDnsSettings:
    dns_policy: str
    host_network: bool
    dns_config: DnsConfig | None


def pod_dns_settings(cluster: Cluster, namespace: str, name: str) -> PodDnsSettings:
    """spec.dnsPolicy / hostNetwork / dnsConfig of one pod (PodInfo does not carry them)."""
    spec = cluster.request("GET", f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(name)}",
                           what=f"get pod {namespace}/{name}").get("spec") or {}
    return PodDnsSettings(spec.get("dnsPolicy") or "ClusterFirst", bool(spec.get("hostNetwork")),
                          parse_dns_config(spec.get("dnsConfig")))


def kube_dns_service(cluster: Cluster) -> ServiceInfo | None:
    try:
        return parse_service(cluster.request("GET", f"{_services_path('kube-system')}/kube-dns",
                                             what="get service kube-system/kube-dns"))
    except NotFoundError:
        return None


# ---- who translates ---------------------------------------------------------------------------------


def _ref(kind: str, obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    return f"{kind} {meta.get('namespace', '')}/{meta.get('name', '')}"


def _images(ds: JSON) -> str:
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    return " ".join(str(c.get("image", "")) for c in spec.get("containers") or ())


def _find(daemonsets: Iterable[JSON], names: Iterable[str], image: str) -> JSON | None:
    """A DaemonSet by name (any namespace), else by a container image."""
    wanted, listed = set(names), list(daemonsets)
    by_name = [d for d in listed if (d.get("metadata") or {}).get("name") in wanted]
    found = by_name or [d for d in listed if image in _images(d)]
    return found[0] if found else None


def _flag(ds: JSON, flag: str) -> str:
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in spec.get("containers") or ():
        args = [*(container.get("command") or ()), *(container.get("args") or ())]
        for i, arg in enumerate(args):
            if arg.startswith(f"--{flag}="):
                return str(arg.split("=", 1)[1])
            if arg == f"--{flag}" and i + 1 < len(args):
                return str(args[i + 1])
    return ""


def _configmap(cluster: Cluster, namespace: str, name: str, unreadable: list[str]) -> dict[str, str] | None:
    """data of ConfigMap `name` (or `name-<hash>`, as Antrea names it) in `namespace`."""
    path = f"/api/v1/namespaces/{quote(namespace)}/configmaps"
    try:
        found = cluster.request("GET", f"{path}/{quote(name)}", what=f"get configmap {namespace}/{name}")
        return {str(k): str(v) for k, v in (found.get("data") or {}).items()}
    except NotFoundError:
        pass
    except CannotProbeError as exc:
        if exc.status != 403:
            raise
        unreadable.append(f"configmap {namespace}/{name} (forbidden)")
        return None
    try:
        for cm in cluster.list_pages(path, what=f"list configmaps in namespace {namespace}"):
            if re.fullmatch(re.escape(name) + r"-[a-z0-9]{5,12}", (cm.get("metadata") or {}).get("name", "")):
                return {str(k): str(v) for k, v in (cm.get("data") or {}).items()}
    except CannotProbeError as exc:
        if exc.status != 403:
            raise
    return None


def _yaml(text: str) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _section(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _daemonsets(cluster: Cluster, unreadable: list[str]) -> list[JSON]:
    try:
        return list(cluster.list_pages("/apis/apps/v1/daemonsets", what="list daemonsets in all namespaces"))
    except CannotProbeError as exc:
        if exc.status != 403:
            raise
        unreadable.append("daemonsets in all namespaces (forbidden)")
        return []


def proxy_facts(cluster: Cluster) -> ProxyFacts:
    """Everything `kdiag.model.service_proxy.service_proxy` decides from."""
    unreadable: list[str] = []
    daemonsets = _daemonsets(cluster, unreadable)
    kube_proxy = _find(daemonsets, ("kube-proxy",), "kube-proxy")
    kp_data = _configmap(cluster, "kube-system", "kube-proxy", unreadable)
    mode = None
    if kp_data is not None:
        mode = str(_yaml(kp_data.get("config.conf", "")).get("mode") or "")
    cilium = _find(daemonsets, ("cilium",), "cilium/cilium")
    cilium_ns = (cilium.get("metadata") or {}).get("namespace", "kube-system") if cilium else "kube-system"
    cilium_data = _configmap(cluster, cilium_ns, "cilium-config", unreadable) if cilium else None
    antrea = _find(daemonsets, ("antrea-agent",), "antrea/antrea")
    enabled = proxy_all = None
    if antrea is not None:
        antrea_ns = (antrea.get("metadata") or {}).get("namespace", "kube-system")
        data = _configmap(cluster, antrea_ns, "antrea-config", unreadable) or {}
        conf = _yaml(data.get("antrea-agent.conf", ""))
        section, gates = _section(conf, "antreaProxy"), _section(conf, "featureGates")
        enabled = _bool(section.get("enable"))
        enabled = enabled if enabled is not None else _bool(gates.get("AntreaProxy"))
        proxy_all = _bool(section.get("proxyAll"))
    ovn = _find(daemonsets, ("ovnkube-node",), "ovn-kubernetes")
    return ProxyFacts(
        kube_proxy_daemonset=_ref("daemonset", kube_proxy) if kube_proxy else "",
        kube_proxy_mode=mode, kube_proxy_mode_flag=_flag(kube_proxy, "proxy-mode") if kube_proxy else "",
        kube_proxy_configmap="configmap kube-system/kube-proxy" if kp_data is not None else "",
        cilium_kpr=(cilium_data or {}).get("kube-proxy-replacement", "") if cilium_data is not None else None,
        cilium_socket_lb=(cilium_data or {}).get("bpf-lb-sock"),
        cilium_daemonset=_ref("daemonset", cilium) if cilium else "",
        antrea_proxy_enabled=enabled, antrea_proxy_all=proxy_all,
        antrea_daemonset=_ref("daemonset", antrea) if antrea else "",
        ovn_daemonset=_ref("daemonset", ovn) if ovn else "", unreadable=tuple(unreadable),
    )


def node_local_dns_present(cluster: Cluster) -> bool:
    """NodeLocal DNSCache runs as DaemonSet kube-system/node-local-dns (k8s addon manifest)."""
    for name in NODE_LOCAL_DNS_NAMES:
        try:
            cluster.request("GET", f"/apis/apps/v1/namespaces/kube-system/daemonsets/{name}",
                            what=f"get daemonset kube-system/{name}")
            return True
        except NotFoundError:
            continue
    return False
