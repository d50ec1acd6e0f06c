"""NetworkPolicy v1 semantics, case by case, from the Kubernetes documentation
(https://kubernetes.io/docs/concepts/services-networking/network-policies/) and the API reference
of networking.k8s.io/v1 NetworkPolicySpec / NetworkPolicyPeer / NetworkPolicyPort."""

from __future__ import annotations

import pytest

from tests.unit.policy_helpers import judge, labels, netpol, pod, policies

WEB = pod("web/front", "10.244.1.5", {"app": "web", "pod-template-hash": "abc"})
DB = pod("shop/db-0", "10.244.2.7", {"app": "db"}, ports=[("postgres", 5432, "TCP")])
SHOP_WEB = pod("shop/web-1", "10.244.2.9", {"app": "web"})
OTHER = pod("other/x", "10.244.3.3", {"app": "web", "team": "blue"})

DENY_INGRESS = netpol("shop/db-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})


def test_no_policy_allows_both_directions_and_isolates_nothing() -> None:
    """Docs, "The two sorts of pod isolation": by default a pod is non-isolated for egress and ingress."""
    verdict = judge(WEB, DB, 5432, policies())
    assert verdict.verdict == "allowed"
    assert not verdict.egress.isolated and not verdict.ingress.isolated
    assert verdict.ingress.decided_by == "default" and verdict.ingress.selecting == ()


def test_default_deny_ingress_denies_and_names_the_smallest_fix() -> None:
    """Docs, "Default deny all ingress traffic": podSelector {} with policyTypes [Ingress] and no rules."""
    verdict = judge(WEB, DB, 5432, policies(DENY_INGRESS))
    assert (verdict.verdict, verdict.egress.verdict, verdict.ingress.verdict) == (
        "denied",
        "allowed",
        "denied",
    )
    assert verdict.ingress.isolated and verdict.ingress.rule is None
    assert [(s.name, s.effect) for s in verdict.ingress.selecting] == [("db-ingress", "no rule matches")]
    assert verdict.ingress.fix == (
        "add to policy db-ingress an ingress rule from pods app=web in namespace web, "
        "port 5432/TCP (named postgres)"
    )


def test_policy_types_default_ingress_always_egress_only_with_egress_rules() -> None:
    """API reference, policyTypes: if not specified, Ingress always, Egress if the policy has egress rules."""
    only_ingress_rules = netpol("shop/p", {"podSelector": {}, "ingress": [{}]})
    assert only_ingress_rules.types == ("Ingress",)
    with_egress = netpol(
        "shop/p", {"podSelector": {}, "egress": [{"to": [{"podSelector": labels(app="x")}]}]}
    )
    assert with_egress.types == ("Ingress", "Egress")
    verdict = judge(DB, SHOP_WEB, 80, policies(with_egress))
    assert verdict.egress.isolated and verdict.egress.verdict == "denied"
    assert verdict.egress.fix.startswith("add to policy p an egress rule to pods app=web in namespace shop")
    # ...and with no egress rules but policyTypes omitted, egress stays open.
    assert judge(DB, SHOP_WEB, 80, policies(only_ingress_rules)).egress.isolated is False


def test_explicit_egress_only_leaves_ingress_open_even_with_ingress_rules_listed() -> None:
    policy = netpol("shop/p", {"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]})
    verdict = judge(WEB, DB, 5432, policies(policy))
    assert not verdict.ingress.isolated and verdict.ingress.verdict == "allowed"


def test_allow_from_pod_selector_names_the_rule() -> None:
    policy = netpol(
        "shop/db",
        {
            "podSelector": labels(app="db"),
            "ingress": [{"from": [{"podSelector": labels(app="web")}], "ports": [{"port": 5432}]}],
        },
    )
    verdict = judge(SHOP_WEB, DB, 5432, policies(policy))
    assert verdict.verdict == "allowed"
    rule = verdict.ingress.rule
    assert rule is not None and (rule.name, rule.index, rule.direction) == ("db", 1, "Ingress")
    assert rule.text == "from pods app=web in namespace shop; ports 5432/TCP"


def test_pod_selector_alone_selects_only_the_policys_namespace() -> None:
    """API reference, NetworkPolicyPeer.podSelector: pods in the same namespace as the NetworkPolicy."""
    policy = netpol(
        "shop/db", {"podSelector": {}, "ingress": [{"from": [{"podSelector": labels(app="web")}]}]}
    )
    assert judge(SHOP_WEB, DB, 5432, policies(policy)).verdict == "allowed"
    assert judge(WEB, DB, 5432, policies(policy)).verdict == "denied"  # same labels, other namespace


def test_namespace_selector_alone_selects_every_pod_there() -> None:
    ns = {
        "web": {"kubernetes.io/metadata.name": "web", "tier": "front"},
        "other": {"kubernetes.io/metadata.name": "other"},
        "shop": {"kubernetes.io/metadata.name": "shop"},
    }
    policy = netpol(
        "shop/db", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": labels(tier="front")}]}]}
    )
    assert judge(WEB, DB, 1, policies(policy, ns=ns)).verdict == "allowed"
    assert judge(OTHER, DB, 1, policies(policy, ns=ns)).verdict == "denied"
    assert (
        judge(SHOP_WEB, DB, 1, policies(policy, ns=ns)).verdict == "denied"
    )  # its own namespace is not front


@pytest.mark.parametrize(
    ("peers", "web_front", "other_web"),
    [
        # one peer with both selectors: pods app=web AND in namespace web
        (
            [
                {
                    "namespaceSelector": labels(**{"kubernetes.io/metadata.name": "web"}),
                    "podSelector": labels(app="web"),
                }
            ],
            True,
            False,
        ),
        # two peers: namespace web (any pod) OR pods app=web in the policy's namespace (shop)
        (
            [
                {"namespaceSelector": labels(**{"kubernetes.io/metadata.name": "web"})},
                {"podSelector": labels(app="web")},
            ],
            True,
            False,
        ),
        # both in one peer, with a namespace selector that does not hold: nothing
        ([{"namespaceSelector": labels(team="none"), "podSelector": labels(app="web")}], False, False),
        # namespaceSelector {} with podSelector: app=web pods in every namespace
        ([{"namespaceSelector": {}, "podSelector": labels(app="web")}], True, True),
    ],
)
def test_both_selectors_in_one_peer_are_and_two_peers_are_or(
    peers: list[dict[str, object]], web_front: bool, other_web: bool
) -> None:
    """Docs, "Behavior of to and from selectors": one element with both is AND; two elements are OR."""
    policy = netpol("shop/db", {"podSelector": {}, "ingress": [{"from": peers}]})
    assert (judge(WEB, DB, 1, policies(policy)).verdict == "allowed") is web_front
    assert (judge(OTHER, DB, 1, policies(policy)).verdict == "allowed") is other_web


def test_two_peers_or_also_admits_the_pod_selector_side() -> None:
    peers = [
        {"namespaceSelector": labels(**{"kubernetes.io/metadata.name": "web"})},
        {"podSelector": labels(app="web")},
    ]
    policy = netpol("shop/db", {"podSelector": {}, "ingress": [{"from": peers}]})
    assert judge(SHOP_WEB, DB, 1, policies(policy)).verdict == "allowed"  # app=web in shop
    assert (
        judge(
            SHOP_WEB,
            DB,
            1,
            policies(
                netpol("shop/db", {"podSelector": {}, "ingress": [{"from": [{**peers[0], **peers[1]}]}]})
            ),
        ).verdict
        == "denied"
    )  # merged into one peer: AND


def test_empty_pod_selector_peer_is_every_pod_of_the_policys_namespace() -> None:
    policy = netpol("shop/db", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]})
    assert judge(SHOP_WEB, DB, 1, policies(policy)).verdict == "allowed"
    assert judge(WEB, DB, 1, policies(policy)).verdict == "denied"


@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        ({"key": "app", "operator": "In", "values": ["db", "cache"]}, True),
        ({"key": "app", "operator": "In", "values": ["cache"]}, False),
        ({"key": "app", "operator": "NotIn", "values": ["cache"]}, True),
        ({"key": "tier", "operator": "NotIn", "values": ["x"]}, True),  # NotIn holds when the key is absent
        ({"key": "app", "operator": "Exists"}, True),
        ({"key": "tier", "operator": "Exists"}, False),
        ({"key": "tier", "operator": "DoesNotExist"}, True),
        ({"key": "app", "operator": "DoesNotExist"}, False),
    ],
)
def test_match_expressions_select_the_pod(expression: dict[str, object], selected: bool) -> None:
    """Label selector semantics (Labels and Selectors, "Set-based requirement")."""
    policy = netpol(
        "shop/deny", {"podSelector": {"matchExpressions": [expression]}, "policyTypes": ["Ingress"]}
    )
    assert judge(WEB, DB, 5432, policies(policy)).ingress.isolated is selected


def test_match_labels_and_expressions_are_anded() -> None:
    selector = {"matchLabels": {"app": "db"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    policy = netpol("shop/deny", {"podSelector": selector, "policyTypes": ["Ingress"]})
    assert not judge(WEB, DB, 5432, policies(policy)).ingress.isolated


def test_ip_block_with_except() -> None:
    """API reference, IPBlock: cidr, and except entries inside it that are excluded."""
    policy = netpol(
        "shop/db",
        {
            "podSelector": {},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.3.0/24"]}}]}],
        },
    )
    assert judge(WEB, DB, 1, policies(policy)).verdict == "allowed"  # 10.244.1.5
    assert judge(OTHER, DB, 1, policies(policy)).verdict == "denied"  # 10.244.3.3 is excepted
    assert judge("192.168.9.9", DB, 1, policies(policy)).verdict == "denied"
    assert judge(WEB, DB, 1, policies(policy)).ingress.rule.text == (  # type: ignore[union-attr]
        "from ipBlock 10.244.0.0/16 except 10.244.3.0/24; ports all ports"
    )


@pytest.mark.parametrize(
    ("ports", "port", "protocol", "allowed"),
    [
        ([{"port": 5432}], 5432, "TCP", True),  # protocol defaults to TCP
        ([{"port": 5432}], 5432, "UDP", False),
        ([{"port": 5432}], 5433, "TCP", False),
        ([{"port": 8000, "endPort": 8100}], 8100, "TCP", True),  # endPort is inclusive
        ([{"port": 8000, "endPort": 8100}], 8101, "TCP", False),
        ([{"protocol": "UDP"}], 53, "UDP", True),  # no port: every port of the protocol
        ([{"protocol": "UDP"}], 53, "TCP", False),
        ([{"protocol": "SCTP", "port": 9}], 9, "SCTP", True),
        ([{"port": 9}], 9, "SCTP", False),  # a TCP rule says nothing about SCTP
        ([], 1234, "UDP", True),  # empty ports: every port and protocol
    ],
)
def test_ports(ports: list[dict[str, object]], port: int, protocol: str, allowed: bool) -> None:
    """API reference, NetworkPolicyPort: protocol default TCP; port absent = all ports; endPort range."""
    policy = netpol("shop/db", {"podSelector": {}, "ingress": [{"ports": ports}]})
    assert (judge(WEB, DB, port, policies(policy), protocol=protocol).verdict == "allowed") is allowed


def test_named_port_resolves_against_the_destinations_container_ports_for_ingress() -> None:
    policy = netpol("shop/db", {"podSelector": {}, "ingress": [{"ports": [{"port": "postgres"}]}]})
    assert judge(WEB, DB, 5432, policies(policy)).verdict == "allowed"
    assert judge(WEB, DB, 5433, policies(policy)).verdict == "denied"
    no_name = pod("shop/db-1", "10.244.2.8", {"app": "db"}, ports=[("pg", 5432, "TCP")])
    assert judge(WEB, no_name, 5432, policies(policy)).verdict == "denied"  # it declares no "postgres"
    udp_name = pod("shop/db-2", "10.244.2.10", {"app": "db"}, ports=[("postgres", 5432, "UDP")])
    assert judge(WEB, udp_name, 5432, policies(policy)).verdict == "denied"  # the name is for UDP


def test_named_port_in_egress_resolves_against_the_destination_not_the_source() -> None:
    src = pod("shop/app", "10.244.2.20", {"app": "app"}, ports=[("db", 5432, "TCP")])
    dst = pod("shop/store", "10.244.2.21", {"app": "store"}, ports=[("db", 6000, "TCP")])
    policy = netpol(
        "shop/out",
        {
            "podSelector": labels(app="app"),
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"port": "db"}]}],
        },
    )
    assert judge(src, dst, 6000, policies(policy)).verdict == "allowed"
    assert judge(src, dst, 5432, policies(policy)).verdict == "denied"
    assert judge(src, "192.168.1.1", 6000, policies(policy)).verdict == "denied"  # an address has no names


def test_rule_with_no_from_admits_every_source_and_no_rules_admit_none() -> None:
    """API reference: an empty or missing `from` matches all sources; `ingress: []` selects nothing."""
    open_rule = netpol("shop/p", {"podSelector": {}, "ingress": [{}]})
    assert judge("203.0.113.9", DB, 1, policies(open_rule)).verdict == "allowed"
    empty_from = netpol("shop/p", {"podSelector": {}, "ingress": [{"from": [], "ports": [{"port": 1}]}]})
    assert judge(OTHER, DB, 1, policies(empty_from)).verdict == "allowed"
    no_rules = netpol("shop/p", {"podSelector": {}, "ingress": []})
    assert judge(SHOP_WEB, DB, 1, policies(no_rules)).verdict == "denied"


def test_policies_are_additive() -> None:
    """Docs: policies do not conflict; a pod isolated by several allows the union of their rules."""
    allow = netpol(
        "shop/allow-web",
        {"podSelector": labels(app="db"), "ingress": [{"from": [{"namespaceSelector": {}}]}]},
    )
    verdict = judge(WEB, DB, 5432, policies(DENY_INGRESS, allow))
    assert verdict.verdict == "allowed"
    assert {s.name: s.effect for s in verdict.ingress.selecting} == {
        "allow-web": "allows",
        "db-ingress": "no rule matches",
    }


def test_fix_lists_every_selecting_policy_when_there_are_several() -> None:
    other = netpol("shop/zz", {"podSelector": labels(app="db"), "policyTypes": ["Ingress"]})
    fix = judge(WEB, DB, 5432, policies(DENY_INGRESS, other)).ingress.fix
    assert fix.startswith("add to policy db-ingress an ingress rule from pods app=web in namespace web")
    assert "2 NetworkPolicies selecting shop/db-0 for ingress: db-ingress, zz" in fix


def test_a_policy_selects_only_pods_of_its_own_namespace() -> None:
    policy = netpol("other/deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    verdict = judge(WEB, DB, 5432, policies(policy))
    assert verdict.verdict == "allowed" and not verdict.egress.isolated


def test_egress_deny_fix_names_the_destination() -> None:
    policy = netpol(
        "web/egress",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": labels(app="cache")}]}],
        },
    )
    verdict = judge(WEB, DB, 5432, policies(policy))
    assert (verdict.verdict, verdict.egress.verdict) == ("denied", "denied")
    assert verdict.egress.fix == (
        "add to policy egress an egress rule to pods app=db in namespace shop, port 5432/TCP (named postgres)"
    )


def test_egress_to_an_address_is_judged_by_ip_blocks_and_ingress_does_not_apply() -> None:
    policy = netpol(
        "web/egress",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "8.8.8.0/24"}}]}],
        },
    )
    verdict = judge(WEB, "8.8.8.8", 53, policies(policy), protocol="UDP")
    assert verdict.verdict == "allowed" and verdict.ingress.decided_by == "not a pod"
    denied = judge(WEB, "1.1.1.1", 53, policies(policy), protocol="UDP")
    assert denied.egress.fix == "add to policy egress an egress rule to ipBlock 1.1.1.1/32, port 53/UDP"


def test_a_pod_cannot_block_access_to_itself_nor_to_its_node() -> None:
    """Docs: "a pod cannot block access to itself"; traffic to and from the node a pod runs on is
    always allowed."""
    strict = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    assert judge(DB, DB, 5432, policies(strict)).verdict == "allowed"
    agent = pod("ops/agent", "10.250.0.2", {"app": "agent"}, node=DB.node_name, host_network=True)
    verdict = judge(agent, DB, 5432, policies(strict))
    assert verdict.ingress.verdict == "allowed" and "always allowed" in verdict.ingress.notes[0]
