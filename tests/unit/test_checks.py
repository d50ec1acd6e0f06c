"""kdiag.model.checks: the registry of verdict checks, each owning its codes and severities."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from kdiag.model.checks import CHECKS, Facts
from kdiag.model.findings import Code, Context
from kdiag.model.hops import attach
from kdiag.model.observations import parse_observations
from kdiag.model.path import ExpectedPath
from tests.unit.test_observation import FAULTS
from tests.unit.test_observation import facts as observed_facts
from tests.unit.test_service_checks import SERVICE_SCENARIOS
from tests.unit.test_verdict import (
    CILIUM,
    CTX,
    PTP,
    arp,
    err,
    icmp,
    local,
    nm,
    path,
    pmtu,
    result,
    tcp,
    trace,
    udp,
)
from tests.unit.test_verdict_directions import waypoints

BY_NAME = {c.name: c for c in CHECKS}


def policy_scenarios() -> list[tuple[str, str, Any]]:
    from kdiag.model.policy.objects import Gap
    from kdiag.model.policy.trace import PROBE_POD
    from tests.unit.policy_helpers import policies
    from tests.unit.test_trace_policy import DENY_ALL, FROM_WEB, tp

    gap = Gap("NetworkPolicy", "shop", "list networking.k8s.io/networkpolicies in namespace shop")
    return [("policy denies", "tcp filtered", tp(policies(DENY_ALL))),
            ("policy denies the probe pod", "tcp filtered", tp(policies(DENY_ALL, FROM_WEB), PROBE_POD)),
            ("policy allows, filtered", "tcp filtered", tp(policies())),
            ("policy denies, passed", "healthy", tp(policies(DENY_ALL))),
            ("policy unknown", "healthy", tp(policies(gaps=[gap])))]


def facts(doc: Any, exp: ExpectedPath | None = None, ctx: Context = CTX) -> Facts:
    exp = exp or path()
    seen = parse_observations(doc, source_node=exp.src_node)
    return Facts(exp, seen.source, ctx, attach(exp, observations=seen, context=ctx))


# One document per fault class (and healthy ones), to run every check against.
SCENARIOS: dict[str, Facts] = {
    "healthy": facts(result(local=local(), icmp=icmp(ttl=62), tcp=tcp("open"), pmtu=pmtu(1450),
                            traceroute=trace("10.244.1.1", "10.244.2.0", "10.244.2.3", reached=True))),
    "l2": facts(result(icmp=icmp(ttl=64), arp=arp(True)), path(cross=False)),
    "ttl": facts(result(icmp=icmp(ttl=61))),
    "ttl on ebpf": facts(result(icmp=icmp(ttl=63)), path(CILIUM)),
    "dst pending": facts(result(icmp=icmp()), ctx=replace(CTX, dst_phase="Pending")),
    "silent": facts(result(icmp=icmp(received=0), traceroute=trace("10.244.1.1"))),
    "no route": facts(result(icmp=icmp(received=0, errors=[err("10.244.1.1", "netUnreachable")]),
                             traceroute=trace(("10.244.1.1", err("10.244.1.1", "netUnreachable"))))),
    "arp": facts(result(icmp=icmp(received=0), arp=arp(False), traceroute=trace()), path(cross=False)),
    "nothing at ttl 1": facts(result(icmp=icmp(received=0), traceroute=trace(None)), path(PTP, cross=False)),
    "tcp closed": facts(result(icmp=icmp(received=0), tcp=tcp("closed"))),
    "tcp filtered": facts(result(icmp=icmp(), tcp=tcp("filtered"))),
    "udp closed": facts(result(icmp=icmp(), udp=udp("closed", err("10.244.2.3", "portUnreachable", 3, 3)))),
    "udp filtered": facts(result(icmp=icmp(),
                                 udp=udp("filtered", err("10.250.0.25", "adminProhibited", 3, 13)))),
    "udp silent": facts(result(icmp=icmp(), udp=udp("open|filtered"))),
    "mtu hole": facts(result(icmp=icmp(), pmtu=pmtu(1400))),
    "mtu small": facts(result(icmp=icmp(), pmtu=pmtu(1400, reported=1400, by="10.250.0.24"))),
    "mtu unmeasured": facts(result(icmp=icmp(received=0), tcp=tcp("open"), pmtu=pmtu(None))),
    "engine": facts(result(engine="unprivileged", icmp=nm("ICMP datagram sockets are not permitted"))),
    "no result": facts({"error": "agent crashed"}),
    # issue 10: the way out against the way back, who sent a RST, which waypoint answered, vantage
    "detour": facts(result(icmp=icmp(ttl=62), traceroute=trace("10.244.1.1", "10.250.0.26", "10.244.2.0",
                                                                "10.244.2.3", reached=True))),
    "longer both ways": facts(result(icmp=icmp(ttl=61), traceroute=trace(
        "10.244.1.1", "10.250.0.26", "10.244.2.0", "10.244.2.3", reached=True))),
    "detour on ebpf": facts(result(icmp=icmp(ttl=63), traceroute=trace("10.244.1.1", "10.244.2.3",
                                                                        reached=True)), path(CILIUM)),
    "rst from a node": facts(result(icmp=icmp(ttl=62), tcp={**tcp("closed"), "replyTtl": 63})),
    "tunnel answers": facts(result(icmp=icmp(received=0), traceroute=trace("10.244.1.1"), waypoints=waypoints(
        ("10.250.0.24", True), ("10.244.2.1", True), ("10.250.0.25", True)))),
    "node answers": facts(result(icmp=icmp(received=0), traceroute=trace("10.244.1.1"), waypoints=waypoints(
        ("10.250.0.24", True), ("10.244.2.1", False), ("10.250.0.25", True)))),
    "probe pod": facts(result(local=local(source="10.244.1.2"), icmp=icmp())),
    # --observe: the node observers' captures (tests/unit/test_observation.py)
    **{f"observed: {name}": observed_facts(path(), build(path())) for name, (build, _) in FAULTS.items()},
}
# The policy check's scenarios (kdiag.model.checks.policy; tests/unit/test_trace_policy.py has the rest).
SCENARIOS |= {name: replace(SCENARIOS[base], policy=policy) for name, base, policy in policy_scenarios()}
SCENARIOS.update(SERVICE_SCENARIOS)


def test_no_two_checks_own_the_same_code() -> None:
    owned = [code for check in CHECKS for code in check.owns]
    assert len(owned) == len(set(owned))
    assert len({c.name for c in CHECKS}) == len(CHECKS)


def test_every_code_but_the_verdicts_own_summary_has_a_check() -> None:
    owned = {code for check in CHECKS for code in check.owns}
    assert set(Code) - owned == {Code.PATH_AS_EXPECTED}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_checks_raise_only_what_they_own(scenario: str) -> None:
    f = SCENARIOS[scenario]
    for check in CHECKS:
        if check.applies(f):
            found = check.run(f)
            assert check.owns_all(found), (check.name, found)


def test_every_owned_code_and_severity_is_raised_by_some_scenario() -> None:
    """No check claims a code it never raises (the scenarios cover each fault class)."""
    raised = {(check.name, x.code, x.severity) for f in SCENARIOS.values() for check in CHECKS
              if check.applies(f) for x in check.run(f)}
    claimed = {(check.name, code, sev) for check in CHECKS
               for code, sevs in check.owns.items() for sev in sevs}
    assert claimed - raised == set()


@pytest.mark.parametrize(("scenario", "applicable"), [
    ("healthy", ["target", "probe", "shape", "detour", "l4", "mtu", "vantage"]),
    ("silent", ["target", "probe", "waypoints", "reachability", "vantage"]),
    ("tcp closed", ["target", "probe", "shape", "detour", "l4", "mtu", "vantage"]),  # an RST is an answer
    ("rst from a node", ["target", "probe", "shape", "detour", "l4", "attribution", "mtu", "vantage"]),
    ("engine", ["target", "probe", "vantage"]),  # nothing measured: only what needs no answer
    ("no result", ["probe"]),
])
def test_when_each_check_applies(scenario: str, applicable: list[str]) -> None:
    assert [c.name for c in CHECKS if c.applies(SCENARIOS[scenario])] == applicable


def test_registry_order_is_the_order_findings_are_listed_in() -> None:
    assert [c.name for c in CHECKS] == ["dns", "service", "target", "probe", "policy", "shape", "detour",
                                        "l4", "attribution", "mtu", "waypoints", "reachability", "vantage",
                                        "observation"]
    assert set(BY_NAME["reachability"].owns) == {Code.NO_REPLY, Code.STOPS_AT_HOP, Code.OVERLAY_SUSPECT,
                                                 Code.ARP_UNANSWERED}
