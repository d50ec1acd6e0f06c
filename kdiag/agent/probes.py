"""The probe context and the echo-based probes: icmp, traceroute and pmtu."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from .packets import ICMP_TIME_EXCEEDED, ICMP_UNREACHABLE, Event, icmp_error, reached_target
from .spec import PMTU_ROUNDS
from .transports import PingSocket, RawIcmp, Transport, UdpProbe

# Common link MTUs tried in parallel by pmtu (Ethernet, PPPoE, VXLAN, WireGuard, IPv6 minimum...).
PMTU_LADDER = (9000, 1500, 1492, 1480, 1450, 1420, 1400, 1380, 1280, 1000, 576)
TRACEROUTE_BASE_PORT = 33434


class Context:
    """Everything a probe needs: the spec, the engine, the local view, a logger."""

    def __init__(self, spec: Dict[str, Any], engine: str, raw_permitted: bool, local: Dict[str, Any]) -> None:
        self.spec, self.engine, self.raw_permitted, self.local = spec, engine, raw_permitted, local
        self.target: str = spec["target"]
        self.timeout: float = spec["timeout"]
        self.pmtu_finished = threading.Event()
        if "pmtu" not in spec["probes"]:
            self.pmtu_finished.set()

    def echo_transport(self, allow_udp: bool) -> Transport:
        """Raw ICMP for the raw engine; else an ICMP datagram socket, else (if allowed) UDP."""
        if self.engine == "raw":
            return RawIcmp(self.target)
        try:
            return PingSocket(self.target)
        except OSError:
            if not allow_udp:
                raise
            return UdpProbe(self.target, TRACEROUTE_BASE_PORT)


def probe_icmp(ctx: Context) -> Dict[str, Any]:
    count = ctx.spec["count"]
    transport = ctx.echo_transport(allow_udp=False)
    try:
        for seq in range(count):
            transport.send(seq)
        events = transport.collect(time.monotonic() + ctx.timeout,
                                   lambda found: sum(e.icmp_type is None for e in found.values()) >= count)
    finally:
        transport.close()
    replies = [e for e in events.values() if e.icmp_type is None]
    rtts = [transport.rtt(e) for e in replies]
    summary = {"min": min(rtts), "avg": round(sum(rtts) / len(rtts), 3), "max": max(rtts)} if rtts else None
    return {"measured": True, "method": transport.method, "sent": len(transport.sent),
            "received": len(replies), "lossPercent": round(100.0 * (count - len(replies)) / count, 1),
            "rttMs": summary,
            "replyTtl": replies[0].ttl if replies else None,
            "replyFrom": replies[0].source if replies else None,
            "icmpErrors": [icmp_error(e) for e in events.values() if e.icmp_type is not None]}


def probe_traceroute(ctx: Context) -> Dict[str, Any]:
    """All TTLs at once; done when the path's end is known and every TTL before it answered."""
    transport = ctx.echo_transport(allow_udp=True)

    def end_ttl(found: Dict[int, Event]) -> Optional[int]:
        ends = [ttl for ttl, e in found.items()
                if reached_target(e, ctx.target) or e.icmp_type == ICMP_UNREACHABLE]
        return min(ends) if ends else None

    def finished(found: Dict[int, Event]) -> bool:
        end = end_ttl(found)
        return end is not None and all(ttl in found for ttl in range(1, end))

    if isinstance(transport, UdpProbe):
        # Every probe past the target draws a rate-limited port unreachable from it; let pmtu,
        # which needs a few, go first (it takes one round trip on a healthy path).
        ctx.pmtu_finished.wait(ctx.timeout)
    try:
        for ttl in range(1, ctx.spec["maxHops"] + 1):
            transport.send(ttl, ttl=ttl)
        events = transport.collect(time.monotonic() + ctx.timeout, finished)
    finally:
        transport.close()
    end = end_ttl(events)
    last = end if end is not None else max(events, default=0)
    hops = []
    for ttl in range(1, last + 1):
        event = events.get(ttl)
        hop: Dict[str, Any] = {"ttl": ttl, "address": event.source if event else None,
                               "rttMs": transport.rtt(event) if event else None, "icmpError": None}
        if event is not None and event.icmp_type not in (None, ICMP_TIME_EXCEEDED):
            hop["icmpError"] = icmp_error(event)
        hops.append(hop)
    reached = end is not None and reached_target(events[end], ctx.target)
    return {"measured": True, "method": transport.method, "maxHops": ctx.spec["maxHops"], "hops": hops,
            "reached": reached, "reachedAtTtl": end if reached else None}


Outcome = Tuple[int, str, Optional[Event]]  # probe size, outcome name, what answered


def pmtu_round(ctx: Context, transport: Transport, sizes: List[int]) -> List[Outcome]:
    """Send every size at once with DF; wait until each is answered or the timeout passes."""
    refused = {size: transport.send(size, size=size) for size in sizes}
    events = transport.collect(time.monotonic() + ctx.timeout,
                               lambda found: all(s in found or refused[s] for s in sizes))
    outcomes = []
    for size in sizes:
        event = events.get(size)
        if refused[size]:
            outcome = "tooBigLocally"
        elif event is None:
            outcome = "noAnswer"
        else:
            outcome = "passed" if reached_target(event, ctx.target) else icmp_error(event)["name"]
        outcomes.append((size, outcome, event))
    return outcomes


def pmtu_next_sizes(sizes: PmtuState) -> List[int]:
    """Sizes worth a further round, or [] once the answer is as exact as it will get."""
    passed, failed, reported = sizes.passed, sizes.failed, sizes.reported
    if passed is None or failed is None or failed - passed <= 1 or reported == passed:
        return []  # nothing passed (unreachable), nothing failed, or the bound is tight
    if reported is not None and passed < reported < failed:
        return [reported]  # a router told us; confirm it
    ladder = [s for s in PMTU_LADDER if passed < s < failed and s not in sizes.tried]
    if ladder:
        return ladder  # no router said: an ICMP black hole; try the common MTUs at once
    return sorted({passed + (failed - passed) * i // 9 for i in range(1, 9)} - {passed}, reverse=True)


class PmtuState:
    """What the pmtu rounds have learnt so far."""

    def __init__(self) -> None:
        self.tried: Dict[int, str] = {}  # size -> outcome
        self.reports: List[Event] = []  # fragmentation-needed errors, which carry the next-hop MTU

    @property
    def passed(self) -> Optional[int]:
        """Largest size that reached the target."""
        return max((s for s, outcome in self.tried.items() if outcome == "passed"), default=None)

    @property
    def failed(self) -> Optional[int]:
        """Smallest size above `passed` that did not."""
        passed = self.passed or 0
        return min((s for s, seen in self.tried.items() if seen != "passed" and s > passed), default=None)

    @property
    def report(self) -> Optional[Event]:
        return min(self.reports, key=lambda e: e.mtu or 0, default=None)

    @property
    def reported(self) -> Optional[int]:
        return self.report.mtu if self.report else None


def probe_pmtu(ctx: Context) -> Dict[str, Any]:
    """Rounds of parallel DF probes: the interface MTU (and a small size, to tell a black hole from an
    unreachable target), then the MTU a router reported, or common MTUs and a bisection.

    Few probes per round matter for the UDP transport: each one that passes costs a port
    unreachable from the target, which the kernel rate-limits (burst of 6 per second).
    """
    interface_mtu: int = ctx.local.get("mtu") or 1500
    transport = ctx.echo_transport(allow_udp=True)
    state = PmtuState()
    probes: List[Dict[str, Any]] = []
    sizes = sorted({interface_mtu, min(interface_mtu, PMTU_LADDER[-1])}, reverse=True)
    try:
        for _round in range(PMTU_ROUNDS):
            for size, outcome, event in pmtu_round(ctx, transport, sizes):
                state.tried[size] = outcome
                rtt = transport.rtt(event) if event else None
                probes.append({"size": size, "outcome": outcome, "rttMs": rtt})
                if event is not None and event.mtu:
                    state.reports.append(event)
            sizes = pmtu_next_sizes(state)
            if not sizes:
                break
    finally:
        transport.close()
    passed, report = state.passed, state.report
    exact = passed is not None and (
        passed == interface_mtu or state.failed == passed + 1 or state.reported == passed)
    return {"measured": True, "method": transport.method, "interfaceMtu": interface_mtu, "pathMtu": passed,
            "exact": exact, "reportedMtu": state.reported, "reportedBy": report.source if report else None,
            "probes": probes}
