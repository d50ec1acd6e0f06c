"""Replies attributed to who sent them: a TCP RST with a nearer TTL than the destination's replies
was sent by an element of the path (a node's firewall rejecting with a reset), not by the pod."""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts, destination
from kdiag.model.findings import Code, Finding
from kdiag.model.senders import destination_distance


def _run(facts: Facts) -> list[Finding]:
    exp, obs = facts.expected, facts.observed
    sent = facts.rst_sender
    if sent is None:
        return []
    dst, port = destination(facts), obs.tcp_port or facts.context.port
    far = destination_distance(exp, obs)
    ref = (f"the destination's replies come with TTL {64 - far}" if obs.icmp_received or obs.reached
           else f"the destination is {far} hop(s) away on the model") if far is not None else ""
    who = sent.describe()
    return [Finding(Code.TCP_RESET_IN_PATH, "error",
                    f"TCP {port} was answered with RST at TTL {obs.tcp_reply_ttl}, {sent.distance} hop(s) "
                    f"away while {ref}: {who} sent it, not {dst}",
                    f"a firewall or policy on {sent.node or who} rejects TCP {port} with a reset "
                    "(nftables/iptables `reject with tcp reset`, a NetworkPolicy enforced as REJECT): nft "
                    f"list ruleset or iptables-save on {sent.node or who}; whether {dst} listens is not "
                    "known",
                    sent.node)]


CHECK = Check("attribution", {Code.TCP_RESET_IN_PATH: ("error",)},
              lambda facts: facts.measured and facts.rst_sender is not None, _run)
