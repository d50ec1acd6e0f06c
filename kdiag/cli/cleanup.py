"""`kdiag cleanup`: delete probe pods a trace left behind (kdiag itself killed with -9, say)."""

from __future__ import annotations

import typer

from kdiag.cli import options as opt
from kdiag.cli.env import Environment
from kdiag.cluster.client import ClusterOptions
from kdiag.exitcodes import ExitCode


@opt.connected(namespaced=True, all_namespaces=True)
def cleanup(
    ctx: typer.Context,
    everything: bool = typer.Option(
        False, "--all", help="Also delete probe pods a trace may still be using (young and running)."
    ),
    *,
    connection: ClusterOptions,
) -> ExitCode:
    """Delete kdiag probe pods (label app.kubernetes.io/managed-by=kdiag) in a namespace, or all (-A)."""
    from kdiag.cluster.cleanup import cleanup as delete_probe_pods
    from kdiag.cluster.client import Cluster

    env: Environment = ctx.obj
    cluster = Cluster(connection)
    scope = cluster.scope
    if scope:
        cluster.ensure_namespace(scope)
    outcome = delete_probe_pods(cluster, scope, include_running=everything)
    for key in outcome.deleted:
        ns, name = key.split("/", 1)
        env.out(f'pod "{name}" deleted from {ns} namespace')
    if outcome.spared:
        env.err(f"left {len(outcome.spared)} probe pod(s) a trace may still be using: "
                f"{', '.join(outcome.spared)} (--all deletes them too)")
    elif not outcome.deleted:
        env.err(f"No kdiag probe pods found in {scope} namespace." if scope else "No kdiag probe pods found.")
    return ExitCode.OK
