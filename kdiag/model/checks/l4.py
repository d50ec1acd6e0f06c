"""The port asked about: TCP (open, closed, filtered) and UDP (closed, rejected, silent)."""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts, destination, judged_path, policy_note, where
from kdiag.model.findings import Code, Finding


def _namespace(facts: Facts) -> str:
    """`-n NAMESPACE` of the destination pod; every namespace for a bare address."""
    name = facts.context.dst_name
    return f"-n {name.split('/', 1)[0]}" if "/" in name else "-A"


def _tcp(facts: Facts) -> list[Finding]:
    exp, obs, ctx = facts.expected, facts.observed, facts.context
    if not obs.tcp_measured:
        return []
    port, dst = obs.tcp_port or ctx.port, destination(facts)
    out: list[Finding] = []
    icmp_failed = obs.icmp_measured and obs.icmp_received == 0
    answered = obs.tcp_state == "open" or (obs.tcp_state == "closed" and facts.rst_sender is None)
    if answered and icmp_failed:
        out.append(Finding(Code.ICMP_FILTERED_TCP_OK, "info", f"ICMP echo got no answer but TCP {port} "
                           f"reached {dst} ({'SYN-ACK' if obs.tcp_state == 'open' else 'RST'})",
                           "ICMP is dropped by a policy or firewall; TCP connectivity is what matters"))
    if obs.tcp_state == "closed" and facts.rst_sender is None:  # else TCP_RESET_IN_PATH: not the pod's RST
        ports = ", ".join(map(str, ctx.dst_ports))
        declared = f" (declared containerPorts: {ports})" if ports else ""
        out.append(Finding(Code.TCP_CLOSED, "error", f"{dst} answered TCP {port} with RST: nothing listens",
                           f"the application in {dst} is not listening on {port}{declared}: check its "
                           "listen address/port (ss -ltn inside the pod) and whether it crashed",
                           exp.dst_node))
    elif obs.tcp_state == "filtered" and facts.ip_ok:
        err = obs.tcp_error
        by = f"; {err.name} from {where(ctx, err.source, exp)}" if err else ""
        out.append(Finding(Code.TCP_FILTERED, "error", f"{dst} answers ICMP, TCP {port} gets no answer{by}",
                           "a NetworkPolicy or firewall drops TCP to this port: kubectl get networkpolicy "
                           f"{_namespace(facts)}; iptables/nft rules in the pod and on {exp.dst_node}"
                           + policy_note(exp, obs), exp.dst_node))
    return out


def _udp(facts: Facts) -> list[Finding]:
    exp, obs, ctx = facts.expected, facts.observed, facts.context
    port, dst = obs.udp_port or ctx.port, destination(facts)
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
                        f"{where(ctx, err.source, exp)}", "a NetworkPolicy or firewall rejects UDP to this "
                        f"port: kubectl get networkpolicy {_namespace(facts)}; iptables/nft rules in the pod "
                        f"and on {node}" + policy_note(exp, obs), node)]
    if obs.udp_state == "open|filtered" and facts.ip_ok:
        return [Finding(Code.UDP_OPEN_FILTERED, "info", f"UDP {port} to {dst}: no reply and no ICMP "
                        "error, so open (the service ignored the probe datagram) or filtered: UDP cannot "
                        "tell",
                        "test with the application's own client (e.g. dig for DNS); a policy dropping UDP "
                        "looks the same" + policy_note(exp, obs))]
    return []


CHECK = Check("l4", {Code.ICMP_FILTERED_TCP_OK: ("info",), Code.TCP_CLOSED: ("error",),
                     Code.TCP_FILTERED: ("error",), Code.UDP_CLOSED: ("error",),
                     Code.UDP_FILTERED: ("error",),
                     Code.UDP_OPEN_FILTERED: ("info",)},
              judged_path, lambda facts: _tcp(facts) + _udp(facts))
