"""A trace through a Service, judged: the dns and service checks on ServicePlans built by the real
model functions and ProbeResults shaped as the agent prints them (tests/unit/service_helpers.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kdiag.errors import UsageError
from kdiag.model.checks import dns as dns_check
from kdiag.model.checks import service as service_check
from kdiag.model.findings import Code, Finding
from kdiag.model.hops import attach
from kdiag.model.observations import parse_observations
from kdiag.model.service_trace import agent_extras, named_services
from kdiag.model.targets import AddressScope, AddressTarget, PodTarget, ServiceTarget, endpoint_of, target_pod
from kdiag.model.verdict import judge
from tests.unit.service_helpers import (
    CLUSTER_IP,
    HTTP,
    KUBE_DNS,
    WP_A,
    WP_B,
    chain,
    dns_probe,
    no_path,
    plan,
    probe_doc,
    service_facts,
    slice_for,
    wp_service,
)
from tests.unit.test_verdict import CTX, path


def findings(p, doc) -> list[Finding]:  # type: ignore[no-untyped-def]
    facts = service_facts(p, doc)
    return service_check.CHECK.run(facts) + dns_check.CHECK.run(facts)


def codes(found: list[Finding]) -> list[str]:
    return [f.code.value for f in found]


def one(found: list[Finding], code: Code) -> Finding:
    hits = [f for f in found if f.code is code]
    assert len(hits) == 1, codes(found)
    return hits[0]


def test_healthy_chain_is_described_link_by_link() -> None:
    p = plan()
    found = findings(p, probe_doc(p))
    assert codes(found) == ["SVC_AS_EXPECTED", "DNS_AS_EXPECTED"]
    svc = one(found, Code.SVC_AS_EXPECTED).message
    assert "ClusterIP 10.96.0.50:80 answered, translated by kube-proxy (nftables) on worker24" in svc
    assert "2/2 endpoint(s) answer" in svc
    assert (
        "wp.default.svc.cluster.local. -> 10.96.0.50 from nameserver 10.96.0.10"
        in one(found, Code.DNS_AS_EXPECTED).message
    )


def test_plan_covers_each_node_and_asks_the_agent_for_dns_and_targets() -> None:
    p = plan()
    assert [t.role for t in p.targets] == ["frontend", "endpoint", "endpoint"]
    assert {t.backend.node_name for t in p.endpoints if t.backend} == {"worker24", "worker25"}
    extras = agent_extras(p)
    assert extras["dns"] == {
        "server": KUBE_DNS,
        "names": ["wp.default.svc.cluster.local.", "wp.svc.cluster.local.", "wp.cluster.local.", "wp."],
    }
    assert extras["targets"][0] == {"target": CLUSTER_IP, "port": 80, "protocol": "tcp"}
    # the path goes to an endpoint kube-proxy uses, never to the source itself
    assert p.path_endpoint is not None and p.path_endpoint.address in (WP_A.pod_ip, WP_B.pod_ip)


def test_selector_matching_nothing_is_no_endpoints_and_the_verdict_is_a_problem() -> None:
    p = plan(wp_service(selector={"app": "nothing"}), slices=())
    assert p.path_endpoint is None and [t.role for t in p.targets] == ["frontend"]
    doc = no_path(probe_doc(p, front="filtered", endpoints=()))
    f = one(findings(p, doc), Code.SVC_NO_ENDPOINTS)
    assert "selector app=nothing matches no pod in namespace default" in f.message
    assert "ClusterIP 10.96.0.50:80: no answer" in f.message
    seen = parse_observations(doc, source_node="worker24")
    exp = path()
    verdict = judge(
        exp,
        observations=seen,
        context=CTX,
        spine=attach(exp, observations=seen, context=CTX),
        service=chain(p, doc),
    )
    assert verdict.status == "problem" and verdict.findings[0].code is Code.SVC_NO_ENDPOINTS


def test_unready_pods_are_no_ready_endpoints() -> None:
    p = plan(slices=(slice_for(WP_A, WP_B, ready=False),))
    f = one(findings(p, probe_doc(p, endpoints=("filtered", "filtered"))), Code.SVC_NO_ENDPOINTS)
    assert "no endpoint of default/wp is ready" in f.message and "readiness" in f.hint


def test_wrong_numeric_target_port_is_refused_by_the_endpoints() -> None:
    wrong = replace(HTTP, target_port=8081)
    p = plan(wp_service(ports=(wrong,)), slices=(slice_for(WP_A, WP_B, port=8081),))
    f = one(findings(p, probe_doc(p, front="closed", endpoints=("closed", "closed"))), Code.SVC_PORT_MISMATCH)
    assert f.severity == "error" and "2 of 2 endpoint(s) of default/wp refuse TCP" in f.message
    assert "declare containerPorts 80" in f.hint and f.node in ("worker24", "worker25")


def test_named_target_port_the_pods_do_not_declare() -> None:
    p = plan(wp_service(ports=(replace(HTTP, target_port="metrics"),)), slices=())
    found = findings(p, no_path(probe_doc(p, front="filtered", endpoints=())))
    assert "SVC_PORT_MISMATCH" in codes(found) and "SVC_NO_ENDPOINTS" in codes(found)
    assert "targetPort 'metrics' is not a containerPort" in one(found, Code.SVC_PORT_MISMATCH).message


def test_frontend_silent_while_every_endpoint_answers_is_not_translated_on_the_source_node() -> None:
    p = plan()
    f = one(findings(p, probe_doc(p, front="filtered")), Code.SVC_NOT_TRANSLATED)
    assert f.node == "worker24" and "kube-proxy (nftables) does not translate it on worker24" in f.message
    assert "nft list map ip kube-proxy service-ips | grep 10.96.0.50" in f.hint


def test_one_replica_silent_names_it_and_its_node_not_the_translation() -> None:
    p = plan()
    bad = next(t for t in p.endpoints if t.backend and t.backend.node_name == "worker25")
    shown = tuple("filtered" if t is bad else "open" for t in p.endpoints)
    found = findings(p, probe_doc(p, front="filtered", endpoints=shown))
    assert "SVC_NOT_TRANSLATED" not in codes(found)
    f = one(found, Code.ENDPOINT_UNREACHABLE)
    assert f.node == "worker25" and "10.244.2.3:80 (wp-a, on worker25)" in f.message
    assert "1 of 2" in f.message and "1 answer" in f.message and "the ClusterIP failed too" in f.message


def test_dns_timeout_with_coredns_scaled_to_zero() -> None:
    p = plan(dns_endpoints=0)
    doc = probe_doc(p, dns=dns_probe("wp.default.svc.cluster.local.", "timeout", rcode=None))
    f = one(findings(p, doc), Code.DNS_FAILED)
    assert "nameserver 10.96.0.10 (ClusterIP of service kube-system/kube-dns) gave no answer" in f.message
    assert "kube-system/kube-dns has no ready endpoint: CoreDNS is scaled to zero" in f.hint and f.node == ""


def test_dns_timeout_with_coredns_running_points_at_the_source_node() -> None:
    p = plan(dns_endpoints=2)
    doc = probe_doc(p, dns=dns_probe("wp.default.svc.cluster.local.", "timeout", rcode=None))
    f = one(findings(p, doc), Code.DNS_FAILED)
    assert f.node == "worker24" and "kube-proxy (nftables) on worker24" in f.hint


def test_nxdomain_for_a_service_the_api_has_is_a_failure() -> None:
    p = plan()
    f = one(findings(p, probe_doc(p, dns=dns_probe("wp.", "nxdomain", rcode="NXDOMAIN"))), Code.DNS_FAILED)
    assert "answered NXDOMAIN" in f.message and "wp.default.svc.cluster.local. -> 10.96.0.50" in f.message


def test_another_address_is_a_mismatch() -> None:
    p = plan()
    doc = probe_doc(p, dns=dns_probe("wp.default.svc.cluster.local.", "answer", ("10.96.9.9",)))
    f = one(findings(p, doc), Code.DNS_MISMATCH)
    assert "expected 10.96.0.50 (the ClusterIP), got 10.96.9.9" in f.message


def test_headless_service_probes_the_endpoints_only() -> None:
    p = plan(wp_service(cluster_ips=(), headless=True))
    assert [t.role for t in p.targets] == ["endpoint", "endpoint"]
    found = findings(
        p, probe_doc(p, dns=dns_probe("wp.default.svc.cluster.local.", "answer", (WP_A.pod_ip, WP_B.pod_ip)))
    )
    assert codes(found) == ["SVC_AS_EXPECTED", "DNS_AS_EXPECTED"]
    assert "headless: no ClusterIP" in found[0].message


def test_max_endpoints_bounds_the_probes_and_says_so() -> None:
    p = plan(limit=1)
    assert len(p.endpoints) == 1
    assert "(2 in all, at most 1 probed: --max-endpoints)" in findings(p, probe_doc(p))[0].message


def test_a_service_target_is_traced_to_its_endpoint() -> None:
    target = ServiceTarget("default", "wp", (CLUSTER_IP,), via=PodTarget(WP_A))
    assert endpoint_of(target).ip == WP_A.pod_ip and target_pod(target) is WP_A
    bare = ServiceTarget("default", "wp", (CLUSTER_IP,))
    assert endpoint_of(bare).ip == CLUSTER_IP and target_pod(bare) is None
    address = ServiceTarget(
        "default", "wp", via=AddressTarget("10.244.2.9", AddressScope.POD_RANGE, "worker25")
    )
    assert endpoint_of(address).node == "worker25"


@pytest.mark.parametrize(
    ("names", "keys"),
    [
        (
            ("wp.default.default.svc.cluster.local.", "wp.default.svc.cluster.local.", "wp.default."),
            (("default", "default"), ("default", "wp")),
        ),
        (("x.example.com.",), ()),
        (("a.wp.default.svc.cluster.local.",), (("default", "wp"),)),
    ],
)
def test_named_services_are_the_lookups_a_prediction_needs(
    names: tuple[str, ...], keys: tuple[tuple[str, str], ...]
) -> None:
    assert named_services(names) == keys


def test_the_agent_is_asked_for_the_path_to_one_endpoint_plus_dns_and_targets() -> None:
    from kdiag.trace.request import TraceRequest
    from kdiag.trace.service_ends import ServiceEnds, _destination, service_probes

    p = plan()
    backend = p.path_endpoint
    assert backend is not None
    pod = WP_B if backend.address == WP_B.pod_ip else WP_A
    ends = ServiceEnds(ServiceTarget("default", "wp", (CLUSTER_IP,), via=PodTarget(pod)), p)
    probes = service_probes(ends, TraceRequest("a", "svc/wp"))
    assert (probes.protocol, probes.port) == ("tcp", 80)
    assert probes.probes == ("local", "icmp", "traceroute", "arp", "pmtu", "tcp", "dns", "targets")
    none = plan(wp_service(selector={"app": "nothing"}), slices=(), dns=None)
    bare = ServiceEnds(ServiceTarget("default", "wp", (CLUSTER_IP,)), none)
    assert service_probes(bare, TraceRequest("a", "svc/wp")).probes == ("local", "targets")
    # what is a Service form, and what is left to the pod/address resolution
    assert _destination("svc/default/wp") is not None and _destination("default/wp") is None
    assert _destination("wp.default") is not None and _destination("Bad_Name") is None
    with pytest.raises(UsageError, match="invalid port"):
        _destination("10.96.0.1:99999")
