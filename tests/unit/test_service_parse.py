"""Raw Service / EndpointSlice JSON (as the API returns it) to kdiag's dataclasses: the API's
defaults and nil conditions kept as the API means them (docs: Service, EndpointSlices)."""

from __future__ import annotations

from kdiag.cluster.services import parse_dns_config, parse_endpoint_slice, parse_service
from kdiag.model.service_dns import DnsConfig


def test_service_defaults_and_target_port_forms() -> None:
    service = parse_service({
        "metadata": {"namespace": "default", "name": "web"},
        "spec": {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"], "selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http-web-svc"},
                           {"name": "alt", "port": 81, "targetPort": 8081, "protocol": "UDP"},
                           {"name": "plain", "port": 82}]}})
    assert [(p.port, p.target_port, p.protocol) for p in service.ports] == [
        (80, "http-web-svc", "TCP"), (81, 8081, "UDP"), (82, 82, "TCP")]
    assert (service.type, service.session_affinity, service.affinity_timeout) == ("ClusterIP", "None", 0)
    assert (service.internal_traffic_policy, service.headless) == ("Cluster", False)


def test_headless_service_has_no_cluster_ips() -> None:
    spec = {"clusterIP": "None", "clusterIPs": ["None"]}
    service = parse_service({"metadata": {"name": "db"}, "spec": spec})
    assert service.headless and service.cluster_ips == () and service.cluster_ip == ""


def test_client_ip_affinity_timeout() -> None:
    spec = {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}
    assert parse_service({"spec": spec}).affinity_timeout == 60


def test_endpoint_slice_keeps_nil_conditions_and_the_target_ref() -> None:
    sl = parse_endpoint_slice({
        "metadata": {"namespace": "default", "name": "web-abc",
                     "labels": {"kubernetes.io/service-name": "web",
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"port": None}],
        "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {}, "nodeName": "n1",
                       "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"}}]})
    assert (sl.service_name, sl.managed_by) == ("web", "endpointslice-controller.k8s.io")
    assert [(p.name, p.port) for p in sl.ports] == [("http", 8080), ("", None)]
    endpoint = sl.endpoints[0]
    assert (endpoint.ready, endpoint.serving, endpoint.terminating) == (None, None, None)
    assert endpoint.pod_key == "default/web-1" and endpoint.is_ready


def test_dns_config() -> None:
    raw = {"nameservers": ["192.0.2.1"], "searches": ["a.example"],
           "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    expected = DnsConfig(("192.0.2.1",), ("a.example",), (("ndots", "2"), ("edns0", None)))
    assert parse_dns_config(raw) == expected
    assert parse_dns_config(None) is None
