"""`kdiag pairs`: every unordered pod pair classified as same-node, cross-node or host-network."""

from __future__ import annotations

import typer

from kdiag.cli import options as opt
from kdiag.cli.env import Environment
from kdiag.cluster.client import ClusterOptions
from kdiag.exitcodes import ExitCode
from kdiag.render import registry

PAIR_VIEWS = ("summary",)


@opt.connected(namespaced=True, all_namespaces=True)
def pairs(
    ctx: typer.Context,
    output: str = opt.output_option((*PAIR_VIEWS, "json", "yaml"), "summary"),
    list_pairs: bool = typer.Option(False, "--list", help="Print the pairs themselves, not only counts."),
    limit: int = typer.Option(1000, "--limit", min=0, help="With --list: at most this many pairs (0: all)."),
    selector: opt.Selector = "",
    field_selector: opt.FieldSelector = "",
    *,
    connection: ClusterOptions,
) -> ExitCode:
    """Classify pod pairs: counts per class and a node x node matrix (O(pods)); --list prints pairs."""
    from kdiag.cluster.client import Cluster
    from kdiag.cluster.inventory import PodQuery, list_pods
    from kdiag.model.documents import pair_list_document
    from kdiag.model.pairs import classify, iter_pairs, summarize
    from kdiag.render.pairs import pairs_text

    env: Environment = ctx.obj
    cluster = Cluster(connection)
    scope = cluster.scope
    classification = classify(list_pods(cluster, PodQuery(scope, selector, field_selector)))
    summary = summarize(classification)
    cap = limit or None

    view = registry.View(
        document=lambda: pair_list_document(
            classification, summary, iter_pairs(classification, cap) if list_pairs else None
        ),
        texts={
            "summary": lambda: pairs_text(
                summary, classification, iter_pairs(classification, cap) if list_pairs else None,
                scope=scope,
            )
        },
    )
    registry.render(view, output, env.stdout)
    if list_pairs and cap is not None and summary.pairs > cap:
        env.err(f"listed {cap} of {summary.pairs} pairs (--limit 0 lists all)")
    return ExitCode.OK
