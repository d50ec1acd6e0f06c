"""A whole TraceResult through a Service: the Trace document's `service` and `dns` sections (valid
against docs/schema/trace.schema.json) and the text view's chain DNS -> ClusterIP -> endpoints."""

from __future__ import annotations

from kdiag.model.datapath import relation_of
from kdiag.model.findings import context_for
from kdiag.model.hops import attach
from kdiag.model.observations import parse_observations
from kdiag.model.path import expected
from kdiag.model.service_trace import ServicePlan, service_trace
from kdiag.model.targets import PodTarget, ServiceTarget
from kdiag.model.trace import Durations, ProbeDetails, TraceResult
from kdiag.model.verdict import judge
from kdiag.render.trace import trace_text
from tests.unit.service_helpers import CLUSTER_IP, WP_A, WP_B, no_path, plan, probe_doc, wp_service
from tests.unit.test_trace_document import validator
from tests.unit.test_verdict import FLANNEL, HELLO1, NODES


def traced(p: ServicePlan, doc: dict[str, object]) -> TraceResult:
    backend = p.path_endpoint
    pod = {WP_A.pod_ip: WP_A, WP_B.pod_ip: WP_B}.get(backend.address) if backend else None
    target = ServiceTarget("default", "wp", (CLUSTER_IP,), via=PodTarget(pod) if pod else None)
    relation = relation_of(HELLO1, target=target)
    path = expected(HELLO1, target=target, relation=relation, datapath=FLANNEL, nodes=NODES)
    seen = parse_observations(doc, source_node=HELLO1.node_name)
    context = context_for(NODES.values(), target=target, port=80)
    spine = attach(path, observations=seen, context=context)
    chain = service_trace(p, doc)
    details = ProbeDetails(
        "pod",
        "img",
        "raw",
        "auto",
        False,
        "",
        "default",
        "kdiag-probe-x",
        "probe",
        "10.244.1.2",
        "x",
        "tcp",
        80,
        tuple(doc["probes"]),  # type: ignore[arg-type]
        Durations(0.1, 0.2, 0.3, 0.6),
    )
    verdict = judge(path, observations=seen, context=context, spine=spine, service=chain)
    return TraceResult(
        HELLO1, target, relation, FLANNEL, path, doc, seen, spine, verdict, details, NODES, service=chain
    )


def test_the_document_gains_service_and_dns_sections() -> None:
    p = plan()
    doc = traced(p, probe_doc(p, ttl=64)).document()  # same node, bridge
    validator().validate(doc)
    svc, dns = doc["service"], doc["dns"]
    assert (svc["name"], svc["clusterIPs"], svc["port"]["targetPort"]) == ("wp", [CLUSTER_IP], "http")
    assert svc["translatedBy"]["implementation"] == "kube-proxy" and svc["translatedBy"]["mode"] == "nftables"
    assert svc["frontends"][0]["result"]["state"] == "open"
    assert sorted((e["address"], e["node"], e["probed"], e["result"]["state"]) for e in svc["endpoints"]) == [
        ("10.244.1.9", "worker24", True, "open"),
        ("10.244.2.3", "worker25", True, "open"),
    ]
    assert dns["expected"]["addresses"] == [CLUSTER_IP] and dns["observed"]["outcome"] == "answer"
    assert dns["queryNames"][0] == "wp.default.svc.cluster.local."
    assert doc["destination"]["ip"] == svc["pathEndpoint"] == "10.244.1.9"  # worker24 sorts first
    assert doc["verdict"]["status"] == "ok"
    codes = [f["code"] for f in doc["verdict"]["findings"]]
    assert codes[0] == "PATH_AS_EXPECTED" and {"SVC_AS_EXPECTED", "DNS_AS_EXPECTED"} <= set(codes)


def test_a_pod_trace_has_null_service_and_dns() -> None:
    from tests.unit.test_trace_document import traced as pod_traced
    from tests.unit.test_verdict import WORDPRESS

    doc = pod_traced(PodTarget(WORDPRESS)).document()
    assert doc["service"] is None and doc["dns"] is None


def test_the_text_view_shows_the_chain_with_each_links_result() -> None:
    p = plan()
    bad = tuple(
        "filtered" if t.backend and t.backend.node_name == "worker25" else "open" for t in p.endpoints
    )
    text = trace_text(traced(p, probe_doc(p, endpoints=bad)))
    lines = text.splitlines()
    start = lines.index("Service chain  (svc/wp = service default/wp: DNS -> ClusterIP -> endpoints)")
    block = "\n".join(lines[start : start + 12])
    assert (
        "  DNS        wp asked to nameserver 10.96.0.10 (ClusterIP of service kube-system/kube-dns)" in block
    )
    assert "observed wp.default.svc.cluster.local. -> 10.96.0.50 in 1.2 ms  ok" in block
    assert (
        "ClusterIP  10.96.0.50 port 80/TCP (http) -> targetPort http, translated by kube-proxy (nftables)"
        in block
    )
    assert "observed 10.96.0.50:80 open (SYN-ACK)" in block
    row = next(line for line in lines if line.strip().startswith("10.244.2.3:80"))
    assert "wp-a" in row and "worker25" in row and "no answer" in row
    assert "ENDPOINT_UNREACHABLE" in text and "Verdict: PROBLEM" in text


def test_no_endpoints_is_a_problem_with_the_path_ending_at_the_cluster_ip() -> None:
    p = plan(wp_service(selector={"app": "nothing"}), slices=())
    result = traced(p, no_path(probe_doc(p, front="filtered", endpoints=())))
    doc = result.document()
    validator().validate(doc)
    assert doc["destination"]["ip"] == CLUSTER_IP and doc["service"]["pathEndpoint"] is None
    assert (
        doc["verdict"]["status"] == "problem" and doc["verdict"]["findings"][0]["code"] == "SVC_NO_ENDPOINTS"
    )
    assert "selector app=nothing matches no pod" in trace_text(result)
