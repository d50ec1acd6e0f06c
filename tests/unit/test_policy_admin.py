"""AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1), from the
network-policy-api documentation (https://network-policy-api.sigs.k8s.io/api-overview/) and its API
types (apis/v1alpha1/adminnetworkpolicy_types.go): ANPs by priority (lower value first), rules in
written order, Allow and Deny final, Pass hands over to NetworkPolicy; then NetworkPolicy; then the
baseline's Allow / Deny for pods no NetworkPolicy isolates."""

from __future__ import annotations

from typing import Any

from tests.unit.policy_helpers import anp, banp, judge, labels, netpol, pod, policies

WEB = pod("web/front", "10.244.1.5", {"app": "web"})
DB = pod("shop/db-0", "10.244.2.7", {"app": "db"}, ports=[("postgres", 5432, "TCP")])
SHOP = {"namespaces": labels(**{"kubernetes.io/metadata.name": "shop"})}
FROM_WEB = [{"namespaces": labels(**{"kubernetes.io/metadata.name": "web"})}]


def ingress(
    action: str,
    name: str = "r",
    peers: list[dict[str, Any]] | None = None,
    ports: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"name": name, "action": action, "from": peers or FROM_WEB}
    if ports is not None:
        rule["ports"] = ports
    return rule


def test_anp_deny_overrides_a_networkpolicy_allow_and_says_why_netpol_cannot_fix_it() -> None:
    allow = netpol("shop/allow", {"podSelector": {}, "ingress": [{}]})
    deny = anp("lockdown", 10, {"subject": SHOP, "ingress": [ingress("Deny", "no-web")]})
    verdict = judge(WEB, DB, 5432, policies(allow, deny))
    assert (verdict.verdict, verdict.ingress.decided_by) == ("denied", "AdminNetworkPolicy")
    assert verdict.ingress.rule is not None and verdict.ingress.rule.rule_name == "no-web"
    assert verdict.ingress.fix.startswith(
        "AdminNetworkPolicy lockdown (priority 10) denies it in ingress rule "
        "no-web and NetworkPolicy cannot override that"
    )
    assert "with a priority below 10" in verdict.ingress.fix


def test_anp_allow_overrides_a_networkpolicy_default_deny() -> None:
    deny = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    allow = anp("monitoring", 5, {"subject": SHOP, "ingress": [ingress("Allow")]})
    verdict = judge(WEB, DB, 5432, policies(deny, allow))
    assert (verdict.verdict, verdict.ingress.decided_by) == ("allowed", "AdminNetworkPolicy")
    assert not verdict.ingress.isolated  # the NetworkPolicy tier was never reached


def test_lower_priority_value_wins() -> None:
    allow, deny = ingress("Allow"), ingress("Deny")
    first_allow = policies(
        anp("a", 10, {"subject": SHOP, "ingress": [allow]}),
        anp("b", 20, {"subject": SHOP, "ingress": [deny]}),
    )
    assert judge(WEB, DB, 5432, first_allow).verdict == "allowed"
    first_deny = policies(
        anp("a", 30, {"subject": SHOP, "ingress": [allow]}),
        anp("b", 20, {"subject": SHOP, "ingress": [deny]}),
    )
    verdict = judge(WEB, DB, 5432, first_deny)
    assert verdict.verdict == "denied"
    assert [(s.name, s.priority, s.effect) for s in verdict.ingress.selecting] == [("b", 20, "denies")]


def test_rules_apply_in_written_order_first_match_wins() -> None:
    rules = [
        ingress("Deny", "first", ports=[{"portNumber": {"protocol": "TCP", "port": 5432}}]),
        ingress("Allow", "second"),
    ]
    ordered = policies(anp("a", 1, {"subject": SHOP, "ingress": rules}))
    assert judge(WEB, DB, 5432, ordered).verdict == "denied"
    assert judge(WEB, DB, 80, ordered).verdict == "allowed"  # the first rule's port does not match


def test_pass_hands_over_to_networkpolicy_and_skips_later_admin_policies() -> None:
    passing = anp("a", 1, {"subject": SHOP, "ingress": [ingress("Pass")]})
    later_deny = anp("b", 2, {"subject": SHOP, "ingress": [ingress("Deny")]})
    assert judge(WEB, DB, 5432, policies(passing, later_deny)).verdict == "allowed"  # no NetworkPolicy: open
    np_deny = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    verdict = judge(WEB, DB, 5432, policies(passing, later_deny, np_deny))
    assert (verdict.verdict, verdict.ingress.decided_by) == ("denied", "NetworkPolicy")
    assert verdict.ingress.fix.startswith(
        "add to policy deny an ingress rule from pods app=web in namespace web"
    )


def test_pass_without_networkpolicy_reaches_the_baseline() -> None:
    passing = anp("a", 1, {"subject": SHOP, "ingress": [ingress("Pass")]})
    baseline_deny = banp({"subject": SHOP, "ingress": [ingress("Deny", "default-deny")]})
    verdict = judge(WEB, DB, 5432, policies(passing, baseline_deny))
    assert (verdict.verdict, verdict.ingress.decided_by) == ("denied", "BaselineAdminNetworkPolicy")
    assert verdict.ingress.fix == (
        "BaselineAdminNetworkPolicy default denies it in ingress rule default-deny: add a NetworkPolicy in "
        "namespace shop selecting pods app=db with an ingress rule from pods app=web in namespace web, "
        "port 5432/TCP (named postgres) (NetworkPolicy overrides the baseline)"
    )


def test_networkpolicy_isolation_overrides_the_baseline() -> None:
    baseline_deny = banp({"subject": SHOP, "ingress": [ingress("Deny")]})
    allow = netpol("shop/allow", {"podSelector": {}, "ingress": [{}]})
    verdict = judge(WEB, DB, 5432, policies(baseline_deny, allow))
    assert (verdict.verdict, verdict.ingress.decided_by) == ("allowed", "NetworkPolicy")
    baseline_allow = banp({"subject": SHOP, "ingress": [ingress("Allow")]})
    deny = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    assert judge(WEB, DB, 5432, policies(baseline_allow, deny)).verdict == "denied"


def test_baseline_with_no_matching_rule_leaves_the_default_allow() -> None:
    baseline = banp({"subject": SHOP, "ingress": [ingress("Deny", peers=[{"namespaces": labels(x="y")}])]})
    verdict = judge(WEB, DB, 5432, policies(baseline))
    assert verdict.verdict == "allowed"
    assert [(s.kind, s.effect) for s in verdict.ingress.selecting] == [
        ("BaselineAdminNetworkPolicy", "no rule matches")
    ]


def test_pods_subject_and_pods_peer_need_both_selectors() -> None:
    subject = {"pods": {"namespaceSelector": {}, "podSelector": labels(app="db")}}
    peer = [
        {
            "pods": {
                "namespaceSelector": labels(**{"kubernetes.io/metadata.name": "web"}),
                "podSelector": labels(app="web"),
            }
        }
    ]
    deny = policies(anp("a", 1, {"subject": subject, "ingress": [ingress("Deny", peers=peer)]}))
    assert judge(WEB, DB, 5432, deny).verdict == "denied"
    other_label = pod("web/batch", "10.244.1.6", {"app": "batch"})
    assert judge(other_label, DB, 5432, deny).verdict == "allowed"
    cache = pod("shop/cache", "10.244.2.8", {"app": "cache"})
    assert judge(WEB, cache, 5432, deny).verdict == "allowed"  # not a subject


def test_host_network_pods_are_never_subjects_or_pod_peers() -> None:
    deny_all = anp(
        "a", 1, {"subject": {"namespaces": {}}, "ingress": [ingress("Deny", peers=[{"namespaces": {}}])]}
    )
    agent = pod("shop/agent", "10.250.0.3", {"app": "db"}, node="n9", host_network=True)
    assert judge(WEB, agent, 5432, policies(deny_all)).ingress.verdict == "allowed"
    # as a peer it is not matched by pods/namespaces, but the subject's policies were consulted:
    assert judge(agent, DB, 5432, policies(deny_all)).ingress.verdict == "unknown"


def test_port_number_range_and_named_port() -> None:
    def with_ports(ports: list[dict[str, Any]]) -> Any:
        return policies(anp("a", 1, {"subject": SHOP, "ingress": [ingress("Deny", ports=ports)]}))

    assert (
        judge(WEB, DB, 5432, with_ports([{"portNumber": {"protocol": "TCP", "port": 5432}}])).verdict
        == "denied"
    )
    assert (
        judge(WEB, DB, 5432, with_ports([{"portNumber": {"protocol": "UDP", "port": 5432}}])).verdict
        == "allowed"
    )
    span = [{"portRange": {"start": 5000, "end": 6000}}]  # protocol defaults to TCP
    assert judge(WEB, DB, 6000, with_ports(span)).verdict == "denied"
    assert judge(WEB, DB, 6001, with_ports(span)).verdict == "allowed"
    assert judge(WEB, DB, 5432, with_ports([{"namedPort": "postgres"}])).verdict == "denied"
    assert judge(WEB, DB, 5433, with_ports([{"namedPort": "postgres"}])).verdict == "allowed"


def test_a_policy_without_rules_for_a_direction_does_not_touch_it() -> None:
    egress_only = anp(
        "a", 1, {"subject": SHOP, "egress": [{"name": "x", "action": "Deny", "to": [{"namespaces": {}}]}]}
    )
    verdict = judge(WEB, DB, 5432, policies(egress_only))
    assert verdict.ingress.verdict == "allowed" and verdict.ingress.selecting == ()
    assert judge(DB, WEB, 80, policies(egress_only)).egress.verdict == "denied"


def test_unknown_peer_kind_fails_closed() -> None:
    """Types doc, AdminNetworkPolicyIngressPeer: no field set means an unknown peer kind: for Allow
    rules match nothing, for Deny and Pass rules match everything."""
    unknown_peer = [{"futurePeer": {}}]
    deny = policies(anp("a", 1, {"subject": SHOP, "ingress": [ingress("Deny", peers=unknown_peer)]}))
    assert judge(WEB, DB, 5432, deny).verdict == "denied"
    np_deny = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    allow = policies(
        np_deny, anp("a", 1, {"subject": SHOP, "ingress": [ingress("Allow", peers=unknown_peer)]})
    )
    assert judge(WEB, DB, 5432, allow).verdict == "denied"  # the Allow matched nothing; NetworkPolicy denies


def test_egress_networks_peer() -> None:
    web = {"namespaces": labels(**{"kubernetes.io/metadata.name": "web"})}
    rules = [
        {"name": "dns", "action": "Allow", "to": [{"networks": ["10.96.0.0/12"]}]},
        {"name": "rest", "action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]},
    ]
    set_ = policies(anp("egress", 1, {"subject": web, "egress": rules}))
    assert judge(WEB, "10.96.0.10", 53, set_, protocol="UDP").verdict == "allowed"
    verdict = judge(WEB, DB, 5432, set_)
    assert verdict.verdict == "denied" and verdict.egress.rule.rule_name == "rest"  # type: ignore[union-attr]


def test_unreadable_namespace_labels_leave_the_subject_open() -> None:
    subject = {"namespaces": labels(env="prod")}
    verdict = judge(
        WEB,
        DB,
        5432,
        policies(
            anp("a", 1, {"subject": subject, "ingress": [ingress("Deny")]}),
            ns={"web": {"kubernetes.io/metadata.name": "web"}},
        ),
    )
    assert verdict.ingress.verdict == "unknown" and "could not be read" in verdict.ingress.reasons[0]
