"""The `kind: Trace` document and text view of a whole TraceResult, built from plain model data: the
per-hop results are in the JSON (valid against docs/schema/trace.schema.json) and the text is the
per-hop table."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

from kdiag.model.datapath import relation_of
from kdiag.model.findings import context_for
from kdiag.model.hops import attach
from kdiag.model.observations import parse_observations
from kdiag.model.path import expected
from kdiag.model.targets import AddressScope, AddressTarget, PodTarget, Target
from kdiag.model.trace import Durations, ProbeDetails, TraceResult
from kdiag.model.verdict import judge
from kdiag.render.trace import trace_text
from tests.unit.test_verdict import FLANNEL, HELLO1, NODES, WORDPRESS, icmp, local, result, trace

DOCS = Path(__file__).resolve().parents[2] / "docs"


def validator() -> jsonschema.Draft202012Validator:
    probe = json.loads((DOCS / "schema" / "probe-result.schema.json").read_text())
    registry: Registry[object] = Registry().with_resource(probe["$id"], Resource.from_contents(probe))
    return jsonschema.Draft202012Validator(json.loads((DOCS / "schema" / "trace.schema.json").read_text()),
                                           registry=registry)


def traced(target: Target) -> TraceResult:
    relation = relation_of(HELLO1, target=target)
    path = expected(HELLO1, target=target, relation=relation, datapath=FLANNEL, nodes=NODES)
    doc = result(local=local(), icmp=icmp(ttl=62), traceroute=trace("10.244.1.1", "10.244.2.0", path.dst_ip,
                                                                      reached=True))
    seen = parse_observations(doc, source_node=HELLO1.node_name)
    context = context_for(NODES.values(), target=target)
    spine = attach(path, observations=seen, context=context)
    details = ProbeDetails("pod", "img", "raw", "auto", False, "", "default", "kdiag-probe-x", "probe",
                           "10.244.1.6", "x", "icmp", None, ("local", "icmp", "traceroute"),
                           Durations(0.1, 0.2, 0.3, 0.6))
    return TraceResult(HELLO1, target, relation, FLANNEL, path, doc, seen, spine,
                       judge(path, observations=seen, context=context, spine=spine), details, NODES)


def test_the_document_carries_the_per_hop_results_and_keeps_the_raw_probe_result() -> None:
    res = traced(PodTarget(WORDPRESS))
    doc = res.document()
    validator().validate(doc)
    assert doc["observed"]["kind"] == "ProbeResult"  # kept as the agent printed it
    assert [h["index"] for h in doc["hops"]] == [h["index"] for h in doc["expected"]["hops"]]
    by_kind = {h["kind"]: h for h in doc["hops"]}
    assert [s["ttl"] for s in by_kind["node-routing"]["observed"]] == [1]
    assert by_kind["node-routing"]["observed"][0]["point"] == {
        "node": "worker24", "device": "eth0", "direction": "egress", "by": "probe"}
    assert all(h["policy"] is None for h in doc["hops"]) and doc["offPath"] == []
    assert [h["direction"] for h in doc["hops"] if h["kind"] == "underlay"] == ["egress", "ingress"]


def test_an_address_destination_is_an_endpoint_without_name() -> None:
    doc = traced(AddressTarget("10.244.2.200", AddressScope.POD_RANGE, "worker25")).document()
    validator().validate(doc)
    assert doc["destination"] == {"namespace": None, "name": None, "ip": "10.244.2.200", "node": "worker25",
                                  "nodeIP": "10.250.0.25", "hostNetwork": False, "phase": None, "ready": None}
    node = traced(AddressTarget("10.250.0.25", AddressScope.NODE, "worker25")).document()
    assert node["destination"]["hostNetwork"] is True and node["relation"] == "pod-to-node"


def test_the_text_view_is_one_table_a_row_per_hop() -> None:
    text = trace_text(traced(PodTarget(WORDPRESS)))
    lines = text.splitlines()
    start = lines.index("  #     NODE       EXPECTED                                              OBSERVED")
    rows = lines[start + 1:start + 13]
    assert [row.split()[0] for row in rows] == [str(i) for i in range(12)]
    assert "traceroute TTL 2 answered by 10.244.2.0" in rows[8] and "worker25" in rows[8]
    assert "Verdict: OK" in text and "\x1b[" not in text
