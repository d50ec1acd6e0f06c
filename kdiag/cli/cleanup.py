"""`kdiag cleanup`: delete probe pods a trace left behind (kdiag itself killed with -9, say)."""

from __future__ import annotations

import typer

from kdiag.cli import options as opt
from kdiag.cli.env import Environment
from kdiag.cluster.client import ClusterOptions


@opt.connected(namespaced=True, all_namespaces=True)
def cleanup(
    ctx: typer.Context,
    *,
    connection: ClusterOptions,
) -> None:
    """Delete kdiag probe pods (label app.kubernetes.io/managed-by=kdiag) in a namespace, or all (-A)."""
    from kdiag.cluster.client import Cluster
    from kdiag.cluster.probes import cleanup as delete_probe_pods

    env: Environment = ctx.obj
    cluster = Cluster(connection)
    scope = cluster.scope
    if scope:
        cluster.ensure_namespace(scope)
    deleted = delete_probe_pods(cluster, scope)
    for key in deleted:
        ns, name = key.split("/", 1)
        env.out(f'pod "{name}" deleted from {ns} namespace')
    if not deleted:
        env.err(f"No kdiag probe pods found in {scope} namespace." if scope else "No kdiag probe pods found.")
