"""Trace destinations through Services and DNS names, --port, and which endpoints get probed."""

from __future__ import annotations

import pytest

from kdiag.errors import UsageError
from kdiag.exitcodes import ExitCode
from kdiag.model.service import Backend
from kdiag.model.service_objects import ServiceInfo
from kdiag.model.service_targets import (
    ServiceDestination,
    choose_endpoints,
    parse_destination,
    parse_port_option,
    services_with_address,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("svc/web", ServiceDestination("service", "svc/web", name="web")),
    ("svc/prod/web", ServiceDestination("service", "svc/prod/web", name="web", namespace="prod")),
    ("service/web", ServiceDestination("service", "service/web", name="web")),
    ("10.96.0.10", ServiceDestination("address", "10.96.0.10", address="10.96.0.10")),
    ("10.96.0.10:443", ServiceDestination("address", "10.96.0.10:443", address="10.96.0.10", port=443)),
    ("web", ServiceDestination("name", "web", name="web")),
    ("web.prod", ServiceDestination("dns", "web.prod", name="web.prod")),
    ("Web.Prod.svc", ServiceDestination("dns", "Web.Prod.svc", name="web.prod.svc")),
    ("web.prod.svc.cluster.local.", ServiceDestination("dns", "web.prod.svc.cluster.local.",
                                                       name="web.prod.svc.cluster.local.")),
])
def test_parse_destination(text: str, expected: ServiceDestination) -> None:
    assert parse_destination(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("svc/", "invalid service reference"), ("svc/a/b/c", "invalid service reference"),
    ("svc/Web_1", "invalid service reference"), ("10.0.0.1:0", "invalid port"),
    ("10.0.0.1:http", "invalid port"), ("10.0.0.1:70000", "invalid port"),
    ("-web", "cannot make a destination"), ("web..prod", "cannot make a destination"),
    ("a" * 64, "cannot make a destination"),
])
def test_bad_destinations_are_one_line_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_destination(text)
    assert info.value.exit_code == ExitCode.USAGE and "\n" not in info.value.one_line()


def test_port_option() -> None:
    assert parse_port_option(None) is None and parse_port_option("") is None
    assert parse_port_option("8080") == 8080 and parse_port_option("http-web") == "http-web"
    for bad in ("0", "65536", "HTTP", "a_b", "-x", "123456789012345x", "123"[:0] + "9" * 6):
        with pytest.raises(UsageError):
            parse_port_option(bad)


def test_services_with_address() -> None:
    web = ServiceInfo("default", "web", cluster_ips=("10.96.0.20",))
    assert services_with_address("10.96.0.20", [web, ServiceInfo("default", "x")]) == [web]
    assert services_with_address("10.96.0.21", [web]) == []


def backend(address: str, node: str, used: bool = True) -> Backend:
    return Backend(address, 80, "TCP", node_name=node, used=used)


def test_choose_endpoints_covers_each_node_first() -> None:
    backends = [backend(f"10.244.1.{i}", "n1") for i in range(5)] + [backend("10.244.2.1", "n2"),
                                                                      backend("10.244.3.1", "n3")]
    chosen = choose_endpoints(backends, limit=4)
    assert [b.node_name for b in chosen] == ["n1", "n2", "n3", "n1"]
    assert len(choose_endpoints(backends)) == 7  # default limit 10


def test_choose_endpoints_prefers_used_then_fills_with_unused() -> None:
    backends = [backend("10.244.9.1", "n0", used=False), backend("10.244.1.1", "n1"),
                backend("10.244.2.1", "n2")]
    assert [b.address for b in choose_endpoints(backends, limit=2)] == ["10.244.1.1", "10.244.2.1"]
    assert [b.address for b in choose_endpoints(backends, limit=3)][-1] == "10.244.9.1"
    assert choose_endpoints(backends, limit=0) == ()


def test_l4_targets_frontend_then_endpoints_with_their_own_ports() -> None:
    from kdiag.model.service import Translation
    from kdiag.model.service_objects import ServicePort
    from kdiag.model.service_targets import l4_targets

    port = ServicePort(80, name="http", target_port="web")
    backends = (Backend("10.244.1.5", 8080, "TCP", node_name="n1", used=True),
                Backend("10.244.2.5", 9090, "TCP", node_name="n2", used=True),
                Backend("10.244.2.6", None, "TCP", node_name="n2"))
    translation = Translation(ServiceInfo("default", "web"), port, ("10.96.0.20",), backends, "Cluster", "n1")
    targets = l4_targets(translation)
    assert [(t.role, t.to_spec()) for t in targets] == [
        ("frontend", {"target": "10.96.0.20", "port": 80, "protocol": "tcp"}),
        ("endpoint", {"target": "10.244.1.5", "port": 8080, "protocol": "tcp"}),
        ("endpoint", {"target": "10.244.2.5", "port": 9090, "protocol": "tcp"})]
    assert [t.role for t in l4_targets(translation, limit=1)] == ["frontend", "endpoint"]
    sctp = Translation(ServiceInfo("default", "web"), ServicePort(80, protocol="SCTP"), (), backends,
                       "Cluster", "")
    assert l4_targets(sctp) == ()
