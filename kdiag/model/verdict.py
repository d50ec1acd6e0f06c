"""Expected path + what the probe saw -> a verdict with findings. Pure: no I/O.

The agent's ProbeResult (docs/probe-result.schema.json) is read in exactly one place,
`_observations`, so a field rename there is a one-line change here.

How faults look from the source pod, and so how they are told apart:
- the path works: replies come back with TTL 64 - expected decrement (0 bridge, 1 ptp, 2 cross-node);
- a router that has no route answers ICMP net/host unreachable (Linux checks the route before the
  TTL, so even traceroute's TTL-1 probe gets it): STOPS_AT_HOP at the node that owns that address;
- a silent drop leaves the last node that answered a traceroute probe as the place to look; when
  that is the source node and the pair crosses an overlay, the tunnel between the two node IPs
  (its UDP port, FDB/neighbour entries, underlay firewall) is the suspect: OVERLAY_SUSPECT;
- on a bridge, a peer that answers nothing and not even ARP has lost its link: ARP_UNANSWERED;
- ICMP through but TCP not: RST = TCP_CLOSED (nothing listens), silence = TCP_FILTERED (policy);
- small packets through, large DF packets lost without "fragmentation needed": MTU_BLACKHOLE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.model.findings import Code, Context, Finding, Severity, Status, Verdict, sort_findings
from kdiag.model.path import ExpectedPath

_INITIAL_TTLS = (64, 128, 255)  # Linux, Windows, network gear


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
class Observed:
    """The fields of a ProbeResult the verdict reads, decoded once."""

    valid: bool
    engine: str = ""
    unmeasured: tuple[tuple[str, str], ...] = ()  # (probe, reason) that could not run
    interface_mtu: int | None = None
    icmp_measured: bool = False
    icmp_sent: int = 0
    icmp_received: int = 0
    reply_ttl: int | None = None
    icmp_errors: tuple[IcmpErr, ...] = ()
    tcp_measured: bool = False
    tcp_port: int | None = None
    tcp_state: str = ""  # open | closed | filtered
    tcp_error: IcmpErr | None = None
    tcp_reply_ttl: int | None = None
    udp_state: str = ""  # open | closed | filtered | open|filtered
    trace_measured: bool = False
    hops: tuple[HopSeen, ...] = ()
    reached: bool = False
    reached_at: int | None = None
    arp_measured: bool = False
    arp_answered: bool = False
    arp_mac: str | None = None
    pmtu_measured: bool = False
    path_mtu: int | None = None
    reported_mtu: int | None = None
    reported_by: str | None = None


def _err(raw: Any) -> IcmpErr | None:
    if not isinstance(raw, Mapping):
        return None
    mtu = raw.get("mtu")
    return IcmpErr(str(raw.get("from", "")), str(raw.get("name", "")), mtu if isinstance(mtu, int) else None)


def _int(raw: Any) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def _observations(observed: Mapping[str, Any]) -> Observed:
    """The one place that knows the ProbeResult's field names (built by kdiag/agent)."""
    if not isinstance(observed, Mapping) or observed.get("kind") != "ProbeResult":
        return Observed(valid=False)
    probes = observed.get("probes") or {}
    p: dict[str, Mapping[str, Any]] = {k: v for k, v in probes.items() if isinstance(v, Mapping)}
    measured = {k: bool(v.get("measured")) for k, v in p.items()}
    unmeasured = tuple((k, str(v.get("reason", ""))) for k, v in p.items()
                       if not v.get("measured") and not v.get("notApplicable"))
    local, icmp, tcp, trace = p.get("local", {}), p.get("icmp", {}), p.get("tcp", {}), p.get("traceroute", {})
    arp, pmtu, udp = p.get("arp", {}), p.get("pmtu", {}), p.get("udp", {})
    hops = tuple(HopSeen(_int(h.get("ttl")) or 0, h.get("address") or None, _err(h.get("icmpError")))
                 for h in trace.get("hops") or [] if isinstance(h, Mapping))
    return Observed(
        valid=True, engine=str(observed.get("engine", "")), unmeasured=unmeasured,
        interface_mtu=_int(pmtu.get("interfaceMtu")) or _int(local.get("mtu")),
        icmp_measured=measured.get("icmp", False), icmp_sent=_int(icmp.get("sent")) or 0,
        icmp_received=_int(icmp.get("received")) or 0, reply_ttl=_int(icmp.get("replyTtl")),
        icmp_errors=tuple(e for e in map(_err, icmp.get("icmpErrors") or []) if e),
        tcp_measured=measured.get("tcp", False), tcp_port=_int(tcp.get("port")),
        tcp_state=str(tcp.get("state") or ""), tcp_error=_err(tcp.get("icmpError")),
        tcp_reply_ttl=_int(tcp.get("replyTtl")),
        udp_state=str(udp.get("state") or "") if measured.get("udp") else "",
        trace_measured=measured.get("traceroute", False), hops=hops, reached=bool(trace.get("reached")),
        reached_at=_int(trace.get("reachedAtTtl")),
        arp_measured=measured.get("arp", False), arp_answered=bool(arp.get("answered")),
        arp_mac=arp.get("mac") or None,
        pmtu_measured=measured.get("pmtu", False), path_mtu=_int(pmtu.get("pathMtu")),
        reported_mtu=_int(pmtu.get("reportedMtu")), reported_by=pmtu.get("reportedBy") or None,
    )


def _decrement(ttl: int | None) -> int | None:
    if ttl is None:
        return None
    return next((init - ttl for init in _INITIAL_TTLS if ttl <= init), None)


def _where(ctx: Context, address: str | None, exp: ExpectedPath) -> str:
    node = ctx.owner(address)
    if not node:
        return f"{address} (not a cluster node)"
    role = ("the source node" if node == exp.src_node else "the destination node" if node == exp.dst_node
            else "another node")
    return f"{address} ({node}, {role})"


# ---- the checks ------------------------------------------------------------------------------------


def _engine_limits(obs: Observed) -> list[Finding]:
    if not obs.unmeasured:
        return []
    what = "; ".join(f"{name}: {reason}" for name, reason in obs.unmeasured)
    return [Finding(Code.ENGINE_LIMITED, "info", f"not measured with the {obs.engine or '?'} engine: {what}",
                    "run with --engine raw (needs NET_RAW; Pod Security baseline) to measure these")]


def _dst_state(ctx: Context) -> list[Finding]:
    if ctx.dst_phase and ctx.dst_phase != "Running":
        why = f"is {ctx.dst_phase}"
    elif ctx.dst_ready is False:
        why = "is Running but not Ready"
    else:
        return []
    return [Finding(Code.DST_NOT_READY, "warning", f"destination {ctx.dst_name or '?'} {why}",
                    "kubectl describe pod: readiness probe, restarts, events; an unready pod may not "
                    "listen yet even though its network works")]


def _shape(exp: ExpectedPath, obs: Observed, ctx: Context) -> list[Finding]:
    seen = _decrement(obs.reply_ttl) if obs.reply_ttl is not None else _decrement(obs.tcp_reply_ttl)
    source = f"reply TTL {obs.reply_ttl if obs.reply_ttl is not None else obs.tcp_reply_ttl}"
    if seen is None and obs.reached and obs.reached_at:
        seen, source = obs.reached_at - 1, f"traceroute reached the target at TTL {obs.reached_at}"
    if seen is None:
        return []
    if seen != exp.ttl_decrement:
        more = seen > exp.ttl_decrement
        hint = ("an extra router forwards this traffic: is the datapath right (kdiag cni)? does the pod "
                "route via an unexpected gateway (ip route in the pod)?" if more else
                "fewer routers than the model: an eBPF/OVS datapath may not decrement TTL, or the peers "
                "share an L2 segment")
        sev: Severity = "warning" if exp.ttl_exact else "info"
        return [Finding(Code.TTL_MISMATCH, sev, f"{source}: {seen} forwarding hop(s), expected "
                        f"{exp.ttl_decrement} for {exp.relation.value} on {exp.datapath.cni}", hint)]
    if exp.l2_adjacent:
        arp = f"; ARP answered by {obs.arp_mac}" if obs.arp_answered and obs.arp_mac else ""
        return [Finding(Code.L2_ADJACENT, "info", f"{source}: no router in between (L2){arp}")]
    hops = " -> ".join(_where(ctx, h.address, exp) for h in obs.hops if h.address and h.address != exp.dst_ip)
    return [Finding(Code.ROUTED_HOPS, "info", f"{source}: {seen} forwarding hop(s) as expected"
                    + (f": {hops}" if hops else ""))]


def _tcp(exp: ExpectedPath, obs: Observed, ctx: Context, ip_ok: bool) -> list[Finding]:
    if not obs.tcp_measured:
        return []
    port, dst = obs.tcp_port or ctx.port, ctx.dst_name or exp.dst_ip
    out: list[Finding] = []
    icmp_failed = obs.icmp_measured and obs.icmp_received == 0
    if obs.tcp_state in ("open", "closed") and icmp_failed:
        out.append(Finding(Code.ICMP_FILTERED_TCP_OK, "info", f"ICMP echo got no answer but TCP {port} "
                           f"reached {dst} ({'SYN-ACK' if obs.tcp_state == 'open' else 'RST'})",
                           "ICMP is dropped by a policy or firewall; TCP connectivity is what matters"))
    if obs.tcp_state == "closed":
        ports = ", ".join(map(str, ctx.dst_ports))
        declared = f" (declared containerPorts: {ports})" if ports else ""
        out.append(Finding(Code.TCP_CLOSED, "error", f"{dst} answered TCP {port} with RST: nothing listens",
                           f"the application in {dst} is not listening on {port}{declared}: check its "
                           "listen address/port (ss -ltn inside the pod) and whether it crashed",
                           exp.dst_node))
    elif obs.tcp_state == "filtered" and ip_ok:
        err = obs.tcp_error
        by = f"; {err.name} from {_where(ctx, err.source, exp)}" if err else ""
        out.append(Finding(Code.TCP_FILTERED, "error", f"{dst} answers ICMP, TCP {port} gets no answer{by}",
                           "a NetworkPolicy or firewall drops TCP to this port: kubectl get networkpolicy "
                           f"-n <dst namespace>; iptables/nft rules in the pod and on {exp.dst_node}",
                           exp.dst_node))
    return out


def _mtu(exp: ExpectedPath, obs: Observed, ctx: Context) -> list[Finding]:
    if not obs.pmtu_measured:
        return []
    sends = obs.interface_mtu or exp.expected_mtu
    if sends is None:
        return []
    model = f" (expected {exp.expected_mtu} on {exp.datapath.summary()})" if exp.expected_mtu else ""
    nodes = " and ".join(dict.fromkeys(n for n in (exp.src_node, exp.dst_node) if n)) or "both nodes"
    hint = (f"a link on the path carries less than the pods send: compare `ip link` MTUs of eth0 and "
            f"{exp.datapath.overlay.device or 'the node NICs'} on {nodes} and the underlay; lower the "
            "CNI's MTU or raise the link's; make sure ICMP fragmentation-needed is not filtered")
    got = obs.path_mtu
    if got is None:
        return [Finding(Code.MTU_BLACKHOLE, "error", "small packets get through but no DF probe of 576 "
                        f"bytes or more does{model}", hint)]
    if got < sends and obs.reported_mtu is None:
        return [Finding(Code.MTU_BLACKHOLE, "error", f"DF packets larger than {got} bytes vanish without "
                        f"ICMP fragmentation-needed while the pod sends up to {sends}{model}", hint)]
    # A pod whose own MTU is below the model's cannot send more: that is configuration, not a hole.
    below_model = exp.expected_mtu is not None and got < exp.expected_mtu and not (
        obs.interface_mtu and obs.interface_mtu < exp.expected_mtu)
    if got < sends or below_model:
        by = f"{_where(ctx, obs.reported_by, exp)} reports MTU {obs.reported_mtu}" if obs.reported_mtu else ""
        limit = sends if got < sends else exp.expected_mtu
        return [Finding(Code.MTU_BLACKHOLE, "warning", f"path MTU {got} is below {limit}{model}"
                        + (f"; {by} (path MTU discovery works)" if by else ""), hint)]
    return []


def _unreachable(exp: ExpectedPath, obs: Observed, ctx: Context) -> list[Finding]:
    dst = ctx.dst_name or exp.dst_ip
    tried = []
    if obs.icmp_measured:
        tried.append(f"ICMP {obs.icmp_received}/{obs.icmp_sent}")
    if obs.tcp_measured:
        tried.append(f"TCP {obs.tcp_port} {obs.tcp_state}")
    if obs.trace_measured:
        tried.append("traceroute did not reach it")
    out: list[Finding] = []
    errors = [h.error for h in obs.hops if h.error] + list(obs.icmp_errors) + (
        [obs.tcp_error] if obs.tcp_error else [])
    errors = [e for e in errors if e.source != exp.dst_ip and e.name != "ttlExceeded"]
    answering = [h for h in obs.hops if h.address and h.address != exp.dst_ip]
    l2_note = ""
    if exp.l2_adjacent and obs.arp_measured and obs.arp_answered:
        l2_note = f"; ARP is answered by {obs.arp_mac}, so its link is up: something in the pod drops traffic"
    out.append(Finding(Code.NO_REPLY, "error", f"no answer from {dst}: {', '.join(tried) or 'nothing'}"
                       + l2_note, "the other findings say where it stops", exp.dst_node))
    overlay = exp.datapath.overlay
    if errors:
        e = errors[0]
        node = ctx.owner(e.source)
        cause = {"netUnreachable": f"has no route to {exp.dst_ip}: check `ip route get {exp.dst_ip}` on "
                                   f"{node or e.source}; the route to the peer podCIDR is missing",
                 "hostUnreachable": f"cannot resolve the next hop towards {exp.dst_ip} (ARP/neighbour on "
                                    f"{node or e.source}): peer node down, or the pod is gone",
                 "adminProhibited": f"rejects it: a REJECT rule or NetworkPolicy on {node or e.source}"}
        out.append(Finding(Code.STOPS_AT_HOP, "error", f"stops at {_where(ctx, e.source, exp)}: {e.name}",
                           cause.get(e.name, f"inspect routing and filtering on {node or e.source}"), node))
    elif answering:
        last = answering[-1]
        node = ctx.owner(last.address)
        overlay_suspect = exp.relation.cross_node and exp.encapsulated and node == exp.src_node
        if overlay_suspect:
            port = f"UDP {overlay.udp_port}" if overlay.udp_port else f"{overlay.kind.value.upper()} packets"
            out.append(Finding(
                Code.OVERLAY_SUSPECT, "error",
                f"the source node {exp.src_node} forwards, nothing answers beyond it: the {overlay.device} "
                f"tunnel {exp.src_node_ip} -> {exp.dst_node_ip} ({port}) looks broken",
                f"check {port} between {exp.src_node_ip} and {exp.dst_node_ip} (firewall, security group; "
                f"tcpdump -ni eth0 on both nodes), the FDB/neighbour entries of {overlay.device}, and that "
                f"the route to {exp.dst_ip}'s podCIDR on {exp.src_node} still goes via {overlay.device}",
                exp.src_node))
        hint = (f"{exp.dst_node} received it but {dst} does not answer: its veth, bridge port, a "
                "NetworkPolicy, or the pod itself" if node == exp.dst_node and node else
                f"what comes after {node or last.address} on the path: routes and filters there, the peer "
                "node's reachability on the underlay")
        # Under OVERLAY_SUSPECT this only locates the stop; otherwise it is the finding.
        out.append(Finding(Code.STOPS_AT_HOP, "warning" if overlay_suspect else "error",
                           f"last answer at TTL {last.ttl} from {_where(ctx, last.address, exp)}; nothing "
                           "beyond", hint, node))
    elif exp.l2_adjacent and obs.arp_measured and not obs.arp_answered:
        bridge = exp.datapath.bridge or "the bridge"
        out.append(Finding(Code.ARP_UNANSWERED, "error", f"nobody answers ARP for {exp.dst_ip} on {bridge}",
                           f"{dst}'s veth is down or detached from {bridge} on {exp.dst_node} (ip link show "
                           f"master {bridge}), or its network namespace is gone", exp.dst_node))
    elif not exp.l2_adjacent and obs.trace_measured:
        note = " (this datapath may not answer traceroute)" if exp.datapath.generic else ""
        out.append(Finding(Code.STOPS_AT_HOP, "warning", "nothing answered, not even the source node at "
                           f"TTL 1{note}", f"the source pod's link to {exp.src_node}: its veth, the gateway "
                           f"{exp.gateway or '?'} (ARP), or {exp.src_node} dropping ICMP", exp.src_node))
    return out


def judge(expected: ExpectedPath, observed: Mapping[str, Any], context: Context) -> Verdict:
    """Compare a ProbeResult with the expected path; errors first among the findings."""
    exp, ctx = expected, context
    obs = _observations(observed)
    if not obs.valid:
        none = Finding(Code.ENGINE_LIMITED, "warning", "no ProbeResult came back from the probe",
                       "run again with -v to see the agent's log")
        return Verdict("inconclusive", False, (none,), none.message)
    findings = _dst_state(ctx) + _engine_limits(obs)
    ip_ok = (obs.icmp_measured and obs.icmp_received > 0) or obs.reached
    reached = ip_ok or obs.tcp_state in ("open", "closed") or obs.udp_state in ("open", "closed")
    if not (obs.icmp_measured or obs.tcp_measured or obs.trace_measured or obs.udp_state):
        return Verdict("inconclusive", False, sort_findings(findings), "nothing could be measured")
    if reached:
        findings += _shape(exp, obs, ctx) + _tcp(exp, obs, ctx, ip_ok) + _mtu(exp, obs, ctx)
    else:
        findings += _unreachable(exp, obs, ctx)
    bad = [f for f in findings if f.severity != "info" and f.code is not Code.DST_NOT_READY]
    status: Status = "problem" if any(f.severity == "error" for f in findings) else "ok"
    matches = reached and not bad
    if matches:
        findings.insert(0, Finding(Code.PATH_AS_EXPECTED, "info", exp.summary))
    ordered = sort_findings(findings)
    return Verdict(status, matches, ordered, ordered[0].message if ordered else "")
