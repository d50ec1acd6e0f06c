"""The forward and the reverse path, each judged against the model: a detour or an asymmetric path.

They are separate facts. The traceroute measures the way out (it reached the destination at TTL N:
N - 1 routers, each answering from an address kdiag maps to its node); the reply TTL measures the
way back. A path that is longer either way, or goes out through a node the model does not put on
it, differs from the expected path even when the replies come back as expected; one that differs
between the two directions breaks what keeps state per connection (conntrack, a firewall's
`ct state`) on the node that sees one direction only.
"""

from __future__ import annotations

from dataclasses import dataclass

from kdiag.model.checks.base import Check, Facts, judged_path, where
from kdiag.model.findings import Code, Finding, Severity
from kdiag.model.senders import hops_back


@dataclass(frozen=True)
class Directions:
    forward: int  # routers on the way out (traceroute)
    reverse: int | None  # routers on the way back (the destination's reply TTL), None unmeasured
    extra: tuple[str, ...]  # traceroute answers from neither end's node, as addresses
    path: str  # the traceroute's answers in words


def directions(facts: Facts) -> Directions | None:
    """Both directions, when the traceroute reached the destination (otherwise there is no way out
    to judge, and kdiag.model.checks.shape judges the reply TTL alone)."""
    exp, obs, ctx = facts.expected, facts.observed, facts.context
    if not (obs.reached and obs.reached_at):
        return None
    if obs.icmp_received and obs.reply_ttl is not None:
        reverse = hops_back(obs.reply_ttl)
    elif obs.tcp_state == "open" or (obs.tcp_state == "closed" and facts.rst_sender is None):
        reverse = hops_back(obs.tcp_reply_ttl)
    else:
        reverse = None
    answers = [h.address for h in obs.hops if h.address and h.address != exp.dst_ip]
    ends = {exp.src_node, exp.dst_node} - {""}
    extra = () if exp.open_ended else tuple(a for a in answers if ctx.owner(a) not in ends)
    return Directions(obs.reached_at - 1, reverse, extra, " -> ".join(where(ctx, a, exp) for a in answers))


def departs(facts: Facts) -> bool:
    """The traceroute or the reply TTL departs from the model: this check speaks, shape does not."""
    d = directions(facts)
    if d is None:
        return False
    want = facts.expected.ttl_decrement
    return bool(d.extra) or d.forward != want or (d.reverse is not None and d.reverse != want)


def _run(facts: Facts) -> list[Finding]:
    exp, ctx = facts.expected, facts.context
    d = directions(facts)
    if d is None or not departs(facts):
        return []
    want = exp.ttl_decrement
    if exp.open_ended and d.forward >= want and (d.reverse is None or d.reverse >= want):
        return []  # routers beyond the cluster are not modelled
    out_words = (f"out: traceroute reached {exp.dst_ip} at TTL {d.forward + 1}, {d.forward} forwarding "
                 "hop(s)" + (f" ({d.path})" if d.path else "")
                 + (", as expected" if d.forward == want else ""))
    back_words = ("back: not measured" if d.reverse is None else f"back: reply TTL {64 - d.reverse}, "
                  f"{d.reverse} hop(s)" + (", as expected" if d.reverse == want else ""))
    asymmetric = d.reverse is not None and d.reverse != d.forward
    nodes = list(dict.fromkeys(ctx.owner(a) for a in d.extra if ctx.owner(a)))
    others = nodes or list(d.extra)
    via = f" through {', '.join(others)}" if others else ""
    what = ("asymmetric: the requests detour" + via if asymmetric and d.forward > (d.reverse or 0) else
            "asymmetric: the replies come back another way" if asymmetric else "a longer path" + via)
    severity: Severity = "info" if not exp.ttl_exact and not nodes else "error" if asymmetric else "warning"
    tunnel = f" through {exp.datapath.overlay.device}" if exp.encapsulated else ""
    hint = (f"the routes on {exp.src_node or 'the source node'}: `ip route get {exp.dst_ip}` there should "
            f"point at {exp.dst_node or 'the destination'}{tunnel}, not at "
            f"{', '.join(others) or 'another router'}; and the route back on "
            f"{exp.dst_node or 'the destination node'} (`ip route get {exp.src_ip}`). An asymmetric path "
            "breaks connection tracking on a node that sees one direction only: connections open, then hang")
    message = (f"expected {want} forwarding hop(s) each way on {exp.datapath.cni}; {out_words}; "
               f"{back_words}: {what}")
    return [Finding(Code.PATH_DETOUR, severity, message, hint, nodes[0] if nodes else "")]


CHECK = Check("detour", {Code.PATH_DETOUR: ("error", "warning", "info")}, judged_path, _run)
