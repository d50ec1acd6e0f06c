"""`kdiag cni`: which CNI runs the cluster, how it carries pod traffic, and the evidence for it."""

from __future__ import annotations

from typing import Any

import typer

from kdiag.cli import options as opt
from kdiag.cli.env import Environment
from kdiag.cluster.client import ClusterOptions
from kdiag.model.datapath import Datapath, Mode, Routing
from kdiag.render import registry

CNI_VIEWS = ("text",)


def datapath_document(datapath: Datapath) -> dict[str, Any]:
    return {"apiVersion": "kdiag/v1", "kind": "Datapath", "summary": datapath.summary(), **datapath.to_dict()}


def datapath_text(datapath: Datapath) -> str:
    o = datapath.overlay
    bridged = datapath.mode is Mode.BRIDGE and datapath.bridge
    attach = f"bridge {datapath.bridge}" if bridged else datapath.mode.value
    lines = [
        f"CNI:       {datapath.cni}" + (" (generic model)" if datapath.generic else ""),
        f"Pods:      {attach}" + (f", gateway {datapath.gateway}" if datapath.gateway else ""),
        f"Routing:   {datapath.routing.value}",
    ]
    if o.enabled:
        extra = [f"VNI {o.vni}" if o.vni is not None else "", f"overhead {o.overhead} bytes",
                 "only across subnets" if o.cross_subnet_only else ""]
        lines.append(f"Overlay:   {o.describe()} ({', '.join(x for x in extra if x)})")
    elif datapath.routing is not Routing.L2:
        lines.append("Overlay:   none")
    if datapath.pod_mtu:
        lines.append(f"Pod MTU:   {datapath.pod_mtu}")
    lines.append("Evidence:")
    lines += [f"  {e.source}: {e.detail}" for e in datapath.evidence] or ["  none"]
    if datapath.notes:
        lines.append("Notes:")
        lines += [f"  {note}" for note in datapath.notes]
    return "\n".join(lines) + "\n"


@opt.connected(namespaced=False, all_namespaces=False)
def cni(
    ctx: typer.Context,
    output: str = opt.output_option(registry.choices(CNI_VIEWS, with_name=False), "text"),
    *,
    connection: ClusterOptions,
) -> None:
    """Detect the cluster's CNI and datapath (bridge or point-to-point, overlay, MTU) with its evidence."""
    from kdiag.cluster.client import Cluster
    from kdiag.cluster.detection import detect_datapath
    from kdiag.cluster.inventory import readable_nodes

    env: Environment = ctx.obj
    cluster = Cluster(connection)
    nodes = readable_nodes(cluster, lambda m: env.err(f"warning: {m}"), "node annotations are not used")
    datapath = detect_datapath(cluster, nodes)
    view = registry.View(document=lambda: datapath_document(datapath),
                         texts={"text": lambda: datapath_text(datapath)})
    registry.render(view, output, env.stdout)
