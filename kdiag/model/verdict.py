"""Expected path + observations -> a verdict: run the applicable checks, aggregate. Pure: no I/O.

The checks (kdiag.model.checks) each own their finding codes; this module only runs the ones that
apply, in registry order, ranks the findings by likelihood (errors first, stable otherwise),
and computes the status and whether the path matches the model.

How faults look from the source pod, and so how they are told apart:
- the path works: replies come back with TTL 64 - expected decrement (0 bridge, 1 ptp, 2 cross-node);
- a router that has no route answers ICMP net/host unreachable (Linux checks the route before the
  TTL, so even traceroute's TTL-1 probe gets it): STOPS_AT_HOP at the node that owns that address;
- a silent drop leaves the last node that answered a traceroute probe as the place to look; when
  that is the source node and the pair crosses an overlay, the tunnel between the two node IPs
  (its UDP port, FDB/neighbour entries, underlay firewall) is the suspect: OVERLAY_SUSPECT;
- on a bridge, a peer that answers nothing and not even ARP has lost its link: ARP_UNANSWERED;
- ICMP through but TCP not: RST = TCP_CLOSED (nothing listens), silence = TCP_FILTERED (policy);
- UDP: port unreachable from the target = UDP_CLOSED, another ICMP error = UDP_FILTERED, silence
  proves nothing either way (UDP_OPEN_FILTERED, info);
- small packets through, large DF packets lost without "fragmentation needed": MTU_BLACKHOLE; when
  the pmtu probe's own carrier (ICMP echo, or UDP) gets no answer at all, MTU_UNMEASURED (info).
"""

from __future__ import annotations

from dataclasses import replace

from kdiag.model.checks import CHECKS, Facts, observation
from kdiag.model.checks.base import sender
from kdiag.model.findings import Code, Context, Finding, Status, Verdict, sort_findings
from kdiag.model.hops import Spine, attach
from kdiag.model.observations import Observations
from kdiag.model.path import ExpectedPath
from kdiag.model.policy.trace import TracePolicy
from kdiag.model.service_trace import ServiceTrace


def judge(expected: ExpectedPath, *, observations: Observations, context: Context,
          spine: Spine | None = None, policy: TracePolicy | None = None,
          service: ServiceTrace | None = None) -> Verdict:
    """Compare what was observed with the expected path (and, through a Service, its chain)."""
    spine = spine if spine is not None else attach(expected, observations=observations, context=context)
    facts = Facts(expected, observations.source, context, spine, policy, service,
                  captures=observations.captured(), probe_address=observations.source.source_address or "")
    findings: list[Finding] = []
    for check in CHECKS:
        if check.applies(facts):
            findings += check.run(facts)
    if any(f.code in observation.CODES for f in findings):  # seen where it stopped: no more guessing
        findings = [f for f in findings if f.code not in observation.GUESSES]
    if not facts.observed.valid:
        return Verdict("inconclusive", False, tuple(findings), findings[0].message if findings else "")
    if not facts.measured:
        # A Service without endpoints has no path to probe, yet its chain was judged: a problem.
        if service is not None and service.measured and any(f.severity == "error" for f in findings):
            ordered = sort_findings(findings)
            return Verdict("problem", False, ordered, ordered[0].message)
        return Verdict("inconclusive", False, sort_findings(findings), "nothing could be measured")
    bad = [f for f in findings if f.severity != "info" and f.code is not Code.DST_NOT_READY]
    status: Status = "problem" if any(f.severity == "error" for f in findings) else "ok"
    matches = facts.reached and not bad
    if matches:
        by = sender(expected, facts.observed)
        summary = expected.summary + (f"; {by}" if by else "")
        findings.insert(0, Finding(Code.PATH_AS_EXPECTED, "info", summary))
    ordered = sort_findings(findings)
    # What the observers saw stop is the cause the source-side symptoms (NO_REPLY) point at: first.
    ordered = (*[f for f in ordered if f.code in observation.CODES],
               *[f for f in ordered if f.code not in observation.CODES])
    verdict = Verdict(status, matches, ordered, ordered[0].message if ordered else "",
                      explanation(facts, matches=matches, bad=bad))
    if facts.captures:
        drop = observation.analysed(facts)[1]
        verdict = replace(verdict, observed=True, drop_point=drop.to_dict() if drop is not None else None)
    return verdict


# The findings that say the path itself (its hops, either direction, where it stops) differs.
_PATH_CODES = {Code.TTL_MISMATCH, Code.PATH_DETOUR, Code.NO_REPLY, Code.STOPS_AT_HOP, Code.OVERLAY_SUSPECT,
               Code.ARP_UNANSWERED, Code.NODE_NOT_FORWARDING, Code.RETURN_PATH_SUSPECT,
               Code.NO_ROUTE, Code.RETURN_PATH_BROKEN, Code.FORWARDING_DISABLED, Code.RP_FILTER_DROP,
               Code.TUNNEL_NOT_SENT, Code.TUNNEL_NOT_RECEIVED}


def explanation(facts: Facts, *, matches: bool, bad: list[Finding]) -> str:
    """What matched the expected path and what did not: a closed port on a path that matched is
    not "does not match the expected path"."""
    if matches:
        return "matches the expected path"
    parts = []
    if facts.reached and not any(f.code in _PATH_CODES for f in bad):
        parts.append("path as expected")
    elif not facts.reached:
        parts.append("no answer from the destination")
    if bad:
        parts.append("not as expected: " + ", ".join(dict.fromkeys(f.code.value for f in bad)))
    return "; ".join(parts)
