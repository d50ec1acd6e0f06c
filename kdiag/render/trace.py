"""Text view of `kdiag trace`: a header, one table with a row per hop (the expected hop on the left,
what was observed there on the right), then the verdict and its findings.

Plain text unless `color` is set (the CLI sets it on a terminal without NO_COLOR); then rich paints
the status and severities. Either way the words are the same.
"""

from __future__ import annotations

import io

from kdiag.model.findings import Finding
from kdiag.model.hops import Sighting, Spine
from kdiag.model.observations import Observations
from kdiag.model.observed import IcmpErr, Observed
from kdiag.model.path import ExpectedPath, Hop, HopKind
from kdiag.model.targets import Endpoint
from kdiag.model.trace import TraceResult
from kdiag.render.service import chain_lines
from kdiag.render.tabwriter import format_table
from kdiag.render.trace_policy import policy_lines

Line = list[tuple[str, str]]  # (text, rich style) segments
STATUS_STYLE = {"ok": "bold green", "problem": "bold red", "inconclusive": "bold yellow"}
SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}
PROBE_ORDER = ("local", "icmp", "tcp", "udp", "traceroute", "arp", "pmtu")


def _endpoint(result: TraceResult, source: bool) -> str:
    end = Endpoint.of_pod(result.source) if source else result.destination_end
    name = end.name or end.ip
    where = [end.ip] if end.name else []
    where.append(end.node or "outside the cluster's nodes")
    if end.host_network:
        where.append("host network")
    if not source and result.service is not None:  # through a Service: the endpoint its path goes to
        key = result.service.plan.translation.service.key
        if result.service.plan.path_endpoint is None:
            return f"service {key} (ClusterIP {end.ip}, no endpoint)"
        return f"service {key}, endpoint {name} ({', '.join(where)})"
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
    observers = f", observers {_seconds(d.observers)}" if d.observers is not None else ""
    check = f"{p.protocol.upper()} {p.port}" if p.port else "ICMP"
    return [
        [("Trace:     ", "bold"), (f"{_endpoint(result, True)} -> {_endpoint(result, False)}", "")],
        [("Relation:  ", "bold"), (result.relation.value, "")],
        [("Datapath:  ", "bold"), (result.datapath.summary(), "")],
        [("Probe:     ", "bold"), (f"{where}, engine {engine}, {check}, image {p.image}", "")],
        [("Time:      ", "bold"), (f"{_seconds(d.total)} (API {_seconds(d.api)}, probe pod start "
                                   f"{_seconds(d.pod_start)}, probing {_seconds(d.probe)}{observers})", "")],
    ]


def _hop_text(hop: Hop) -> str:
    text = hop.label
    if hop.addresses and hop.kind not in (HopKind.OVERLAY_ENCAP, HopKind.UNDERLAY):
        text += f" [{', '.join(hop.addresses)}]"
    return text


def _facts(exp: ExpectedPath) -> str:
    what = {"l2": "L2, no router in between", "local": "local delivery",
            "routed": "routed"}[exp.kind]
    ttl = f"TTL -{exp.ttl_decrement}" if exp.ttl_decrement else "TTL unchanged"
    facts = [what, ttl + ("" if exp.ttl_exact else " (approximate)")]
    if exp.expected_mtu:
        facts.append(f"MTU {exp.expected_mtu}")
    if exp.encapsulated:
        facts.append(f"via {exp.datapath.overlay.describe()}")
    return ", ".join(facts)


def _ms(value: float | None) -> str:
    return f"{value:g} ms" if value is not None else ""


def _err(err: IcmpErr | None) -> str:
    return f"{err.name or '?'} from {err.source or '?'}" if err else ""


def probe_cell(name: str, obs: Observed, *, errors_from: str | None = None) -> str:
    """One probe's result in a few words; with `errors_from`, only the ICMP errors that address sent
    (the others are shown at the hop they came from)."""
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
        errors = [_err(e) for e in obs.icmp_errors if errors_from is None or e.source == errors_from]
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
        shown = error is not None and (errors_from is None or error.source == errors_from)
        return text + (f"; {_err(error)}" if shown else "")
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


def sighting_text(s: Sighting, obs: Observed, *, dst_ip: str) -> str:
    """What one sighting says at its hop, in a few words."""
    if s.probe == "waypoint":
        seen = obs.waypoint(s.address)
        count = f" {seen.received}/{seen.sent}" if seen else ""
        return f"ping {s.address}:{count} " + ("answered" if s.outcome == "replied" else "no answer")
    if s.probe == "capture":  # a node observer's (--observe)
        if s.outcome == "dropPoint":
            return f"<<< DROP POINT ({s.error} stops here{', ' + s.address if s.address else ''})"
        words = []
        for part, names in zip(s.outcome.split("; "), (s.address or "- / -").split(" / "), strict=False):
            words.append(part + (f" ({names})" if part.endswith(" seen") and names != "-" else ""))
        return "observer: " + ", ".join(words)
    if s.probe == "traceroute":
        if s.outcome == "reached":
            return f"traceroute reached at TTL {s.ttl}"
        if s.outcome == "error":
            return f"traceroute TTL {s.ttl}: {s.error or '?'} from {s.address}"
        return f"traceroute TTL {s.ttl} answered" + (f" by {s.address}" if s.address else "")
    if s.outcome == "error":
        return f"{s.probe}: {s.error or '?'} from {s.address or '?'}"
    if s.outcome == "reportedMtu":
        return f"pmtu: reports MTU {s.mtu}"
    return f"{s.probe}: {probe_cell(s.probe, obs, errors_from=dst_ip)}"


def _off_path_text(s: Sighting, obs: Observed, *, dst_ip: str) -> str:
    text = probe_cell(s.probe, obs) if s.probe == "pmtu" and s.outcome == "pathMtu" else None
    if text is not None:
        return f"pmtu: {text}"
    text = sighting_text(s, obs, dst_ip=dst_ip)
    return f"{text} (off the expected path)" if s.address else text


def hop_table(exp: ExpectedPath, spine: Spine, observations: Observations) -> list[Line]:
    """One row per hop: the expected hop on the left, what was observed there on the right."""
    obs = observations.source
    took = f", {obs.duration:g}s" if obs.duration is not None else ""
    lines: list[Line] = [[("Expected path", "bold underline"), (f"  ({_facts(exp)})", ""), ("  ", ""),
                          ("Observed", "bold underline"), (f"  (engine {obs.engine or '?'}{took})", "")]]
    rows = [(str(r.hop.index), r.hop.node or "-", _hop_text(r.hop),
             "; ".join(sighting_text(s, obs, dst_ip=exp.dst_ip) for s in r.seen)) for r in spine.hops]
    table = format_table(("#", "NODE", "EXPECTED", "OBSERVED"), rows).rstrip("\n").splitlines()
    lines += [[("  " + row.rstrip(), "")] for row in table]
    if not obs.valid:
        lines.append([("  no probe result", "")])
    else:
        after = [_off_path_text(s, obs, dst_ip=exp.dst_ip) for s in spine.off_path]
        if obs.trace_measured and not obs.reached:
            after.append(f"traceroute: {probe_cell('traceroute', obs)}")
        after += [f"{name}: {probe_cell(name, obs)}" for name in PROBE_ORDER
                  if (status := obs.probe(name)) is not None and not status.measured]
        lines += [[("  ", ""), (text, "")] for text in after]
    lines += [[("  note: ", "dim"), (note, "dim")] for note in exp.notes]
    return lines


def _finding(f: Finding) -> list[Line]:
    out: list[Line] = [[("  ", ""), (f"{f.severity:<7}", SEVERITY_STYLE[f.severity]),
                        (f" {f.code.value}", "bold"), (f"  {f.message}", "")]]
    if f.hint:
        out.append([("           hint: ", "dim"), (f.hint, "")])
    return out


def verdict_lines(result: TraceResult) -> list[Line]:
    v = result.verdict
    matches = v.explanation or (
        "matches the expected path" if v.matches_expected else "does not match the expected path")
    lines: list[Line] = [[("Verdict: ", "bold"), (v.status.upper(), STATUS_STYLE[v.status]),
                          (f" ({matches})", "")]]
    for f in v.findings:
        lines += _finding(f)
    return lines


def trace_text(result: TraceResult, *, color: bool = False) -> str:
    blocks = [header(result), hop_table(result.expected, result.spine, result.observations),
              policy_lines(result.policy), verdict_lines(result)]
    if result.service is not None:  # through a Service: its chain before the path to one endpoint
        blocks.insert(1, chain_lines(result.service))
        if result.service.plan.path_endpoint is None:  # no endpoint: no pod-to-pod path was probed
            blocks[2] = [[("Expected path", "bold underline"), ("  none: the Service has no endpoint", "")]]
    lines: list[Line] = []
    for block in filter(None, blocks):
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
