"""`kdiag trace SRC DST`: the expected path for a pod pair, a probe from SRC, and a verdict.

Exit codes: 0 the path works as expected (status ok), 1 a connectivity problem was found (status
problem), 3 nothing could be measured (status inconclusive) or the probe could not run; 2 bad input.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import typer

from kdiag.cli import options as opt
from kdiag.cli.env import Environment
from kdiag.cluster.client import ClusterOptions
from kdiag.defaults import PROBE_IMAGE
from kdiag.exitcodes import ExitCode
from kdiag.render import registry

TRACE_VIEWS = ("text",)
EXIT_FOR_STATUS = {"ok": ExitCode.OK, "problem": ExitCode.PROBLEM, "inconclusive": ExitCode.CANNOT_PROBE}


@contextlib.contextmanager
def progress(env: Environment) -> Iterator[tuple[Callable[[str], None], Callable[[str], None]]]:
    """(say, warn): a spinner on a terminal's stderr; plain lines with -v otherwise; never stdout."""
    if env.stderr_is_tty:
        console = env.err_console()
        with console.status("starting", spinner="dots") as status:
            yield (lambda message: status.update(message),
                   lambda message: console.print(f"warning: {message}", style="yellow", highlight=False))
        return

    def say(message: str) -> None:
        if env.verbose:
            env.err(f"kdiag: {message}")

    yield say, lambda message: env.err(f"warning: {message}")


@opt.connected(namespaced=True, all_namespaces=False)
def trace(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="Source pod: NAME, NAMESPACE/NAME or a unique name prefix.",
                                 autocompletion=opt.complete_pods, show_default=False),
    destination: str = typer.Argument(..., help="Destination pod (as SOURCE) or an IPv4 address.",
                                      autocompletion=opt.complete_pods, show_default=False),
    port: int | None = typer.Option(None, "--port", "-p", min=1, max=65535, show_default=False,
                                    help="Port to check [default: DST's first declared containerPort]."),
    proto: str | None = typer.Option(None, "--proto", show_default=False, metavar="icmp|tcp|udp",
                                     help="L4 check: icmp (path only), tcp or udp [default: tcp when a "
                                          "port is known, else icmp]. The path probes always run."),
    count: int = typer.Option(3, "--count", min=1, max=100, help="ICMP echo requests to send."),
    timeout: str = typer.Option("60s", "--timeout", help="Give up on the probe after this long "
                                "(probe pod start + probing), e.g. 30s, 2m."),
    image: str | None = typer.Option(None, "--image", show_default=False,
                                     help="Probe image with python3 [default: $KDIAG_PROBE_IMAGE, else "
                                          f"{PROBE_IMAGE}]."),
    mode: str = typer.Option("pod", "--mode", metavar="pod|ephemeral",
                             help="pod: a probe pod on SRC's node (deleted afterwards); ephemeral: an "
                                  "ephemeral container inside SRC (cannot be removed)."),
    engine: str = typer.Option("auto", "--engine", metavar="auto|raw|unprivileged",
                               help="raw needs NET_RAW (Pod Security baseline); unprivileged fits "
                                    "restricted; auto tries raw and falls back when Pod Security refuses."),
    probe_namespace: str | None = typer.Option(None, "--probe-namespace", show_default=False,
                                               autocompletion=opt.complete_namespaces,
                                               help="Namespace for the probe pod [default: SRC's]."),
    output: str = opt.output_option(registry.choices(TRACE_VIEWS, with_name=False), "text"),
    *,
    connection: ClusterOptions,
) -> int:
    """Trace SRC -> DST: the path packets should take, what a probe saw, and where they differ."""
    from kdiag.cluster.client import Cluster
    from kdiag.cluster.probes import DEFAULT_IMAGE, IMAGE_ENV
    from kdiag.cluster.tracing import TraceRequest, validate
    from kdiag.cluster.tracing import trace as run_trace
    from kdiag.errors import UsageError
    from kdiag.render.trace import trace_text

    env: Environment = ctx.obj
    seconds = opt.parse_duration(timeout, "--timeout")
    if seconds is None:
        raise UsageError("--timeout must be more than 0", hint="e.g. --timeout 30s")
    request = TraceRequest(
        source=source, destination=destination, namespace=connection.namespace, port=port,
        proto=proto.lower() if proto else None, count=count, timeout=seconds,
        image=image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE, mode=mode, engine=engine,
        probe_namespace=probe_namespace,
    )
    validate(request)
    cluster = Cluster(connection)
    with progress(env) as (say, warn):
        result = run_trace(cluster, request, say=say, warn=warn)
    view = registry.View(document=result.document,
                         texts={"text": lambda: trace_text(result, color=env.color)})
    registry.render(view, output, env.stdout)
    return int(EXIT_FOR_STATUS[result.verdict.status])
