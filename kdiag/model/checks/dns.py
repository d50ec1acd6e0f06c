"""The DNS link of a Service trace: the source pod's nameserver asked for the name, the way its
resolver walks the search path, and the answer compared with what the API objects predict.

- no usable answer (timeout, the nameserver unreachable, SERVFAIL, REFUSED), or NXDOMAIN / no data
  for every name although the API predicts an answer: DNS_FAILED, saying which nameserver and,
  when it is the kube-dns ClusterIP, whether kube-dns has any ready endpoint;
- an answer that differs from the prediction (other addresses, another name of the search path
  answering): DNS_MISMATCH.
"""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts
from kdiag.model.findings import Code, Finding
from kdiag.model.service_dns import answer_difference
from kdiag.model.service_observed import DnsSeen
from kdiag.model.service_trace import DnsPlan

_OUTCOME = {"timeout": "gave no answer (timeout)", "unreachable": "is unreachable",
            "servfail": "answered SERVFAIL", "refused": "answered REFUSED",
            "error": "gave an unusable answer"}


def _nameserver(plan: DnsPlan) -> str:
    return f"nameserver {plan.nameserver or '?'} ({plan.nameserver_reason})"


def _failed_hint(plan: DnsPlan, seen: DnsSeen, source_node: str, proxy: str) -> str:
    service = plan.nameserver_service
    if service and plan.nameserver_endpoints == 0:
        return (f"service {service} has no ready endpoint: CoreDNS is scaled to zero or not Ready "
                "(kubectl -n kube-system get deployment,pods -l k8s-app=kube-dns)")
    if seen.outcome == "servfail":
        return ("CoreDNS answered but could not resolve: its logs (kubectl -n kube-system logs -l "
                "k8s-app=kube-dns), its access to the API, its upstream")
    via = f"the translation of {plan.nameserver}:53 by {proxy} on {source_node or 'the source node'}, " \
        if service else ""
    return (f"the CoreDNS pods behind {service or plan.nameserver}, {via}and NetworkPolicies on UDP/TCP 53 "
            "from the source")


def _run(facts: Facts) -> list[Finding]:
    trace = facts.service
    plan = trace.plan.dns if trace is not None else None
    seen = trace.dns if trace is not None else None
    if trace is None or plan is None or seen is None or not seen.measured:
        return []
    source_node = trace.plan.translation.source_node
    expected = plan.resolution.answer
    if seen.failed:
        detail = "; ".join(x for x in (seen.error, seen.icmp_error) if x)
        outcome = _OUTCOME.get(seen.outcome, seen.outcome)
        message = (f"DNS lookup of {plan.name} failed: {_nameserver(plan)} {outcome}"
                   f" for {seen.name or '?'}" + (f" ({detail})" if detail else ""))
        node = "" if plan.nameserver_endpoints == 0 else source_node
        return [Finding(Code.DNS_FAILED, "error", message,
                        _failed_hint(plan, seen, source_node, trace.plan.proxy.summary), node)]
    if seen.outcome in ("nxdomain", "nodata"):
        if expected is None:
            return []
        tried = ", ".join(q.name for q in seen.queries) or seen.name
        return [Finding(Code.DNS_FAILED, "error",
                        f"DNS lookup of {plan.name}: {_nameserver(plan)} answered {seen.outcome.upper()} for "
                        f"every name tried ({tried}); the API predicts {expected.qname} -> "
                        f"{', '.join(expected.addresses) or expected.cname}",
                        "CoreDNS's kubernetes plugin does not serve the Service: its API access (RBAC, "
                        f"watch), its cluster domain (kdiag assumes {plan.cluster_domain})")]
    difference = answer_difference(plan.resolution, name=seen.name, addresses=seen.addresses,
                                   cnames=seen.cnames)
    answered = f"{seen.name} -> {', '.join(seen.addresses or seen.cnames) or 'nothing'}"
    if difference:
        return [Finding(Code.DNS_MISMATCH, "error", f"{_nameserver(plan)} answered {answered}: {difference}",
                        "a stale cache (NodeLocal DNSCache, CoreDNS cache), a rewrite or stub domain in "
                        "the Corefile, or a search path that differs from the kubelet's")]
    took = f" in {seen.latency_ms:g} ms" if seen.latency_ms is not None else ""
    reason = f" ({expected.reason})" if expected is not None and expected.reason else ""
    return [Finding(Code.DNS_AS_EXPECTED, "info", f"{answered} from {_nameserver(plan)}{took}, as the API "
                    f"predicts{reason}")]


CHECK = Check("dns", {Code.DNS_FAILED: ("error",), Code.DNS_MISMATCH: ("error",),
                      Code.DNS_AS_EXPECTED: ("info",)},
              lambda facts: facts.service is not None and facts.service.plan.dns is not None, _run)
