"""The trace's policy view: which identity the probe needs (kdiag.model.policy.trace) and the policy
check joining the static verdict with what the probe's packets did (kdiag.model.checks.policy)."""

from __future__ import annotations

from typing import Any

from kdiag.model.checks import CHECKS
from kdiag.model.findings import Code, Verdict
from kdiag.model.objects import PodInfo
from kdiag.model.observations import parse_observations
from kdiag.model.path import ExpectedPath
from kdiag.model.policy import Endpoint, Flow, PolicySet
from kdiag.model.policy.trace import PROBE_POD, SOURCE, TracePolicy, identity_matters, trace_policy
from kdiag.model.policy.trace_document import trace_policy_document
from kdiag.model.verdict import judge as judge_observations
from kdiag.render.trace_policy import policy_lines
from tests.unit.policy_helpers import labels, netpol, pod, policies
from tests.unit.test_verdict import CTX, err, icmp, local, path, result, tcp

WEB = pod("shop/web", "10.244.1.6", {"app": "web"}, node="worker24")
DB = pod("shop/db", "10.244.2.3", {"app": "db"}, node="worker25", ports=[("pg", 80, "TCP")])
DENY_ALL = netpol("shop/deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
FROM_WEB = netpol("shop/db-from-web", {"podSelector": labels(app="db"), "ingress": [
    {"from": [{"podSelector": labels(app="web")}], "ports": [{"port": 80}]}]})
FROM_SHOP = netpol("shop/db-from-shop", {"podSelector": labels(app="db"), "ingress": [
    {"from": [{"podSelector": {}}]}]})


def flow(src: PodInfo = WEB, dst: PodInfo = DB, port: int = 80) -> Flow:
    return Flow(Endpoint.of(src), Endpoint.of(dst), port, "TCP")


def judged(doc: dict[str, Any], policy: TracePolicy | None, exp: ExpectedPath | None = None) -> Verdict:
    exp = exp or path()
    seen = parse_observations(doc, source_node=exp.src_node)
    return judge_observations(exp, observations=seen, context=CTX, policy=policy)


def codes(v: Verdict) -> list[str]:
    return [f.code.value for f in v.findings]


REJECTED = tcp("filtered", err("10.244.2.1", "portUnreachable", 3, 3))


# ---- identity --------------------------------------------------------------------------------


def test_no_policy_a_probe_pod_is_judged_as_the_source() -> None:
    assert not identity_matters(flow(), policies=policies(), probe_namespace="shop")


def test_deny_all_judges_every_probe_alike() -> None:
    assert not identity_matters(flow(), policies=policies(DENY_ALL), probe_namespace="shop")


def test_allow_from_srcs_labels_needs_the_source_itself() -> None:
    assert identity_matters(flow(), policies=policies(DENY_ALL, FROM_WEB), probe_namespace="shop")


def test_allow_from_the_namespace_matters_only_for_a_probe_pod_elsewhere() -> None:
    set_ = policies(DENY_ALL, FROM_SHOP)
    assert not identity_matters(flow(), policies=set_, probe_namespace="shop")
    assert identity_matters(flow(), policies=set_, probe_namespace="ops")


def test_egress_policy_selecting_src_matters() -> None:
    egress = netpol("shop/web-out", {"podSelector": labels(app="web"), "policyTypes": ["Egress"], "egress": [
        {"to": [{"podSelector": labels(app="db")}]}]})
    assert identity_matters(flow(), policies=policies(egress), probe_namespace="shop")


def test_ip_block_admitting_src_matters_since_the_probe_has_another_ip() -> None:
    by_ip = netpol("shop/db-from-ip", {"podSelector": labels(app="db"), "ingress": [
        {"from": [{"ipBlock": {"cidr": "10.244.1.6/32"}}]}]})
    assert identity_matters(flow(), policies=policies(by_ip), probe_namespace="shop")


def test_an_ip_block_excepting_src_matters_since_the_probe_may_fall_inside_the_block() -> None:
    """The probe pod's IP is SRC's node's, unknown before it runs: denied as SRC is (excepted), it
    may be admitted by the block itself. Found on the lab's kube-router: the trace said OK."""
    block = netpol("shop/db-but-web", {"podSelector": labels(app="db"), "ingress": [
        {"from": [{"ipBlock": {"cidr": "10.244.1.0/24", "except": ["10.244.1.6/32"]}}]}]})
    assert identity_matters(flow(), policies=policies(block), probe_namespace="shop")


def test_a_host_network_source_never_needs_another_identity() -> None:
    host = pod("shop/agent", "10.250.0.24", {"app": "web"}, node="worker24", host_network=True)
    assert not identity_matters(flow(src=host), policies=policies(DENY_ALL, FROM_WEB), probe_namespace="shop")


def test_trace_policy_of_a_probe_pod_keeps_its_own_verdict() -> None:
    set_ = policies(DENY_ALL, FROM_WEB)
    as_probe = trace_policy(flow(), policies=set_, identity=PROBE_POD, probe_namespace="shop",
                            probe_address="10.244.1.9")
    assert (as_probe.verdict.verdict, as_probe.effective.verdict, as_probe.judged_as_source) == (
        "allowed", "denied", False)
    as_source = trace_policy(flow(), policies=set_, identity=SOURCE, probe_namespace="shop")
    assert as_source.judged_as_source and as_source.effective.verdict == "allowed"


# ---- the check ------------------------------------------------------------------------------


def tp(set_: PolicySet, identity: str = SOURCE, f: Flow | None = None) -> TracePolicy:
    return trace_policy(f or flow(), policies=set_, identity=identity, probe_namespace="shop")


def test_static_deny_and_filtered_is_policy_denies_first_naming_policy_direction_and_fix() -> None:
    v = judged(result(local=local(), icmp=icmp(received=0), tcp=REJECTED), tp(policies(DENY_ALL)))
    first = v.findings[0]
    assert v.status == "problem" and first.code is Code.POLICY_DENIES and first.severity == "error"
    assert "ingress to shop/db" in first.message and "shop/deny" in first.message
    assert "add to policy shop/deny" in first.hint or "ingress rule" in first.hint
    assert first.node == "worker25"


def test_static_allow_but_filtered_suspects_something_else() -> None:
    v = judged(result(local=local(), icmp=icmp(), tcp=tcp("filtered")), tp(policies()))
    assert codes(v)[0] == Code.TCP_FILTERED.value  # what was seen leads; the policy check explains
    f = next(f for f in v.findings if f.code is Code.POLICY_ALLOWS_BUT_FILTERED)
    assert f.severity == "warning" and "CNI-specific" in f.hint


def test_static_allow_and_nothing_answers_is_left_to_the_path_checks() -> None:
    v = judged(result(local=local(), icmp=icmp(received=0), tcp=tcp("filtered")), tp(policies()))
    assert "POLICY_ALLOWS_BUT_FILTERED" not in codes(v)


def test_static_deny_but_passed_says_nothing_enforces() -> None:
    v = judged(result(local=local(), icmp=icmp(), tcp=tcp("open")), tp(policies(DENY_ALL)))
    f = next(f for f in v.findings if f.code is Code.POLICY_DENIES_BUT_PASSED)
    assert f.severity == "warning" and "enforces" in f.hint and v.status == "ok"


def test_allowed_and_passed_adds_nothing() -> None:
    v = judged(result(local=local(), icmp=icmp(), tcp=tcp("open")), tp(policies(DENY_ALL, FROM_WEB)))
    assert not [c for c in codes(v) if c.startswith("POLICY_")] and v.matches_expected


def test_unknown_is_info_with_the_reason() -> None:
    from kdiag.model.policy.objects import Gap
    set_ = policies(gaps=[Gap("NetworkPolicy", "shop", "list networking.k8s.io/networkpolicies in "
                                                       "namespace shop")])
    v = judged(result(local=local(), icmp=icmp(), tcp=tcp("open")), tp(set_))
    f = next(f for f in v.findings if f.code is Code.POLICY_UNKNOWN)
    assert f.severity == "info" and "networkpolicies" in f.message


def test_a_probe_pod_denied_where_the_source_is_allowed_is_a_warning_pointing_at_ephemeral() -> None:
    v = judged(result(local=local(source="10.244.1.9"), icmp=icmp(received=0), tcp=REJECTED),
               tp(policies(DENY_ALL, FROM_WEB), identity=PROBE_POD))
    f = next(f for f in v.findings if f.code is Code.POLICY_DENIES)
    assert f.severity == "warning" and "probe pod" in f.message and "--mode ephemeral" in f.hint


def test_the_policy_check_owns_its_codes() -> None:
    check = next(c for c in CHECKS if c.name == "policy")
    assert set(check.owns) == {Code.POLICY_DENIES, Code.POLICY_ALLOWS_BUT_FILTERED,
                               Code.POLICY_DENIES_BUT_PASSED, Code.POLICY_UNKNOWN}


# ---- views ----------------------------------------------------------------------------------


def test_document_and_text_say_which_identity_the_probe_had() -> None:
    policy = tp(policies(DENY_ALL, FROM_WEB), identity=PROBE_POD)
    doc = trace_policy_document(policy)
    assert doc is not None
    assert (doc["verdict"], doc["probeIdentity"], doc["judgedAsSource"]) == ("allowed", "probe-pod", False)
    assert doc["probeVerdict"]["verdict"] == "denied" and doc["ingress"]["pod"] == "shop/db"
    text = "\n".join("".join(t for t, _ in line) for line in policy_lines(policy))
    assert "Policy:    ALLOWED 80/TCP" in text and "judge it differently" in text
    assert trace_policy_document(None) is None and policy_lines(None) == []
