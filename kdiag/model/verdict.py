"""Expected path + what the probe saw -> a verdict with findings. Pure: no I/O.

The agent's ProbeResult is read in exactly one place, `kdiag.model.observed.observations`; the
verdict and the trace renderer both work from the `Observed` it returns.

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

from collections.abc import Mapping
from typing import Any

from kdiag.model.findings import Code, Context, Finding, Severity, Status, Verdict, sort_findings
from kdiag.model.observed import Observed, observations
from kdiag.model.path import ExpectedPath

_INITIAL_TTLS = (64, 128, 255)  # Linux, Windows, network gear


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


def _sender(exp: ExpectedPath, obs: Observed) -> str:
    """A probe pod has its own IP on SRC's node (and none of SRC's labels): say who really sent."""
    addr = obs.source_address
    if not addr or addr == exp.src_ip:
        return ""
    return f"sent from {addr} (the probe on {exp.src_node or '?'}), not from {exp.src_ip}"


def _policy_note(exp: ExpectedPath, obs: Observed) -> str:
    if not _sender(exp, obs):
        return ""
    return ("; a policy admitting only the source pod's labels also drops the probe pod (it has none of "
            "them): --mode ephemeral probes from the source pod itself")


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
    sender = _sender(exp, obs)
    return [Finding(Code.ROUTED_HOPS, "info", f"{source}: {seen} forwarding hop(s) as expected"
                    + (f": {hops}" if hops else "") + (f"; {sender}" if sender else ""))]


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
                           f"-n <dst namespace>; iptables/nft rules in the pod and on {exp.dst_node}"
                           + _policy_note(exp, obs), exp.dst_node))
    return out


def _udp(exp: ExpectedPath, obs: Observed, ctx: Context, ip_ok: bool) -> list[Finding]:
    port, dst = obs.udp_port or ctx.port, ctx.dst_name or exp.dst_ip
    if obs.udp_state == "closed":
        ports = ", ".join(map(str, ctx.dst_ports))
        declared = f" (declared containerPorts: {ports})" if ports else ""
        return [Finding(Code.UDP_CLOSED, "error", f"{dst} answered UDP {port} with ICMP port unreachable: "
                        "nothing listens", f"the application in {dst} is not listening on UDP {port}"
                        f"{declared}: check its listen address/port (ss -lun inside the pod) and whether it "
                        "crashed", exp.dst_node)]
    if obs.udp_state == "filtered" and obs.udp_error:
        err, node = obs.udp_error, ctx.owner(obs.udp_error.source) or exp.dst_node
        return [Finding(Code.UDP_FILTERED, "error", f"UDP {port} to {dst} is rejected: {err.name} from "
                        f"{_where(ctx, err.source, exp)}", "a NetworkPolicy or firewall rejects UDP to this "
                        f"port: kubectl get networkpolicy -n <dst namespace>; iptables/nft rules in the pod "
                        f"and on {node}" + _policy_note(exp, obs), node)]
    if obs.udp_state == "open|filtered" and ip_ok:
        return [Finding(Code.UDP_OPEN_FILTERED, "info", f"UDP {port} to {dst}: no reply and no ICMP "
                        "error, so open (the service ignored the probe datagram) or filtered: UDP cannot "
                        "tell",
                        "test with the application's own client (e.g. dig for DNS); a policy dropping UDP "
                        "looks the same" + _policy_note(exp, obs))]
    return []


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
    if got is None and not _pmtu_carrier_answered(obs):
        carrier = "ICMP echo" if obs.pmtu_method.startswith("icmp") else "UDP"
        return [Finding(Code.MTU_UNMEASURED, "info", f"path MTU not measured: the pmtu probe's {carrier} "
                        "got no answer even at its smallest size, so a black hole cannot be told from "
                        "filtering", "if large transfers hang after the handshake, allow ICMP to the "
                        "destination and trace again; compare `ip link` MTUs on the path")]
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


def _pmtu_carrier_answered(obs: Observed) -> bool:
    """Whether what the pmtu probe sends (ICMP echo, or UDP to a closed port) is answered at all: only
    then does silence at every DF size mean a black hole rather than filtering."""
    if obs.path_mtu is not None:
        return True
    if obs.pmtu_method.startswith("icmp") and obs.icmp_received > 0:
        return True
    return obs.reached and obs.trace_method == obs.pmtu_method


def _unreachable(exp: ExpectedPath, obs: Observed, ctx: Context) -> list[Finding]:
    dst = ctx.dst_name or exp.dst_ip
    tried = []
    if obs.icmp_measured:
        tried.append(f"ICMP {obs.icmp_received}/{obs.icmp_sent}")
    if obs.tcp_measured:
        tried.append(f"TCP {obs.tcp_port} {obs.tcp_state}")
    if obs.udp_state:
        tried.append(f"UDP {obs.udp_port} {obs.udp_state}")
    if obs.trace_measured:
        tried.append("traceroute did not reach it")
    out: list[Finding] = []
    errors = [h.error for h in obs.hops if h.error] + list(obs.icmp_errors) + (
        [obs.tcp_error] if obs.tcp_error else []) + ([obs.udp_error] if obs.udp_error else [])
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
    obs = observations(observed)
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
        findings += (_shape(exp, obs, ctx) + _tcp(exp, obs, ctx, ip_ok) + _udp(exp, obs, ctx, ip_ok)
                     + _mtu(exp, obs, ctx))
    else:
        findings += _unreachable(exp, obs, ctx)
    bad = [f for f in findings if f.severity != "info" and f.code is not Code.DST_NOT_READY]
    status: Status = "problem" if any(f.severity == "error" for f in findings) else "ok"
    matches = reached and not bad
    if matches:
        sender = _sender(exp, obs)
        summary = exp.summary + (f"; {sender}" if sender else "")
        findings.insert(0, Finding(Code.PATH_AS_EXPECTED, "info", summary))
    ordered = sort_findings(findings)
    return Verdict(status, matches, ordered, ordered[0].message if ordered else "")
