"""Text view of `kdiag trace`: a header, the expected path as a chain of hops, a table of what the probe
observed, then the verdict and its findings.

Plain text unless `color` is set (the CLI sets it on a terminal without NO_COLOR); then rich paints
the status and severities. Either way the words are the same.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from kdiag.model.findings import Finding
from kdiag.model.observed import IcmpErr, Observed, observations
from kdiag.model.path import ExpectedPath, HopKind
from kdiag.model.trace import TraceResult
from kdiag.render.tabwriter import format_table

Line = list[tuple[str, str]]  # (text, rich style) segments
STATUS_STYLE = {"ok": "bold green", "problem": "bold red", "inconclusive": "bold yellow"}
SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}
PROBE_ORDER = ("local", "icmp", "tcp", "udp", "traceroute", "arp", "pmtu")


def _endpoint(result: TraceResult, source: bool) -> str:
    pod = result.source if source else result.destination
    is_pod = source or result.destination_is_pod
    name = pod.key if is_pod else pod.pod_ip
    where = [pod.pod_ip] if is_pod else []
    where.append(pod.node_name or "outside the cluster's nodes")
    if pod.host_network:
        where.append("host network")
    return f"{name} ({', '.join(where)})"


def _seconds(value: float) -> str:
    return f"{value:.2f}s"


def header(result: TraceResult) -> list[Line]:
    p = result.probe
    d = p.durations
    if p.mode == "pod":
        where = f"pod {p.namespace}/{p.pod} ({p.address or '?'} on {result.source.node_name}, for the source)"
    else:
        where = f"ephemeral container {p.container} in {p.namespace}/{p.pod}"
    engine = p.engine + (" (fallback: Pod Security rejected raw sockets)" if p.fallback else "")
    check = f"{p.protocol.upper()} {p.port}" if p.port else "ICMP"
    return [
        [("Trace:     ", "bold"), (f"{_endpoint(result, True)} -> {_endpoint(result, False)}", "")],
        [("Relation:  ", "bold"), (result.relation.value, "")],
        [("Datapath:  ", "bold"), (result.datapath.summary(), "")],
        [("Probe:     ", "bold"), (f"{where}, engine {engine}, {check}, image {p.image}", "")],
        [("Time:      ", "bold"), (f"{_seconds(d.total)} (API {_seconds(d.api)}, probe pod start "
                                   f"{_seconds(d.pod_start)}, probing {_seconds(d.probe)})", "")],
    ]


def _hop_text(exp: ExpectedPath, index: int) -> str:
    hop = exp.hops[index]
    text = hop.label
    if hop.addresses and hop.kind not in (HopKind.OVERLAY_ENCAP, HopKind.UNDERLAY):
        text += f" [{', '.join(hop.addresses)}]"
    if hop.node and hop.kind not in (HopKind.POD_ETH0, HopKind.PEER_ETH0) and hop.node not in hop.label:
        text += f" @{hop.node}"
    return text


def expected_chain(exp: ExpectedPath) -> list[Line]:
    what = {"l2": "L2, no router in between", "local": "local delivery",
            "routed": "routed"}[exp.kind]
    ttl = f"TTL -{exp.ttl_decrement}" if exp.ttl_decrement else "TTL unchanged"
    facts = [what, ttl + ("" if exp.ttl_exact else " (approximate)")]
    if exp.expected_mtu:
        facts.append(f"MTU {exp.expected_mtu}")
    if exp.encapsulated:
        facts.append(f"via {exp.datapath.overlay.describe()}")
    lines: list[Line] = [[("Expected path", "bold underline"), (f"  ({', '.join(facts)})", "")]]
    for i in range(len(exp.hops)):
        lines.append([("  " if i == 0 else "  -> ", "dim"), (_hop_text(exp, i), "")])
    lines += [[("  note: ", "dim"), (note, "dim")] for note in exp.notes]
    return lines


def _ms(value: float | None) -> str:
    return f"{value:g} ms" if value is not None else ""


def _err(err: IcmpErr | None) -> str:
    return f"{err.name or '?'} from {err.source or '?'}" if err else ""


def probe_cell(name: str, obs: Observed) -> str:
    """One probe's result in a few words, from the verdict's parsed observations."""
    status = obs.probe(name)
    if status is None or not status.measured:
        na = status is not None and status.not_applicable
        return ("n/a: " if na else "not measured: ") + (status.reason if status else "")
    if name == "local":
        via = f", via {obs.local_gateway}" if obs.local_gateway else ", on-link"
        words = [obs.local_interface or "no route", ", ".join(obs.local_addresses)]
        if obs.local_mtu is not None:
            words.append(f"mtu {obs.local_mtu}")
        return " ".join(w for w in words if w) + via
    if name == "icmp":
        text = f"{obs.icmp_received}/{obs.icmp_sent} replies"
        if obs.reply_ttl is not None:
            text += f", TTL {obs.reply_ttl}"
        if obs.icmp_rtt is not None:
            text += f", rtt {_ms(obs.icmp_rtt)}"
        errors = [_err(e) for e in obs.icmp_errors]
        return text + (f"; {', '.join(errors)}" if errors else "")
    if name in ("tcp", "udp"):
        tcp = name == "tcp"
        port, state = (obs.tcp_port, obs.tcp_state) if tcp else (obs.udp_port, obs.udp_state)
        rtt, error = (obs.tcp_rtt, obs.tcp_error) if tcp else (obs.udp_rtt, obs.udp_error)
        text = f"port {port if port is not None else '?'} {state or '?'}"
        if rtt is not None:
            text += f" ({_ms(rtt)})"
        if tcp and obs.tcp_reply_ttl is not None:
            text += f", TTL {obs.tcp_reply_ttl}"
        return text + (f"; {_err(error)}" if error else "")
    if name == "traceroute":
        hops = " ".join(h.address or "*" for h in obs.hops)
        at = f" at TTL {obs.reached_at}" if obs.reached_at is not None else ""
        end = f"reached{at}" if obs.reached else "not reached"
        return f"{end}: {hops}" if hops else end
    if name == "arp":
        if obs.arp_answered:
            return f"answered by {obs.arp_mac}" if obs.arp_mac else "answered"
        return f"no answer to {obs.arp_requests} requests" if obs.arp_requests is not None else "no answer"
    if name == "pmtu":
        if obs.path_mtu is None:
            text = "no DF probe answered"
        else:
            text = f"path MTU {obs.path_mtu}" + ("" if obs.pmtu_exact else " (approximate)")
        if obs.interface_mtu is not None:
            text += f", interface {obs.interface_mtu}"
        if obs.reported_mtu:
            text += f", {obs.reported_by or '?'} reports {obs.reported_mtu}"
        return text
    return "measured"


def observed_table(observed: Mapping[str, Any]) -> list[Line]:
    obs = observations(observed)
    took = f", {obs.duration:g}s" if obs.duration is not None else ""
    lines: list[Line] = [[("Observed", "bold underline"), (f"  (engine {obs.engine or '?'}{took})", "")]]
    rows = [(name.upper(), probe_cell(name, obs)) for name in PROBE_ORDER if obs.probe(name)]
    if not rows:
        return [*lines, [("  no probe result", "")]]
    table = format_table(("PROBE", "RESULT"), rows).rstrip("\n").splitlines()
    return lines + [[("  " + row, "")] for row in table]


def _finding(f: Finding) -> list[Line]:
    out: list[Line] = [[("  ", ""), (f"{f.severity:<7}", SEVERITY_STYLE[f.severity]),
                        (f" {f.code.value}", "bold"), (f"  {f.message}", "")]]
    if f.hint:
        out.append([("           hint: ", "dim"), (f.hint, "")])
    return out


def verdict_lines(result: TraceResult) -> list[Line]:
    v = result.verdict
    matches = "matches the expected path" if v.matches_expected else "does not match the expected path"
    lines: list[Line] = [[("Verdict: ", "bold"), (v.status.upper(), STATUS_STYLE[v.status]),
                          (f" ({matches})", "")]]
    for f in v.findings:
        lines += _finding(f)
    return lines


def trace_text(result: TraceResult, *, color: bool = False) -> str:
    blocks = [header(result), expected_chain(result.expected), observed_table(result.observed),
              verdict_lines(result)]
    lines: list[Line] = []
    for block in blocks:
        if lines:
            lines.append([])
        lines += block
    if not color:
        return "\n".join("".join(text for text, _ in line) for line in lines) + "\n"
    from rich.console import Console
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=10_000,
                      highlight=False, soft_wrap=True)
    for line in lines:
        console.print(Text.assemble(*[(text, style) for text, style in line]) if line else "")
    return buffer.getvalue()
