"""The text views of `kdiag policy`, and parsing of the API's policy JSON."""

from __future__ import annotations

from kdiag.cluster.policy_parse import label_selector, parse_network_policy
from kdiag.model.policy.matrix import matrix
from kdiag.model.policy.objects import EVERYTHING, PolicyPort
from kdiag.render.policy import matrix_text, verdict_text
from tests.unit.policy_helpers import judge, netpol, pod, policies

WEB = pod("web/front", "10.244.1.5", {"app": "web"})
DB = pod("shop/db-0", "10.244.2.7", {"app": "db"}, ports=[("postgres", 5432, "TCP")])
DENY = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})


def test_verdict_text_shows_both_directions_and_the_fix() -> None:
    text = verdict_text(judge(WEB, DB, 5432, policies(DENY)), ("10.244.1.5 is pod web/front",))
    assert text.splitlines()[:2] == [
        "web/front -> shop/db-0 5432/TCP: DENIED",
        "note: 10.244.1.5 is pod web/front",
    ]
    assert "Egress from web/front: allowed (not isolated for egress; decided by default)" in text
    assert "Ingress to shop/db-0: denied (isolated; decided by NetworkPolicy)" in text
    assert "  NetworkPolicy shop/deny: no rule matches" in text
    assert "  fix: add to policy deny an ingress rule from pods app=web in namespace web" in text


def test_matrix_text_is_a_grid_for_few_pods_and_a_list_for_many() -> None:
    grid = matrix_text(matrix([WEB, DB], port=5432, protocol="TCP", policies=policies(DENY)))
    lines = grid.splitlines()
    assert (
        lines[0] == "2 pods, 4 ordered pairs on 5432/TCP: 3 allowed, 1 denied, 0 unknown "
        "(rows: source, columns: destination)"
    )
    assert lines[2].split() == ["1", "web/front", "yes", "no"]
    many = [pod(f"shop/p{i}", f"10.244.2.{i + 10}", {"app": "x"}) for i in range(40)]
    listed = matrix_text(matrix([WEB, *many], port=80, protocol="TCP", policies=policies(DENY)))
    assert "SOURCE      DESTINATION   VERDICT" in listed
    assert "... and " in listed  # 40 x 40 - 40 denied pairs within shop, plus web -> shop: more than 200
    assert matrix_text(matrix([], port=80, protocol="TCP", policies=policies())) == "No pods in scope.\n"


def test_parse_keeps_null_selectors_apart_from_empty_ones_and_reads_numeric_strings() -> None:
    assert label_selector(None) is None and label_selector({}) == EVERYTHING
    policy = parse_network_policy(
        {
            "metadata": {"namespace": "a", "name": "p"},
            "spec": {
                "podSelector": {},
                "ingress": [
                    {
                        "from": [{"namespaceSelector": {}}],
                        "ports": [{"port": "80"}, {"port": "http", "protocol": "udp"}],
                    }
                ],
            },
        }
    )
    rule = policy.ingress[0]
    assert rule.peers[0].pod_selector is None and rule.peers[0].namespace_selector == EVERYTHING
    assert rule.ports == (PolicyPort("TCP", 80), PolicyPort("UDP", "http"))
    assert policy.types == ("Ingress",)
