"""The API objects of Service translation, as kdiag's own frozen dataclasses: Service,
EndpointSlice and its endpoints. `kdiag.cluster.services` parses raw JSON into these; the rules
that use them are in `kdiag.model.service` (translation) and `kdiag.model.service_dns`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds; core/v1 SessionAffinityConfig default
HEADLESS = "None"  # spec.clusterIP of a headless Service


@dataclass(frozen=True)
class ServicePort:
    """One `spec.ports[]` entry. `target_port` is an int or a containerPort name; the API
    defaults an absent targetPort to `port`, and the parser does the same."""

    port: int
    name: str = ""
    protocol: str = "TCP"
    target_port: int | str = 0
    node_port: int = 0
    app_protocol: str = ""

    @property
    def named_target(self) -> bool:
        return isinstance(self.target_port, str)

    def label(self) -> str:
        return f"{self.port}/{self.protocol}" + (f" ({self.name})" if self.name else "")


@dataclass(frozen=True)
class ServiceInfo:
    namespace: str
    name: str
    type: str = "ClusterIP"  # ClusterIP | NodePort | LoadBalancer | ExternalName
    cluster_ips: tuple[str, ...] = ()  # empty for headless and ExternalName Services
    headless: bool = False  # spec.clusterIP "None"
    ports: tuple[ServicePort, ...] = ()
    selector: Mapping[str, str] = field(default_factory=dict)  # empty: endpoints are managed by hand
    external_name: str = ""
    session_affinity: str = "None"  # None | ClientIP
    affinity_timeout: int = 0  # seconds; 0 unless ClientIP
    internal_traffic_policy: str = "Cluster"  # Cluster | Local
    external_traffic_policy: str = ""  # Cluster | Local, only for NodePort / LoadBalancer
    publish_not_ready: bool = False  # spec.publishNotReadyAddresses

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def cluster_ip(self) -> str:
        return self.cluster_ips[0] if self.cluster_ips else ""

    @property
    def is_external_name(self) -> bool:
        return self.type == "ExternalName"


@dataclass(frozen=True)
class EndpointPort:
    name: str = ""
    port: int | None = None
    protocol: str = "TCP"
    app_protocol: str = ""


@dataclass(frozen=True)
class SliceEndpoint:
    """One `endpoints[]` entry of an EndpointSlice; conditions keep the API's nil as None."""

    addresses: tuple[str, ...]
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None
    node_name: str = ""
    zone: str = ""
    hostname: str = ""
    target_kind: str = ""  # targetRef.kind, "Pod" for selector-managed endpoints
    target_namespace: str = ""
    target_name: str = ""

    # kube-proxy's reading of nil conditions (pkg/proxy/endpointslicecache.go)
    @property
    def is_ready(self) -> bool:
        return self.ready is None or self.ready

    @property
    def is_serving(self) -> bool:
        return self.serving is None or self.serving

    @property
    def is_terminating(self) -> bool:
        return bool(self.terminating)

    @property
    def pod_key(self) -> str:
        if self.target_kind != "Pod" or not self.target_name:
            return ""
        return f"{self.target_namespace}/{self.target_name}"


@dataclass(frozen=True)
class EndpointSliceInfo:
    namespace: str
    name: str
    service_name: str = ""  # label kubernetes.io/service-name
    address_type: str = "IPv4"
    ports: tuple[EndpointPort, ...] = ()
    endpoints: tuple[SliceEndpoint, ...] = ()
    managed_by: str = ""  # label endpointslice.kubernetes.io/managed-by
