"""Where an unanswered trace stops: no reply at all, the hop it stops at, a broken overlay tunnel,
or (on a bridge) a peer that does not even answer ARP."""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts, destination, where
from kdiag.model.findings import Code, Finding


def _run(facts: Facts) -> list[Finding]:
    exp, obs, ctx = facts.expected, facts.observed, facts.context
    dst = destination(facts)
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
        out.append(Finding(Code.STOPS_AT_HOP, "error", f"stops at {where(ctx, e.source, exp)}: {e.name}",
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
                           f"last answer at TTL {last.ttl} from {where(ctx, last.address, exp)}; nothing "
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


CHECK = Check("reachability", {Code.NO_REPLY: ("error",), Code.STOPS_AT_HOP: ("error", "warning"),
                               Code.OVERLAY_SUSPECT: ("error",), Code.ARP_UNANSWERED: ("error",)},
              lambda facts: facts.measured and not facts.reached, _run)
