"""Text view of `kdiag pairs`: counts per class, pods left out, the node x node matrix, pairs."""

from __future__ import annotations

from collections.abc import Iterable

from kdiag.model.pairs import Classification, PairSummary, PodPair
from kdiag.render.tabwriter import format_table

MATRIX_MAX_NODES = 12  # wider than this a matrix stops being readable; per-node counts remain


def pairs_text(
    summary: PairSummary,
    classification: Classification,
    pairs: Iterable[PodPair] | None,
    *,
    scope: str | None,
) -> str:
    where = f"namespace {scope}" if scope else "all namespaces"
    lines = [
        f"{summary.pods} pods in {where} form {summary.pairs} pairs:",
        f"  same-node     {summary.same_node}",
        f"  cross-node    {summary.cross_node}",
        f"  host-network  {summary.host_network} "
        f"({summary.host_network_same_node} same node, {summary.host_network_cross_node} across nodes)",
    ]
    if summary.left_out:
        reasons = ", ".join(f"{count} {reason.value}" for reason, count in sorted(summary.left_out.items()))
        lines.append(f"left out: {len(classification.left_out)} pods ({reasons})")
    if summary.nodes:
        lines.append("")
        if len(summary.nodes) <= MATRIX_MAX_NODES:
            header = ("PAIRS", *summary.nodes)
            rows = [(name, *map(str, row)) for name, row in zip(summary.nodes, summary.matrix, strict=True)]
            lines.append("pairs by node (diagonal: within a node; a cross-node pair is in both its cells):")
        else:
            header = ("NODE", "PODS", "HOST-NETWORK PODS", "PAIRS WITHIN")
            rows = [
                (name, str(c.pod_network), str(c.host_network), str(summary.matrix[i][i]))
                for i, (name, c) in enumerate(zip(summary.nodes, summary.per_node, strict=True))
            ]
        lines.append(format_table(header, rows).rstrip("\n"))
    if pairs is not None:
        rows = [
            (
                f"{p.a.namespace}/{p.a.name}" if scope is None else p.a.name,
                f"{p.b.namespace}/{p.b.name}" if scope is None else p.b.name,
                p.kind.value,
                p.a.node_name if p.same_node else f"{p.a.node_name} -> {p.b.node_name}",
            )
            for p in pairs
        ]
        if rows:
            lines.append("")
            lines.append(format_table(("A", "B", "CLASS", "NODES"), rows).rstrip("\n"))
    return "\n".join(lines) + "\n"
