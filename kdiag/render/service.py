"""Text view of a trace through a Service: the chain DNS -> ClusterIP -> endpoints, each link with
what was expected and what the probe saw next to it. kdiag.render.trace puts it between the header
and the per-hop table (which describes the path to one of the endpoints)."""

from __future__ import annotations

from kdiag.model.service_trace import Probed, ServiceTrace
from kdiag.render.tabwriter import format_table

Line = list[tuple[str, str]]
RESULT_STYLE = {"ok": "green", "failed": "red", "": ""}


def _dns(trace: ServiceTrace) -> list[Line]:
    plan, seen = trace.plan.dns, trace.dns
    if plan is None:
        return [[("  DNS        ", "bold"), ("not asked: the destination was an address", "")]]
    answer = plan.resolution.answer
    if not plan.nameserver:
        why = f"{plan.name} not asked: the source pod has no cluster nameserver ({plan.nameserver_reason})"
        return [[("  DNS        ", "bold"), (why, "")]]
    conf = plan.pod_dns.conf
    asked = (f"{plan.name} asked to nameserver {plan.nameserver or '?'} ({plan.nameserver_reason}); "
             f"search {' '.join(conf.search) or '-'}, ndots {conf.ndots}")
    lines: list[Line] = [[("  DNS        ", "bold"), (asked, "")]]
    if answer is not None:
        predicted = ", ".join(answer.addresses) or answer.cname
        lines.append([("             expected ", "dim"),
                      (f"{answer.qname} -> {predicted} ({answer.reason})", "")])
    if seen is None:
        return lines
    if not seen.measured:
        lines.append([("             observed ", "dim"), (f"not measured: {seen.reason}", "")])
        return lines
    got = ", ".join(seen.addresses or seen.cnames) or seen.outcome.upper()
    took = f" in {seen.latency_ms:g} ms" if seen.latency_ms is not None else ""
    ok = seen.outcome == "answer"
    lines.append([("             observed ", "dim"), (f"{seen.name or '?'} -> {got}{took}", ""),
                  ("  ok" if ok else f"  {seen.outcome}", "green" if ok else "red")])
    return lines


def _result(p: Probed) -> tuple[str, str]:
    if p.seen is None:
        return "not probed", ""
    style = "green" if p.answered else "red" if p.seen.measured else "yellow"
    return p.seen.words(), style


def _frontends(trace: ServiceTrace) -> list[Line]:
    tr, proxy = trace.plan.translation, trace.plan.proxy
    port = tr.port
    target = f"targetPort {port.target_port}"
    if tr.service.headless:
        return [[("  ClusterIP  ", "bold"),
                 (f"none (headless): port {port.label()} -> {target}, endpoints reached directly", "")]]
    lines: list[Line] = [[("  ClusterIP  ", "bold"),
                          (f"{', '.join(tr.frontends) or '?'} port {port.label()} -> {target}, translated by "
                           f"{proxy.summary} {proxy.where} ({tr.source_node or '?'})", "")]]
    for p in trace.frontends:
        text, style = _result(p)
        lines.append([("             observed ", "dim"), (f"{p.target.address}:{p.target.port} ", ""),
                      (text, style)])
    return lines


def _endpoints(trace: ServiceTrace) -> list[Line]:
    tr = trace.plan.translation
    used = len(tr.used)
    facts = [f"{used} used of {len(tr.backends)}", f"internalTrafficPolicy {tr.policy}",
             f"sessionAffinity {tr.session_affinity}"]
    lines: list[Line] = [[("  endpoints  ", "bold"), (", ".join(facts), "")]]
    probed = {(p.target.address, p.target.port): p for p in trace.endpoints}
    path = trace.plan.path_endpoint
    rows, styles = [], []
    for b in tr.backends:
        p = probed.get((b.address, b.port or 0))
        text, style = _result(p) if p is not None else ("not probed" if b.used else "", "")
        state = "ready" if b.ready else "serving" if b.serving else "not ready"
        mark = "path below" if path is not None and path.address == b.address else ""
        rows.append((b.label, b.pod.split("/", 1)[-1] or "-", b.node_name or "-",
                     state + ("" if b.used else f", unused: {b.reason}"), text, mark))
        styles.append(style)
    if rows:
        headers = ("ENDPOINT", "POD", "NODE", "STATE", "OBSERVED", "")
        table = format_table(headers, rows).rstrip("\n").splitlines()
        lines.append([("    " + table[0].rstrip(), "dim")])
        for row, style in zip(table[1:], styles, strict=True):
            lines.append([("    " + row.rstrip(), style)])
    lines += [[("  note: ", "dim"), (note, "dim")] for note in (*tr.notes, *trace.plan.proxy.notes)]
    return lines


def chain_lines(trace: ServiceTrace) -> list[Line]:
    """The block: a title, then DNS, ClusterIP and endpoints, each with its observed result."""
    tr = trace.plan.translation
    about = f"  ({trace.plan.destination} = service {tr.service.key}: DNS -> ClusterIP -> endpoints)"
    title: Line = [("Service chain", "bold underline"), (about, "")]
    return [title, *_dns(trace), *_frontends(trace), *_endpoints(trace)]
