"""Text views of `kdiag policy`: the verdict for a pair, and the matrix as a table."""

from __future__ import annotations

from kdiag.model.policy.matrix import PolicyMatrix
from kdiag.model.policy.result import DirectionVerdict, PolicyVerdict
from kdiag.render.tabwriter import format_table

GRID_MAX_PODS = 30  # wider than this a grid stops being readable; the pairs not allowed are listed
LIST_MAX = 200
SYMBOL = {True: "yes", False: "no", None: "?"}


def direction_lines(d: DirectionVerdict) -> list[str]:
    way = "egress from" if d.direction == "Egress" else "ingress to"
    if d.decided_by == "not a pod":
        return [f"{way.capitalize()} {d.notes[0] if d.notes else ''}".rstrip()]
    if d.decided_by == "always allowed":
        return [f"{way.capitalize()} {d.pod}: allowed ({d.notes[0]})"]
    isolation = "isolated" if d.isolated else f"not isolated for {d.direction.lower()}"
    static = f"; the readable policies say {d.static_verdict}" if d.static_verdict != d.verdict else ""
    lines = [f"{way.capitalize()} {d.pod}: {d.verdict} ({isolation}; decided by {d.decided_by}{static})"]
    for s in d.selecting:
        where = f"{s.namespace}/{s.name}" if s.namespace else s.name
        priority = f" (priority {s.priority})" if s.priority is not None else ""
        rule = ""
        if s.rule is not None:
            label = f"rule {s.rule.rule_name}" if s.rule.rule_name else f"rule {s.rule.index}"
            rule = f" — {label}: {s.rule.text}"
        lines.append(f"  {s.kind} {where}{priority}: {s.effect}{rule}")
    if not d.selecting:
        lines.append("  no policy selects it")
    for reason in d.reasons:
        lines.append(f"  unknown: {reason}")
    if d.fix:
        lines.append(f"  fix: {d.fix}")
    lines.extend(f"  note: {note}" for note in d.notes)
    return lines


def verdict_text(verdict: PolicyVerdict, notes: tuple[str, ...] = ()) -> str:
    flow = verdict.flow
    lines = [f"{flow.src.key} -> {flow.dst.key} {flow.port}/{flow.protocol}: {verdict.verdict.upper()}"]
    lines.extend(f"note: {note}" for note in notes)
    lines.append("")
    lines.extend(direction_lines(verdict.egress))
    lines.extend(direction_lines(verdict.ingress))
    return "\n".join(lines) + "\n"


def matrix_text(table: PolicyMatrix) -> str:
    n = len(table.pods)
    if n == 0:
        return "No pods in scope.\n"
    rows = [table.row(i) for i in range(n)]
    counts = {value: sum(row.count(value) for row in rows) for value in (True, False, None)}
    lines = [f"{n} pods, {n * n} ordered pairs on {table.port}/{table.protocol}: {counts[True]} allowed, "
             f"{counts[False]} denied, {counts[None]} unknown (rows: source, columns: destination)"]
    if n <= GRID_MAX_PODS:
        header = ("SOURCE \\ DESTINATION", *(str(d + 1) for d in range(n)))
        grid = [(f"{i + 1} {src}", *(SYMBOL[v] for v in row)) for i, (src, row) in enumerate(zip(
            table.pods, rows, strict=True))]
        lines.append(format_table(header, grid).rstrip("\n"))
    else:
        closed = [(table.pods[s], table.pods[d], "denied" if v is False else "unknown")
                  for s, row in enumerate(rows) for d, v in enumerate(row) if v is not True]
        if closed:
            lines.append(format_table(("SOURCE", "DESTINATION", "VERDICT"), closed[:LIST_MAX]).rstrip("\n"))
            if len(closed) > LIST_MAX:
                lines.append(f"... and {len(closed) - LIST_MAX} more (-o json has every cell)")
    lines.extend(f"unknown: {reason}" for reason in table.reasons)
    return "\n".join(lines) + "\n"
