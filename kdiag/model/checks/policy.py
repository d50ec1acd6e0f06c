"""What the NetworkPolicies say about the flow, joined with what the probe's packets did.

The static verdict is the one for the identity that really sent the packets (`TracePolicy.effective`:
SRC itself, or the probe pod when it was judged differently). The probe's L4 check decides "passed"
or "filtered": TCP open or closed (SYN-ACK or RST came from the destination), UDP open or closed;
ICMP echo answered when no port was checked. Silence or an ICMP error from elsewhere (iptables
REJECT answers from the node) is "filtered".

- denied and filtered: POLICY_DENIES (error), naming the policy, the direction and the missing rule;
- allowed and filtered while the destination answers ICMP: POLICY_ALLOWS_BUT_FILTERED (warning,
  beside l4's TCP_FILTERED / UDP_FILTERED error, which stays the lead): a CNI-specific policy or a
  host firewall is suspected (when ICMP fails too, the path is the suspect and the reachability
  check speaks);
- denied and passed: POLICY_DENIES_BUT_PASSED (warning): nothing enforces NetworkPolicy there;
- unknown: POLICY_UNKNOWN (info), with the reasons.
"""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts
from kdiag.model.findings import Code, Finding
from kdiag.model.policy.result import ALLOWED, DENIED, UNKNOWN, DirectionVerdict, PolicyVerdict
from kdiag.model.policy.trace import PROBE_POD, TracePolicy


def _outcome(facts: Facts) -> str:
    """passed | filtered | "" (the L4 check did not run or cannot tell)."""
    obs = facts.observed
    if obs.tcp_measured:
        return "passed" if obs.tcp_state in ("open", "closed") else "filtered" if obs.tcp_state else ""
    if obs.udp_state:
        if obs.udp_state in ("open", "closed"):
            return "passed"
        return "filtered" if obs.udp_state == "filtered" else ""  # open|filtered proves nothing
    if obs.icmp_measured:
        return "passed" if obs.icmp_received > 0 else "filtered"
    return ""


def _who(policy: TracePolicy) -> str:
    if policy.identity == PROBE_POD and not policy.judged_as_source:
        return "the probe pod (it lacks the source's labels and IP)"
    return "the source"


def _denying(verdict: PolicyVerdict) -> list[DirectionVerdict]:
    return [d for d in (verdict.egress, verdict.ingress) if d.verdict == DENIED]


def _deny_text(d: DirectionVerdict) -> str:
    way = f"egress from {d.pod}" if d.direction == "Egress" else f"ingress to {d.pod}"
    if d.rule is not None and d.rule.action == "Deny":
        where = f"{d.rule.namespace}/{d.rule.name}" if d.rule.namespace else d.rule.name
        return f"{way} is denied by {d.rule.kind} {where} ({d.rule.text})"
    names = ", ".join(f"{s.namespace}/{s.name}" if s.namespace else s.name for s in d.selecting
                      if s.kind == "NetworkPolicy") or "the selecting policies"
    return f"{way} is isolated by {names} and no rule allows it"


def _enforcing_node(facts: Facts, denying: list[DirectionVerdict]) -> str:
    """Egress is enforced on the source's node, ingress on the destination's."""
    exp = facts.expected
    return exp.src_node if denying and denying[0].direction == "Egress" else exp.dst_node


def _flow(verdict: PolicyVerdict) -> str:
    flow = verdict.flow
    return f"{flow.port}/{flow.protocol}" if flow.protocol != "ICMP" else "ICMP"


def _run(facts: Facts) -> list[Finding]:
    policy = facts.policy
    if policy is None:
        return []
    verdict, outcome = policy.effective, _outcome(facts)
    who, node = _who(policy), facts.expected.dst_node
    if verdict.verdict == UNKNOWN:
        reasons = "; ".join(verdict.reasons) or "the evaluation cannot decide"
        return [Finding(Code.POLICY_UNKNOWN, "info", f"the policies cannot say whether {who} may reach "
                        f"{_flow(verdict)}: {reasons}", "kdiag policy SRC DST shows every selecting policy")]
    if verdict.verdict == DENIED and outcome == "filtered":
        denying = _denying(verdict)
        fixes = "; ".join(d.fix for d in denying if d.fix)
        extra = ""
        if policy.identity == PROBE_POD and not policy.judged_as_source:
            extra = (f"; the source itself would be {policy.verdict.verdict}: --mode ephemeral probes "
                     "from inside it")
        return [Finding(Code.POLICY_DENIES, "error" if policy.judged_as_source else "warning",
                        f"NetworkPolicy denies {who}: " + "; ".join(_deny_text(d) for d in denying)
                        + f" ({_flow(verdict)}), and the probe's packets were filtered",
                        (f"to allow it: {fixes}" if fixes else "kdiag policy SRC DST shows the rules")
                        + extra,
                        _enforcing_node(facts, denying))]
    if verdict.verdict == ALLOWED and outcome == "filtered" and facts.ip_ok:
        return [Finding(Code.POLICY_ALLOWS_BUT_FILTERED, "warning",
                        f"NetworkPolicy allows {who} {_flow(verdict)}, yet the probe's packets were filtered",
                        "something besides NetworkPolicy drops them: a CNI-specific policy (Cilium, Calico, "
                        f"Antrea objects), or a host firewall on {node or 'the destination node'} "
                        "(iptables-save / nft list ruleset there)", node)]
    if verdict.verdict == DENIED and outcome == "passed":
        return [Finding(Code.POLICY_DENIES_BUT_PASSED, "warning",
                        f"NetworkPolicy denies {who} {_flow(verdict)} ("
                        + "; ".join(_deny_text(d) for d in _denying(verdict)) + "), yet the packets passed",
                        "nothing enforces NetworkPolicy here: the CNI may not support it (flannel alone, "
                        "kindnet before v1.0) or its policy agent is down on "
                        f"{node or 'the destination node'}", node)]
    return []


def _applies(facts: Facts) -> bool:
    return facts.policy is not None and facts.observed.valid


CHECK = Check("policy", {Code.POLICY_DENIES: ("error", "warning"),
                         Code.POLICY_ALLOWS_BUT_FILTERED: ("warning",),
                         Code.POLICY_DENIES_BUT_PASSED: ("warning",), Code.POLICY_UNKNOWN: ("info",)},
              _applies, _run)
