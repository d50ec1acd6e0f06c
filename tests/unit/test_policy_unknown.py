"""Where v1 semantics cannot decide, the verdict is `unknown` with the reason — never a silent allowed.

Sources: the Kubernetes NetworkPolicy docs (https://kubernetes.io/docs/concepts/services-networking/
network-policies/): host-network pods ("NetworkPolicy behaviour for hostNetwork pods is undefined"),
ipBlock and Service address translation ("it is undefined whether this happens before or after
NetworkPolicy processing"), and the namespace label `kubernetes.io/metadata.name` that the control
plane sets on every namespace.
"""

from __future__ import annotations

from kdiag.model.policy.objects import CniPolicy, Gap
from tests.unit.policy_helpers import judge, labels, netpol, pod, policies

WEB = pod("web/front", "10.244.1.5", {"app": "web"})
DB = pod("shop/db-0", "10.244.2.7", {"app": "db"}, ports=[("postgres", 5432, "TCP")])
READABLE_SHOP_ONLY = {"shop": {"kubernetes.io/metadata.name": "shop"}}


def test_unreadable_namespace_labels_make_a_namespace_selector_unknown() -> None:
    policy = netpol(
        "shop/db", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": labels(tier="x")}]}]}
    )
    verdict = judge(WEB, DB, 5432, policies(policy, ns=READABLE_SHOP_ONLY))
    assert (verdict.verdict, verdict.ingress.verdict, verdict.ingress.static_verdict) == (
        "unknown",
        "unknown",
        "unknown",
    )
    assert "namespace's labels could not be read" in verdict.ingress.reasons[0]


def test_the_name_label_still_decides_for_an_unreadable_namespace() -> None:
    by_name = netpol(
        "shop/db",
        {
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": labels(**{"kubernetes.io/metadata.name": "web"})}]}],
        },
    )
    assert judge(WEB, DB, 5432, policies(by_name, ns=READABLE_SHOP_ONLY)).verdict == "allowed"
    other = pod("other/x", "10.244.3.3", {"app": "web"})
    assert judge(other, DB, 5432, policies(by_name, ns=READABLE_SHOP_ONLY)).verdict == "denied"


def test_another_rule_that_certainly_allows_settles_an_unsure_one() -> None:
    policy = netpol(
        "shop/db",
        {
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": labels(tier="x")}]}, {"ports": [{"port": 5432}]}],
        },
    )
    verdict = judge(WEB, DB, 5432, policies(policy, ns=READABLE_SHOP_ONLY))
    assert verdict.verdict == "allowed" and verdict.ingress.reasons == ()


def test_networkpolicies_that_could_not_be_listed_name_the_permission() -> None:
    gap = Gap("NetworkPolicy", "shop", "list networking.k8s.io/networkpolicies in namespace shop")
    verdict = judge(WEB, DB, 5432, policies(gaps=[gap]))
    assert (verdict.verdict, verdict.egress.verdict, verdict.ingress.verdict) == (
        "unknown",
        "allowed",
        "unknown",
    )
    assert verdict.ingress.static_verdict == "allowed"
    assert verdict.ingress.reasons == (
        "could not list the NetworkPolicies of namespace shop (needs permission "
        "to list networking.k8s.io/networkpolicies in namespace shop)",
    )


def test_a_certain_denial_in_one_direction_outweighs_an_unknown_in_the_other() -> None:
    gap = Gap("NetworkPolicy", "shop", "list networking.k8s.io/networkpolicies in namespace shop")
    egress_deny = netpol("web/deny", {"podSelector": {}, "policyTypes": ["Egress"]})
    verdict = judge(WEB, DB, 5432, policies(egress_deny, gaps=[gap]))
    assert (verdict.verdict, verdict.egress.verdict, verdict.ingress.verdict) == (
        "denied",
        "denied",
        "unknown",
    )


def test_cni_specific_policies_in_the_namespace_make_it_unknown_even_over_a_v1_denial() -> None:
    """Cilium and Calico policies can allow as well as deny, so a v1 denial is not the last word."""
    cnp = CniPolicy("CiliumNetworkPolicy", "shop", "l7-rules")
    deny = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    verdict = judge(WEB, DB, 5432, policies(deny, cni=[cnp]))
    assert (verdict.ingress.verdict, verdict.ingress.static_verdict, verdict.egress.verdict) == (
        "unknown",
        "denied",
        "allowed",
    )
    assert verdict.ingress.reasons[0].startswith("CiliumNetworkPolicy shop/l7-rules may select pods in shop")
    assert verdict.ingress.fix  # the v1 fix is still shown


def test_cluster_wide_cni_policies_bear_on_both_directions() -> None:
    gnp = CniPolicy("GlobalNetworkPolicy.crd.projectcalico.org", "", "default-deny")
    verdict = judge(WEB, DB, 5432, policies(cni=[gnp]))
    assert (verdict.egress.verdict, verdict.ingress.verdict) == ("unknown", "unknown")
    assert "may select pods in every namespace" in verdict.egress.reasons[0]


def test_a_cni_kind_that_exists_but_cannot_be_listed_is_a_reason() -> None:
    gap = Gap("CiliumClusterwideNetworkPolicy", None, "list cilium.io/ciliumclusterwidenetworkpolicies")
    verdict = judge(WEB, DB, 5432, policies(gaps=[gap]))
    assert verdict.verdict == "unknown" and "could not be listed" in verdict.egress.reasons[0]


def test_host_network_subject_selected_by_a_policy_is_unknown() -> None:
    node_agent = pod("shop/agent", "10.250.0.3", {"app": "db"}, node="n9", host_network=True)
    deny = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    verdict = judge(WEB, node_agent, 5432, policies(deny))
    assert verdict.ingress.verdict == "unknown" and "host network" in verdict.ingress.reasons[0]
    assert (
        judge(WEB, node_agent, 5432, policies()).verdict == "allowed"
    )  # nothing selects it: nothing to doubt


def test_host_network_peer_of_an_isolated_pod_is_unknown() -> None:
    node_agent = pod("ops/agent", "10.250.0.3", {"app": "web"}, node="n9", host_network=True)
    allow_web = netpol(
        "shop/db",
        {
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": labels(app="web")}]}],
        },
    )
    verdict = judge(node_agent, DB, 5432, policies(allow_web))
    assert verdict.ingress.verdict == "unknown" and "node's address" in verdict.ingress.reasons[0]


def test_egress_ip_block_towards_a_cluster_ip_is_unknown() -> None:
    policy = netpol(
        "web/out",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.96.0.0/12"}}]}],
        },
    )
    verdict = judge(WEB, DB, 5432, policies(policy), service_ip="10.96.0.10")
    assert verdict.egress.verdict == "unknown" and "ClusterIP 10.96.0.10" in verdict.egress.reasons[0]
    # straight to the pod, the same policy certainly denies (10.244.2.7 is outside the block)
    assert judge(WEB, DB, 5432, policies(policy)).egress.verdict == "denied"


def test_admin_policies_that_could_not_be_listed_make_both_directions_unknown() -> None:
    gap = Gap("AdminNetworkPolicy", None, "list policy.networking.k8s.io/adminnetworkpolicies")
    verdict = judge(WEB, DB, 5432, policies(gaps=[gap]))
    assert (verdict.egress.verdict, verdict.ingress.verdict) == ("unknown", "unknown")
    assert verdict.reasons == (
        "could not list AdminNetworkPolicy objects (needs permission to list "
        "policy.networking.k8s.io/adminnetworkpolicies)",
    )
