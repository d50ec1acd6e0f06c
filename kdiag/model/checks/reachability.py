"""Where an unanswered trace stops: no reply at all, the hop it stops at, a broken overlay tunnel,
or (on a bridge) a peer that does not even answer ARP."""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts, destination, where
from kdiag.model.checks.waypoints import answered as measured_answers
from kdiag.model.checks.waypoints import measured, reasoned
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
    culprits = reasoned(facts)  # which waypoint answered already names the node (checks/waypoints.py)
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
        overlay_suspect = (exp.relation.cross_node and exp.encapsulated and node == exp.src_node
                           and not culprits)
        if overlay_suspect:
            port = f"UDP {overlay.udp_port}" if overlay.udp_port else f"{overlay.kind.value.upper()} packets"
            silent = measured(facts, "tunnel", "bridge", "dst-node")
            back = (f"; {exp.dst_node}'s own {', '.join(w.address for w in silent)} did not answer either: "
                    f"the tunnel, or {exp.dst_node}'s route back to {exp.src_ip} (blackholed or missing)"
                    if silent else "")
            out.append(Finding(
                Code.OVERLAY_SUSPECT, "error",
                f"the source node {exp.src_node} forwards, nothing answers beyond it: the {overlay.device} "
                f"tunnel {exp.src_node_ip} -> {exp.dst_node_ip} ({port}) looks broken{back}",
                f"check {port} between {exp.src_node_ip} and {exp.dst_node_ip} (firewall, security group; "
                f"tcpdump -ni eth0 on both nodes), the FDB/neighbour entries of {overlay.device}, and that "
                f"the route to {exp.dst_ip}'s podCIDR on {exp.src_node} still goes via {overlay.device}"
                + (f"; on {exp.dst_node}: `ip route get {exp.src_ip}` (must leave via {overlay.device})"
                   if silent else ""),
                exp.src_node))
        # The destination node answering on its node address (and no waypoint finding): it is up and
        # its way back works; which of the two nodes drops the traffic stays open.
        up = measured_answers(facts, "dst-node") if node != exp.dst_node and not culprits else []
        hint = (f"{exp.dst_node} received it but {dst} does not answer: its veth, bridge port, a "
                "NetworkPolicy, or the pod itself" if node == exp.dst_node and node else
                f"{exp.dst_node} answers on its node address {up[0].address}, so it is up and its route "
                f"back to {exp.src_ip} works: either {node or last.address} does not send this traffic to "
                f"{exp.dst_node} (`ip route get {exp.dst_ip}` there) or {exp.dst_node} does not forward it "
                f"(sysctl net.ipv4.ip_forward; `ip route get {exp.dst_ip}` there)" if up else
                f"what comes after {node or last.address} on the way out of the cluster: its default "
                "route's gateway, an egress firewall or NAT, the network beyond" if exp.open_ended else
                f"what comes after {node or last.address} on the path: routes and filters there, the peer "
                "node's reachability on the underlay")
        # Under OVERLAY_SUSPECT this only locates the stop; otherwise it is the finding.
        out.append(Finding(Code.STOPS_AT_HOP, "warning" if overlay_suspect or culprits else "error",
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
                           f"{exp.gateway or '?'} (ARP), {exp.src_node} not forwarding (net.ipv4.ip_forward) "
                           "or dropping ICMP", exp.src_node))
    # The symptom after its causes: the first finding is the likeliest cause (docs/findings.md).
    located = [f.code.value for f in culprits + out if f.severity == "error"]
    hint = (f"where it stops: {', '.join(located)}" if located else
            f"nothing located the stop: is {dst} running and listening (kubectl describe pod), and do "
            "NetworkPolicies in its namespace admit the probe?")
    out.append(Finding(Code.NO_REPLY, "error", f"no answer from {dst}: {', '.join(tried) or 'nothing'}"
                       + l2_note, hint, exp.dst_node))
    return out


CHECK = Check("reachability", {Code.NO_REPLY: ("error",), Code.STOPS_AT_HOP: ("error", "warning"),
                               Code.OVERLAY_SUSPECT: ("error",), Code.ARP_UNANSWERED: ("error",)},
              lambda facts: facts.measured and not facts.reached, _run)
