"""`kdiag trace SRC DST`: the expected path for a pod pair, a probe from SRC, and a verdict.

Exit codes: 0 the path works as expected (status ok), 1 a connectivity problem was found (status
problem), 3 nothing could be measured (status inconclusive) or the probe could not run; 2 bad input;
128 + the signal's number when a signal ended it (the probe pod is deleted first).
"""

from __future__ import annotations

import os

import typer

from kdiag.cli import options as opt
from kdiag.cli.env import Environment
from kdiag.cluster.client import ClusterOptions
from kdiag.defaults import PROBE_IMAGE
from kdiag.exitcodes import ExitCode, exit_for_verdict
from kdiag.render import registry

TRACE_VIEWS = ("text",)


@opt.connected(namespaced=True, all_namespaces=False)
def trace(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="Source pod: NAME, NAMESPACE/NAME or a unique name prefix.",
                                 autocompletion=opt.complete_pods, show_default=False),
    destination: str = typer.Argument(..., help="Destination: a pod (as SOURCE), an IPv4 address, svc/NAME "
                                      "or svc/NAMESPACE/NAME, a DNS name (as SRC resolves it), a "
                                      "ClusterIP[:PORT].",
                                      autocompletion=opt.complete_destinations, show_default=False),
    port: str | None = typer.Option(None, "--port", "-p", show_default=False, metavar="PORT",
                                    help="Port to check: a number, or a Service port's name [default: DST's "
                                         "first declared containerPort; a Service's only port]."),
    proto: str | None = typer.Option(None, "--proto", show_default=False, metavar="icmp|tcp|udp",
                                     help="L4 check: icmp (path only), tcp or udp [default: tcp when a "
                                          "port is known, else icmp]. The path probes always run."),
    count: int = typer.Option(3, "--count", min=1, max=100, help="ICMP echo requests to send."),
    timeout: str = typer.Option("60s", "--timeout", help="Give up on the probe after this long "
                                "(probe pod start + probing), e.g. 30s, 2m."),
    image: str | None = typer.Option(None, "--image", show_default=False,
                                     help="Probe image with python3 [default: $KDIAG_PROBE_IMAGE, else "
                                          f"{PROBE_IMAGE}]."),
    mode: str = typer.Option("auto", "--mode", metavar="auto|pod|ephemeral",
                             help="pod: a probe pod on SRC's node (deleted afterwards); ephemeral: an "
                                  "ephemeral container inside SRC (cannot be removed); auto: ephemeral "
                                  "only when NetworkPolicies would judge a probe pod differently from SRC."),
    engine: str = typer.Option("auto", "--engine", metavar="auto|raw|unprivileged",
                               help="raw adds NET_RAW, which only Pod Security privileged allows "
                                    "(baseline forbids it); unprivileged fits restricted; auto tries raw "
                                    "and falls back when Pod Security refuses."),
    probe_namespace: str | None = typer.Option(None, "--probe-namespace", show_default=False,
                                               autocompletion=opt.complete_namespaces,
                                               help="Namespace for the probe pod [default: SRC's]."),
    max_endpoints: int = typer.Option(10, "--max-endpoints", min=1, max=60,
                                      help="Endpoints of a Service probed directly (chosen to cover each "
                                           "node)."),
    observe: bool = typer.Option(False, "--observe", help="Also watch the probe's packets on every node of "
                                 "the path (one host-network observer pod per node, NET_RAW + NET_ADMIN; "
                                 "Pod Security `privileged` in --observer-namespace) and say where they "
                                 "stop."),
    observer_namespace: str = typer.Option("kube-system", "--observer-namespace",
                                           autocompletion=opt.complete_namespaces,
                                           help="Namespace for the observer pods (with --observe)."),
    output: str = opt.output_option(registry.choices(TRACE_VIEWS, with_name=False), "text"),
    *,
    connection: ClusterOptions,
) -> ExitCode:
    """Trace SRC -> DST: the path packets should take, what a probe saw, and where they differ."""
    from kdiag.cluster.client import Cluster
    from kdiag.cluster.probepods import DEFAULT_IMAGE, IMAGE_ENV
    from kdiag.cluster.workloads import deleting_in_background
    from kdiag.errors import UsageError
    from kdiag.model.service_targets import parse_port_option
    from kdiag.trace.request import TraceRequest
    from kdiag.trace.run import trace as run_trace

    env: Environment = ctx.obj
    seconds = opt.parse_duration(timeout, "--timeout")
    if seconds is None:
        raise UsageError("--timeout must be more than 0", hint="e.g. --timeout 30s")
    wanted = parse_port_option(port)
    request = TraceRequest(
        source=source, destination=destination, namespace=connection.namespace,
        port=wanted if isinstance(wanted, int) else None,
        port_name=wanted if isinstance(wanted, str) else None,
        max_endpoints=max_endpoints,
        proto=proto.lower() if proto else None, count=count, timeout=seconds,
        image=image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE, mode=mode, engine=engine,
        probe_namespace=probe_namespace, observe=observe, observer_namespace=observer_namespace,
    )
    cluster = Cluster(connection)
    # The probe pod's deletion is sent when its result is in and answered while the verdict is drawn.
    with deleting_in_background() as deletions:
        with env.progress() as (say, warn):
            result = run_trace(cluster, request, say=say, warn=warn, deletions=deletions)
        from kdiag.render.trace import trace_text  # loaded during the probe (kdiag.trace.prefetch)

        view = registry.View(document=result.document,
                             texts={"text": lambda: trace_text(result, color=env.color)})
        registry.render(view, output, env.stdout)
    return exit_for_verdict(result.verdict.status)
