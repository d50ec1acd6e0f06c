"""PolicyVerdict and PolicyMatrix documents, validated against docs/schema/."""

from __future__ import annotations

import json

from kdiag.model.policy.documents import policy_matrix_document, policy_verdict_document
from kdiag.model.policy.matrix import matrix
from kdiag.model.policy.objects import CniPolicy, Gap
from tests.unit.policy_helpers import anp, judge, labels, netpol, pod, policies
from tests.unit.test_documents import validator

WEB = pod("web/front", "10.244.1.5", {"app": "web"})
DB = pod("shop/db-0", "10.244.2.7", {"app": "db"}, ports=[("postgres", 5432, "TCP")])


def test_verdict_documents_validate_for_every_shape() -> None:
    schema = validator("policyverdict.schema.json")
    deny = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    allow = netpol(
        "shop/allow", {"podSelector": labels(app="db"), "ingress": [{"from": [{"namespaceSelector": {}}]}]}
    )
    admin = anp(
        "a",
        3,
        {
            "subject": {"namespaces": {}},
            "egress": [{"name": "x", "action": "Pass", "to": [{"namespaces": {}}]}],
        },
    )
    gap = Gap("NetworkPolicy", "web", "list networking.k8s.io/networkpolicies in namespace web")
    cases = [
        judge(WEB, DB, 5432, policies()),
        judge(WEB, DB, 5432, policies(deny)),
        judge(WEB, DB, 5432, policies(deny, allow, admin)),
        judge(WEB, DB, 5432, policies(deny, cni=[CniPolicy("CiliumNetworkPolicy", "shop", "x")], gaps=[gap])),
        judge(WEB, "8.8.8.8", 53, policies(), protocol="UDP"),
        judge(DB, DB, 5432, policies(deny)),
    ]
    for verdict in cases:
        document = policy_verdict_document(verdict, policies(deny, gaps=[gap]), ("note",))
        schema.validate(json.loads(json.dumps(document)))
    denied = policy_verdict_document(cases[1], policies(deny))
    assert denied["verdict"] == "denied" and denied["ingress"]["fix"].startswith("add to policy deny")
    assert denied["ingress"]["selecting"] == [
        {
            "kind": "NetworkPolicy",
            "namespace": "shop",
            "name": "deny",
            "priority": None,
            "effect": "no rule matches",
            "rule": None,
        }
    ]


def test_matrix_document_reads_source_then_destination() -> None:
    deny = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    table = matrix([WEB, DB], port=5432, protocol="TCP", policies=policies(deny))
    document = policy_matrix_document(table, policies(deny))
    validator("policymatrix.schema.json").validate(document)
    assert document["allowed"] == {
        "web/front": {"web/front": True, "shop/db-0": False},
        "shop/db-0": {"web/front": True, "shop/db-0": True},
    }
    assert document["summary"] == {"allowed": 3, "denied": 1, "unknown": 0}
    assert (document["port"], document["protocol"], document["pods"]) == (
        5432,
        "TCP",
        ["web/front", "shop/db-0"],
    )
