"""`kdiag cni`: which CNI runs the cluster, how it carries pod traffic, and the evidence for it."""

from __future__ import annotations

import typer

from kdiag.cli import options as opt
from kdiag.cli.env import Environment
from kdiag.cluster.client import ClusterOptions
from kdiag.exitcodes import ExitCode
from kdiag.model.documents import datapath_document
from kdiag.render import registry
from kdiag.render.cni import datapath_text

CNI_VIEWS = ("text",)


@opt.connected(namespaced=False, all_namespaces=False)
def cni(
    ctx: typer.Context,
    output: str = opt.output_option(registry.choices(CNI_VIEWS, with_name=False), "text"),
    *,
    connection: ClusterOptions,
) -> ExitCode:
    """Detect the cluster's CNI and datapath (bridge or point-to-point, overlay, MTU) with its evidence."""
    from kdiag.cluster.client import Cluster
    from kdiag.cluster.detection import detect_datapath
    from kdiag.cluster.inventory import readable_nodes

    env: Environment = ctx.obj
    cluster = Cluster(connection)
    nodes = readable_nodes(cluster, warn=lambda m: env.err(f"warning: {m}"),
                           without="node annotations are not used")
    datapath = detect_datapath(cluster, nodes)
    view = registry.View(document=lambda: datapath_document(datapath),
                         texts={"text": lambda: datapath_text(datapath)})
    registry.render(view, output, env.stdout)
    return ExitCode.OK
