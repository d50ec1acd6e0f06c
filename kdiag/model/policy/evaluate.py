"""Is SRC -> DST allowed? The pair evaluation, with the rule that decides and the fix in words.

Semantics (https://kubernetes.io/docs/concepts/services-networking/network-policies/ and
https://network-policy-api.sigs.k8s.io/api-overview/): a flow needs egress from SRC and ingress to
DST. Each direction runs three tiers: AdminNetworkPolicies by priority (lower number first), rules
in order, the first matching rule's Allow or Deny is final and Pass skips to the next tier; then
NetworkPolicy: a pod is isolated for a direction iff a NetworkPolicy selecting it has that
policyType, and then allowed iff some rule of those policies matches; a pod that is not isolated
falls to the BaselineAdminNetworkPolicy (first matching Allow or Deny), and with no match is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kdiag.model.objects import PodInfo
from kdiag.model.policy import words
from kdiag.model.policy.admin import admin_rule_matches, admin_selects
from kdiag.model.policy.cni import unknown_reasons
from kdiag.model.policy.matching import Tri, any_of, in_ip_block, ports_match, selects, selects_namespace
from kdiag.model.policy.objects import (
    EGRESS,
    INGRESS,
    AdminNetworkPolicy,
    Endpoint,
    Flow,
    NetworkPolicy,
    Peer,
    PolicyRule,
    PolicySet,
)
from kdiag.model.policy.result import (
    ALLOWED,
    DENIED,
    UNKNOWN,
    DirectionVerdict,
    PolicyVerdict,
    RuleRef,
    Selecting,
    combine,
)


def evaluate(flow: Flow, *, policies: PolicySet) -> PolicyVerdict:
    """The verdict for one flow: egress from SRC, ingress to DST, and the two combined."""
    egress = direction_verdict(flow, EGRESS, policies=policies)
    ingress = direction_verdict(flow, INGRESS, policies=policies)
    return PolicyVerdict(flow, combine(egress.verdict, ingress.verdict), egress, ingress)


def peer_matches(peer: Peer, end: Endpoint, *, policy_namespace: str, policies: PolicySet) -> Tri:
    """NetworkPolicyPeer against the other end of the flow."""
    if peer.ip_block is not None:
        return bool(end.address) and in_ip_block(end.address, peer.ip_block)
    pod = end.pod
    if pod is None:
        return False  # selectors pick pods; an address outside every pod is only an ipBlock's
    if peer.namespace_selector is not None:
        in_namespace = selects_namespace(peer.namespace_selector, policies, pod.namespace)
    elif peer.pod_selector is not None:
        in_namespace = pod.namespace == policy_namespace
    else:
        return False  # no selector at all: the API refuses it; select nothing
    if in_namespace is False:
        return False
    by_labels = selects(peer.pod_selector, pod.labels) if peer.pod_selector is not None else True
    return False if by_labels is False else (None if in_namespace is None else by_labels)


def rule_matches(rule: PolicyRule, flow: Flow, direction: str, *, policy_namespace: str,
                 policies: PolicySet) -> Tri:
    if not ports_match(rule.ports, flow.port, flow.protocol, flow.dst.pod):
        return False
    if not rule.peers:
        return True
    other = flow.dst if direction == EGRESS else flow.src
    return any_of(peer_matches(p, other, policy_namespace=policy_namespace, policies=policies)
                  for p in rule.peers)


@dataclass
class _Outcome:
    """The running state of one direction's evaluation."""

    verdict: str = ""
    decided_by: str = ""
    rule: RuleRef | None = None
    selecting: list[Selecting] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    isolated: bool = False


def _rule_ref(policy: NetworkPolicy, direction: str, index: int) -> RuleRef:
    rule = policy.rules(direction)[index]
    return RuleRef("NetworkPolicy", policy.namespace, policy.name, direction, index + 1, "Allow",
                   text=words.rule_text(rule, direction, policy.namespace))


def _admin_ref(policy: AdminNetworkPolicy, direction: str, index: int) -> RuleRef:
    rule = policy.rules(direction)[index]
    return RuleRef(policy.kind, "", policy.name, direction, index + 1, rule.action, rule.name,
                   words.admin_rule_text(rule, direction))


def _admin_tier(flow: Flow, direction: str, pod: PodInfo, tier: list[AdminNetworkPolicy],
                policies: PolicySet, out: _Outcome) -> str:
    """Walk admin policies in order: returns allowed | denied | unknown | pass ("" when none matched)."""
    other = flow.dst if direction == EGRESS else flow.src
    for policy in tier:
        rules = policy.rules(direction)
        if not rules:
            continue  # a policy with no rules in a direction does not affect it
        chosen = admin_selects(policy.subject, pod, policies)
        if chosen is False:
            continue
        priority = None if policy.baseline else policy.priority
        if chosen is None:
            out.selecting.append(Selecting(policy.kind, "", policy.name, priority,
                                           "may select (cannot tell)"))
            out.reasons.append(f"cannot tell whether {policy.kind} {policy.name} selects {pod.key}: "
                               f"the labels of namespace {pod.namespace} could not be read")
            return UNKNOWN
        for index, rule in enumerate(rules):
            hit = admin_rule_matches(rule, other, flow, policies)
            if hit is False:
                continue
            ref = _admin_ref(policy, direction, index)
            if hit is None:
                out.selecting.append(Selecting(policy.kind, "", policy.name, priority,
                                               "may match (cannot tell)", ref))
                out.reasons.append(f"cannot tell whether rule {index + 1} of {policy.kind} {policy.name} "
                                   "matches: a namespace's labels could not be read")
                return UNKNOWN
            effect = {"Allow": "allows", "Deny": "denies", "Pass": "passes"}.get(rule.action, "denies")
            out.selecting.append(Selecting(policy.kind, "", policy.name, priority, effect, ref))
            if rule.action == "Pass" and not policy.baseline:
                return "pass"
            out.rule, out.decided_by = ref, policy.kind
            return ALLOWED if rule.action == "Allow" else DENIED
        out.selecting.append(Selecting(policy.kind, "", policy.name, priority, "no rule matches"))
    return ""


def _network_policy_tier(flow: Flow, direction: str, pod: PodInfo, policies: PolicySet,
                         out: _Outcome) -> str:
    """allowed | denied | unknown when the pod is isolated for `direction`; "" when it is not."""
    chosen = [p for p in policies.in_namespace(pod.namespace)
              if direction in p.types and selects(p.pod_selector, pod.labels)]
    if not chosen:
        return ""
    out.isolated, out.decided_by = True, "NetworkPolicy"
    verdict = DENIED
    unsure: list[str] = []
    for policy in sorted(chosen, key=lambda p: p.name):
        effect, ref = "no rule matches", None
        for index, rule in enumerate(policy.rules(direction)):
            hit = rule_matches(rule, flow, direction, policy_namespace=policy.namespace, policies=policies)
            if hit is True:
                effect, ref = "allows", _rule_ref(policy, direction, index)
                break
            if hit is None and ref is None:
                effect, ref = "may match (cannot tell)", _rule_ref(policy, direction, index)
        out.selecting.append(Selecting("NetworkPolicy", policy.namespace, policy.name, None, effect, ref))
        if effect == "allows" and verdict != ALLOWED:
            verdict, out.rule = ALLOWED, ref
        elif effect.startswith("may"):
            unsure.append(f"cannot tell whether the {direction.lower()} rule "
                          f"{ref.index if ref else ''} ({ref.text if ref else ''}) of NetworkPolicy "
                          f"{policy.namespace}/{policy.name} matches: a namespace's labels could not be read")
    if verdict == DENIED and unsure:
        verdict = UNKNOWN
        out.reasons.extend(unsure)
    return verdict


def _fix(flow: Flow, direction: str, pod: PodInfo, out: _Outcome) -> str:
    other = flow.dst if direction == EGRESS else flow.src
    way = "to" if direction == EGRESS else "from"
    peer, port = words.endpoint_text(other), words.flow_port_text(flow)
    kind = direction.lower()
    if out.decided_by == "NetworkPolicy":
        names = [s.name for s in out.selecting if s.kind == "NetworkPolicy"]
        also = (f" (or to any of the {len(names)} NetworkPolicies selecting {pod.key} for {kind}: "
                f"{', '.join(names)})") if len(names) > 1 else ""
        return f"add to policy {names[0]} an {kind} rule {way} {peer}, {port}{also}"
    ref = out.rule
    if ref is None:
        return ""
    if ref.kind == "AdminNetworkPolicy":
        priority = next((s.priority for s in out.selecting if s.rule == ref), None)
        return (f"AdminNetworkPolicy {ref.name} (priority {priority}) denies it in {kind} rule "
                f"{ref.rule_name or ref.index!s} and NetworkPolicy cannot override that: add before that "
                f"rule an Allow (or Pass) {kind} rule {way} {peer}, {port}, or put one in an "
                f"AdminNetworkPolicy with a priority below {priority}")
    return (f"BaselineAdminNetworkPolicy {ref.name} denies it in {kind} rule {ref.rule_name or ref.index!s}: "
            f"add a NetworkPolicy in namespace {pod.namespace} selecting {words.subject_text(pod)} with an "
            f"{kind} rule {way} {peer}, {port} (NetworkPolicy overrides the baseline)")


def direction_verdict(flow: Flow, direction: str, *, policies: PolicySet) -> DirectionVerdict:
    end = flow.src if direction == EGRESS else flow.dst
    pod = end.pod
    if pod is None:
        role = "source" if direction == EGRESS else "destination"
        return DirectionVerdict(direction, "", ALLOWED, False, "not a pod", static_verdict=ALLOWED,
                                notes=(f"the {role} {end.address} is no pod: no {direction.lower()} "
                                       "policy applies to it",))
    out = _Outcome()
    other = flow.dst if direction == EGRESS else flow.src
    always = _always_allowed(pod, other.pod)
    if always:
        return DirectionVerdict(direction, pod.key, ALLOWED, False, "always allowed", static_verdict=ALLOWED,
                                notes=(always,))
    admins = sorted(policies.admin_policies, key=lambda p: (p.priority, p.name))
    # Admin policies never select host-network pods (their subject excludes them).
    verdict = "" if pod.host_network else _admin_tier(flow, direction, pod, admins, policies, out)
    if verdict in ("", "pass"):
        verdict = _network_policy_tier(flow, direction, pod, policies, out)
        if pod.host_network and out.isolated:
            out.reasons.append(f"{pod.key} runs in the host network: NetworkPolicy behaviour for "
                               "host-network pods is undefined (most plugins do not apply it)")
        if not verdict and policies.baseline is not None and not pod.host_network:
            verdict = _admin_tier(flow, direction, pod, [policies.baseline], policies, out)
        if not verdict:
            verdict, out.decided_by = ALLOWED, out.decided_by or "default"
    consulted = bool(out.selecting)
    if consulted and other.pod is not None and other.pod.host_network:
        out.reasons.append(f"the peer {other.pod.key} runs in the host network: its packets carry its "
                           "node's address, so whether pod selectors match it is up to the plugin")
    if flow.service_ip and direction == EGRESS and out.isolated and _has_ip_block(flow, pod, policies):
        out.reasons.append(f"traffic goes to ClusterIP {flow.service_ip} and an egress ipBlock applies: "
                           "whether it is matched before or after the Service's address translation "
                           "is up to the plugin")
    out.reasons.extend(unknown_reasons(policies, pod.namespace))
    static = verdict
    final = UNKNOWN if out.reasons else static
    fix = _fix(flow, direction, pod, out) if static == DENIED else ""
    return DirectionVerdict(direction, pod.key, final, out.isolated, out.decided_by, tuple(out.selecting),
                            out.rule, static, tuple(dict.fromkeys(out.reasons)), fix, tuple(out.notes))


def _has_ip_block(flow: Flow, pod: PodInfo, policies: PolicySet) -> bool:
    return any(peer.ip_block is not None
               for p in policies.in_namespace(pod.namespace)
               if EGRESS in p.types and selects(p.pod_selector, pod.labels)
               for rule in p.egress for peer in rule.peers)


def _always_allowed(pod: PodInfo, other: PodInfo | None) -> str:
    """The two exceptions of the NetworkPolicy docs: a pod cannot block access to itself, and traffic
    to and from the node a pod runs on is always allowed (a host-network peer on that node is it)."""
    if other is None:
        return ""
    if other.key == pod.key:
        return "a pod cannot block access to itself"
    if other.host_network and other.node_name and other.node_name == pod.node_name:
        return (f"{other.key} is in the host network of {pod.key}'s own node: traffic with its node is "
                "always allowed")
    return ""
