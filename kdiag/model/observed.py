"""What the source-side probe saw: the agent's ProbeResult document decoded into `Observed`. Pure.

The ProbeResult (docs/schema/probe-result.schema.json) is read in exactly one place, `decode_probe_result`,
so a field rename in the agent is a one-place change here. kdiag.model.observations keys the result
by where it was seen; the checks, the per-hop attachment and the renderer all work from `Observed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IcmpErr:
    source: str
    name: str  # netUnreachable, hostUnreachable, adminProhibited, fragmentationNeeded, ...
    mtu: int | None = None


@dataclass(frozen=True)
class HopSeen:
    ttl: int
    address: str | None
    error: IcmpErr | None


@dataclass(frozen=True)
class WaypointSeen:
    """One address of the expected path pinged by the waypoints probe."""

    address: str
    measured: bool
    sent: int = 0
    received: int = 0
    reply_ttl: int | None = None

    @property
    def answered(self) -> bool:
        return self.measured and self.received > 0


@dataclass(frozen=True)
class ProbeStatus:
    measured: bool
    not_applicable: bool = False
    reason: str = ""  # why it was not measured


@dataclass(frozen=True)
class Observed:
    """The fields of a ProbeResult the verdict and the trace renderer read, decoded once."""

    valid: bool
    engine: str = ""
    duration: float | None = None  # seconds the agent took
    statuses: tuple[tuple[str, ProbeStatus], ...] = ()  # every probe in the result, in its order
    unmeasured: tuple[tuple[str, str], ...] = ()  # (probe, reason) that could not run
    source_address: str | None = None  # the address the probe sent from (the probe pod's own, in pod mode)
    local_interface: str | None = None
    local_addresses: tuple[str, ...] = ()
    local_mtu: int | None = None
    local_gateway: str | None = None
    interface_mtu: int | None = None
    icmp_measured: bool = False
    icmp_sent: int = 0
    icmp_received: int = 0
    reply_ttl: int | None = None
    icmp_rtt: float | None = None  # average
    icmp_errors: tuple[IcmpErr, ...] = ()
    tcp_measured: bool = False
    tcp_port: int | None = None
    tcp_state: str = ""  # open | closed | filtered
    tcp_error: IcmpErr | None = None
    tcp_reply_ttl: int | None = None
    tcp_rtt: float | None = None
    udp_port: int | None = None
    udp_state: str = ""  # open | closed | filtered | open|filtered
    udp_error: IcmpErr | None = None
    udp_rtt: float | None = None
    trace_measured: bool = False
    trace_method: str = ""
    hops: tuple[HopSeen, ...] = ()
    reached: bool = False
    reached_at: int | None = None
    arp_measured: bool = False
    arp_answered: bool = False
    arp_mac: str | None = None
    arp_requests: int | None = None
    pmtu_measured: bool = False
    pmtu_method: str = ""  # icmpRaw | icmpDatagram (ICMP echo) | udp
    path_mtu: int | None = None
    pmtu_exact: bool = False
    reported_mtu: int | None = None
    reported_by: str | None = None
    waypoints: tuple[WaypointSeen, ...] = ()

    def waypoint(self, address: str) -> WaypointSeen | None:
        return next((w for w in self.waypoints if w.address == address), None)

    def probe(self, name: str) -> ProbeStatus | None:
        """Whether `name` is in the result, and if so whether it was measured (and why not)."""
        return next((status for probe, status in self.statuses if probe == name), None)


def _err(raw: Any) -> IcmpErr | None:
    if not isinstance(raw, Mapping):
        return None
    mtu = raw.get("mtu")
    return IcmpErr(str(raw.get("from", "")), str(raw.get("name", "")), mtu if isinstance(mtu, int) else None)


def _int(raw: Any) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def _num(raw: Any) -> float | None:
    return raw if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None


def _str(raw: Any) -> str | None:
    return str(raw) if raw else None


def _waypoints(raw: Mapping[str, Any]) -> tuple[WaypointSeen, ...]:
    out = []
    for entry in raw.get("results") or []:
        result = entry.get("result") if isinstance(entry, Mapping) else None
        if not isinstance(result, Mapping) or not entry.get("address"):
            continue
        out.append(WaypointSeen(str(entry["address"]), bool(result.get("measured")),
                                _int(result.get("sent")) or 0, _int(result.get("received")) or 0,
                                _int(result.get("replyTtl"))))
    return tuple(out)


def decode_probe_result(observed: Mapping[str, Any]) -> Observed:
    """The one place that knows the ProbeResult's field names (built by kdiag/agent)."""
    if not isinstance(observed, Mapping) or observed.get("kind") != "ProbeResult":
        return Observed(valid=False)
    probes = observed.get("probes") or {}
    p: dict[str, Mapping[str, Any]] = {k: v for k, v in probes.items() if isinstance(v, Mapping)}
    measured = {k: bool(v.get("measured")) for k, v in p.items()}
    statuses = tuple((k, ProbeStatus(measured[k], bool(v.get("notApplicable")), str(v.get("reason") or "")))
                     for k, v in p.items())
    unmeasured = tuple((k, s.reason) for k, s in statuses if not s.measured and not s.not_applicable)
    local, icmp, tcp, trace = p.get("local", {}), p.get("icmp", {}), p.get("tcp", {}), p.get("traceroute", {})
    arp, pmtu, udp = p.get("arp", {}), p.get("pmtu", {}), p.get("udp", {})
    hops = tuple(HopSeen(_int(h.get("ttl")) or 0, h.get("address") or None, _err(h.get("icmpError")))
                 for h in trace.get("hops") or [] if isinstance(h, Mapping))
    route, rtt = local.get("route"), icmp.get("rttMs")
    udp_ok = measured.get("udp", False)
    return Observed(
        valid=True, engine=str(observed.get("engine") or ""), duration=_num(observed.get("durationSeconds")),
        statuses=statuses, unmeasured=unmeasured,
        source_address=_str(local.get("sourceAddress")), local_interface=_str(local.get("interface")),
        local_addresses=tuple(str(a) for a in local.get("addresses") or []), local_mtu=_int(local.get("mtu")),
        local_gateway=_str(route.get("gateway")) if isinstance(route, Mapping) else None,
        interface_mtu=_int(pmtu.get("interfaceMtu")) or _int(local.get("mtu")),
        icmp_measured=measured.get("icmp", False), icmp_sent=_int(icmp.get("sent")) or 0,
        icmp_received=_int(icmp.get("received")) or 0, reply_ttl=_int(icmp.get("replyTtl")),
        icmp_rtt=_num(rtt.get("avg")) if isinstance(rtt, Mapping) else None,
        icmp_errors=tuple(e for e in map(_err, icmp.get("icmpErrors") or []) if e),
        tcp_measured=measured.get("tcp", False), tcp_port=_int(tcp.get("port")),
        tcp_state=str(tcp.get("state") or ""), tcp_error=_err(tcp.get("icmpError")),
        tcp_reply_ttl=_int(tcp.get("replyTtl")), tcp_rtt=_num(tcp.get("rttMs")),
        udp_port=_int(udp.get("port")), udp_state=str(udp.get("state") or "") if udp_ok else "",
        udp_error=_err(udp.get("icmpError")), udp_rtt=_num(udp.get("rttMs")),
        trace_measured=measured.get("traceroute", False), trace_method=str(trace.get("method") or ""),
        hops=hops, reached=bool(trace.get("reached")), reached_at=_int(trace.get("reachedAtTtl")),
        arp_measured=measured.get("arp", False), arp_answered=bool(arp.get("answered")),
        arp_mac=_str(arp.get("mac")), arp_requests=_int(arp.get("requests")),
        pmtu_measured=measured.get("pmtu", False), pmtu_method=str(pmtu.get("method") or ""),
        path_mtu=_int(pmtu.get("pathMtu")), pmtu_exact=bool(pmtu.get("exact")),
        reported_mtu=_int(pmtu.get("reportedMtu")), reported_by=_str(pmtu.get("reportedBy")),
        waypoints=_waypoints(p.get("waypoints", {})) if measured.get("waypoints") else (),
    )
