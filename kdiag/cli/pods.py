"""`kdiag pods` and `kdiag nodes`: the cluster as `kubectl get -o wide` shows it, plus networking."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import typer

from kdiag.cli import options as opt
from kdiag.cli.env import Environment
from kdiag.cluster.client import ClusterOptions
from kdiag.errors import UsageError
from kdiag.exitcodes import ExitCode
from kdiag.render import registry

if TYPE_CHECKING:
    from kdiag.model.objects import NodeInfo  # only for annotations: a Tab press must not load the model

POD_VIEWS = ("wide", "net")
NODE_VIEWS = ("wide",)


@opt.connected(namespaced=True, all_namespaces=True)
def pods(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(
        help="Only these pods (as `kubectl get pods NAME...`).", autocompletion=opt.complete_pods,
        show_default=False)] = None,
    output: str = opt.output_option(registry.choices(POD_VIEWS), "wide"),
    selector: opt.Selector = "",
    field_selector: opt.FieldSelector = "",
    *,
    connection: ClusterOptions,
) -> ExitCode:
    """List pods like `kubectl get pods -o wide`; `-o net` shows IPs, node IPs, pod CIDRs and ports."""
    from kdiag.cluster.client import Cluster
    from kdiag.cluster.inventory import PodQuery, get_pods, list_pods, readable_nodes
    from kdiag.render.rows import pod_net_header, pod_net_rows, pod_wide_header, pod_wide_rows
    from kdiag.render.tabwriter import format_table

    env: Environment = ctx.obj
    cluster = Cluster(connection)
    scope = cluster.scope
    if names:
        if scope is None:
            raise UsageError("a pod cannot be retrieved by name across all namespaces",
                             hint="drop -A, or pass -n NAMESPACE")
        if selector or field_selector:
            raise UsageError("pod names and selectors cannot be combined", hint="give one or the other")
        found = get_pods(cluster, namespace=scope, names=names)
    else:
        found = list_pods(cluster, PodQuery(scope, selector, field_selector))
    if not found and output not in ("json", "yaml"):
        env.err(f"No resources found in {scope} namespace." if scope else "No resources found")
        return ExitCode.OK
    now = datetime.now(timezone.utc)

    def nodes_by_name() -> dict[str, NodeInfo]:
        nodes = readable_nodes(cluster, warn=lambda m: env.err(f"warning: {m}"),
                               without="node IPs come from status.hostIP, pod CIDRs are unknown")
        return {node.name: node for node in nodes}

    def document() -> dict[str, object]:
        from kdiag.model.documents import pod_list_document  # only for -o json/yaml/name

        return pod_list_document(found, nodes_by_name())

    view = registry.View(
        document=document,
        texts={
            "wide": lambda: format_table(
                pod_wide_header(scope is None), pod_wide_rows(found, now, scope is None)
            ),
            "net": lambda: format_table(
                pod_net_header(scope is None), pod_net_rows(found, nodes_by_name(), scope is None)
            ),
        },
    )
    registry.render(view, output, env.stdout)
    return ExitCode.OK


@opt.connected(namespaced=False, all_namespaces=False)
def nodes(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(
        help="Only these nodes.", autocompletion=opt.complete_nodes, show_default=False)] = None,
    output: str = opt.output_option(registry.choices(NODE_VIEWS), "wide"),
    selector: opt.Selector = "",
    *,
    connection: ClusterOptions,
) -> ExitCode:
    """List nodes with their internal IPs, pod CIDRs and pod counts."""
    from kdiag.cluster.client import Cluster
    from kdiag.cluster.inventory import PodQuery, list_nodes, list_pods
    from kdiag.errors import NotFoundError
    from kdiag.model.documents import node_list_document
    from kdiag.model.pairs import pods_per_node
    from kdiag.render.rows import NODE_HEADER, node_rows
    from kdiag.render.tabwriter import format_table

    env: Environment = ctx.obj
    cluster = Cluster(connection)
    found = list_nodes(cluster, label_selector=selector)
    if names:
        known = {node.name for node in found}
        missing = [name for name in names if name not in known]
        if missing:
            raise NotFoundError(f'nodes "{missing[0]}" not found', hint="list them with `kdiag nodes`")
        found = [node for node in found if node.name in names]
    if not found and output not in ("json", "yaml"):
        env.err("No resources found")
        return ExitCode.OK
    counts = pods_per_node(list_pods(cluster, PodQuery(None)))
    view = registry.View(
        document=lambda: node_list_document(found, counts),
        texts={"wide": lambda: format_table(NODE_HEADER, node_rows(found, counts))},
    )
    registry.render(view, output, env.stdout)
    return ExitCode.OK
