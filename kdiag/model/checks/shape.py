"""The path's shape: how many routers the replies crossed (TTL), against the model."""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts, decrement, judged_path, sender, where
from kdiag.model.checks.detour import departs
from kdiag.model.findings import Code, Finding, Severity


def _run(facts: Facts) -> list[Finding]:
    exp, obs, ctx = facts.expected, facts.observed, facts.context
    if departs(facts):
        return []  # the traceroute and the reply TTL disagree with the model: PATH_DETOUR says how
    # A RST a node on the way sent (kdiag.model.senders) says nothing about the destination's distance.
    tcp_ttl = obs.tcp_reply_ttl if facts.rst_sender is None else None
    seen = decrement(obs.reply_ttl) if obs.reply_ttl is not None else decrement(tcp_ttl)
    source = f"reply TTL {obs.reply_ttl if obs.reply_ttl is not None else tcp_ttl}"
    if seen is None and obs.reached and obs.reached_at:
        seen, source = obs.reached_at - 1, f"traceroute reached the target at TTL {obs.reached_at}"
    if seen is None:
        return []
    if exp.open_ended and seen >= exp.ttl_decrement:
        return [Finding(Code.ROUTED_HOPS, "info", f"{source}: {seen} forwarding hop(s), "
                        f"{exp.ttl_decrement} of them in the cluster (routers beyond it are not modelled)")]
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
    hops = " -> ".join(where(ctx, h.address, exp) for h in obs.hops if h.address and h.address != exp.dst_ip)
    by = sender(exp, obs)
    return [Finding(Code.ROUTED_HOPS, "info", f"{source}: {seen} forwarding hop(s) as expected"
                    + (f": {hops}" if hops else "") + (f"; {by}" if by else ""))]


CHECK = Check("shape", {Code.TTL_MISMATCH: ("warning", "info"), Code.L2_ADJACENT: ("info",),
                        Code.ROUTED_HOPS: ("info",)}, judged_path, _run)
