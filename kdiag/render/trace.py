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


def _ms(value: Any) -> str:
    return f"{value:g} ms" if isinstance(value, (int, float)) else ""


def _err(raw: Any) -> str:
    return f"{raw.get('name', '?')} from {raw.get('from', '?')}" if isinstance(raw, Mapping) else ""


def probe_cell(name: str, p: Mapping[str, Any]) -> str:
    """One probe's result in a few words."""
    if not p.get("measured"):
        return ("n/a: " if p.get("notApplicable") else "not measured: ") + str(p.get("reason", ""))
    if name == "local":
        route = p.get("route") or {}
        via = f", via {route['gateway']}" if route.get("gateway") else ", on-link"
        return f"{p.get('interface')} {', '.join(p.get('addresses') or [])} mtu {p.get('mtu')}{via}"
    if name == "icmp":
        rtt = p.get("rttMs") or {}
        text = f"{p.get('received')}/{p.get('sent')} replies"
        if p.get("replyTtl") is not None:
            text += f", TTL {p['replyTtl']}"
        if rtt.get("avg") is not None:
            text += f", rtt {_ms(rtt['avg'])}"
        errors = [_err(e) for e in p.get("icmpErrors") or []]
        return text + (f"; {', '.join(errors)}" if errors else "")
    if name in ("tcp", "udp"):
        text = f"port {p.get('port')} {p.get('state')}"
        if p.get("rttMs") is not None:
            text += f" ({_ms(p['rttMs'])})"
        if p.get("replyTtl") is not None:
            text += f", TTL {p['replyTtl']}"
        return text + (f"; {_err(p['icmpError'])}" if p.get("icmpError") else "")
    if name == "traceroute":
        hops = " ".join(h.get("address") or "*" for h in p.get("hops") or [])
        end = f"reached at TTL {p.get('reachedAtTtl')}" if p.get("reached") else "not reached"
        return f"{end}: {hops}" if hops else end
    if name == "arp":
        if p.get("answered"):
            return f"answered by {p.get('mac')}"
        return f"no answer to {p.get('requests')} requests"
    if name == "pmtu":
        text = f"path MTU {p.get('pathMtu')}" + ("" if p.get("exact") else " (approximate)")
        text += f", interface {p.get('interfaceMtu')}"
        if p.get("reportedMtu"):
            text += f", {p.get('reportedBy')} reports {p['reportedMtu']}"
        return text
    return "measured"


def observed_table(observed: Mapping[str, Any]) -> list[Line]:
    probes = observed.get("probes") or {}
    engine = observed.get("engine", "?")
    took = observed.get("durationSeconds")
    title = f"  (engine {engine}" + (f", {took:g}s" if isinstance(took, (int, float)) else "") + ")"
    lines: list[Line] = [[("Observed", "bold underline"), (title, "")]]
    rows = [(name.upper(), probe_cell(name, probes[name])) for name in PROBE_ORDER
            if isinstance(probes.get(name), Mapping)]
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
