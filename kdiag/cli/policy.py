"""`kdiag policy SRC DST`: do the policies allow this flow, by which rule, and what would fix a denial;
`kdiag policy --matrix`: the truth table for every ordered pod pair in scope.

Exit codes: the pair form exits 0 allowed, 1 denied, 3 unknown (kdiag cannot decide: CNI-specific
policies, objects it may not read, host network); the matrix exits 0 once the table is computed.
Bad input (unknown pod, port name DST does not declare, bad --proto) exits 2.
"""

from __future__ import annotations

import dataclasses

import typer

from kdiag.cli import options as opt
from kdiag.cli.env import Environment
from kdiag.cluster.client import ClusterOptions
from kdiag.exitcodes import ExitCode
from kdiag.render import registry

POLICY_VIEWS = ("text",)
EXIT_FOR_VERDICT = {"allowed": ExitCode.OK, "denied": ExitCode.PROBLEM, "unknown": ExitCode.CANNOT_PROBE}


@opt.connected(namespaced=True, all_namespaces=True)
def policy(
    ctx: typer.Context,
    source: str | None = typer.Argument(None, help="Source pod: NAME, NAMESPACE/NAME, a unique prefix or "
                                        "a pod IP.", autocompletion=opt.complete_pods, show_default=False),
    destination: str | None = typer.Argument(None, help="Destination pod (as SOURCE), or an address.",
                                             autocompletion=opt.complete_pods, show_default=False),
    port: str | None = typer.Option(None, "--port", "-p", show_default=False,
                                    help="Port number, or a port name DST declares [default: DST's first "
                                         "containerPort of the protocol]. Required with --matrix."),
    proto: str = typer.Option("tcp", "--proto", metavar="tcp|udp|sctp", help="Protocol of the flow."),
    matrix: bool = typer.Option(False, "--matrix", help="Every ordered pod pair in scope (-n NS[,NS...] or "
                                "-A, -l): allowed[SOURCE][DESTINATION]."),
    selector: opt.Selector = "",
    output: str = opt.output_option(registry.choices(POLICY_VIEWS, with_name=False), "text"),
    *,
    connection: ClusterOptions,
) -> int:
    """Whether NetworkPolicies (and admin policies) allow SRC -> DST, the rule that decides, and the fix."""
    from kdiag.cluster.client import Cluster
    from kdiag.cluster.policy_query import protocol_of
    from kdiag.errors import UsageError

    env: Environment = ctx.obj
    protocol = protocol_of(proto)
    if matrix:
        if source or destination:
            raise UsageError("--matrix takes no SRC or DST", hint="scope it with -n NS[,NS...], -A or -l")
        return _matrix(env, connection, port, protocol, selector, output)
    if source is None or destination is None:
        raise UsageError("kdiag policy needs SRC and DST (or --matrix)",
                         hint="e.g. kdiag policy web-0 db-0 -p 5432")
    if connection.all_namespaces or selector:
        raise UsageError("-A and -l apply to --matrix only", hint="give SRC and DST as NAMESPACE/NAME")
    if connection.namespace and "," in connection.namespace:
        raise UsageError("-n takes one namespace here (a list only with --matrix)")
    from kdiag.cluster.policy_query import PolicyRequest, policy_verdict
    from kdiag.model.policy.documents import policy_verdict_document
    from kdiag.render.policy import verdict_text

    request = PolicyRequest(source, destination, connection.namespace, port, protocol)
    answer = policy_verdict(Cluster(connection), request)
    view = registry.View(
        document=lambda: policy_verdict_document(answer.verdict, answer.policies, answer.notes),
        texts={"text": lambda: verdict_text(answer.verdict, answer.notes)})
    registry.render(view, output, env.stdout)
    return int(EXIT_FOR_VERDICT[answer.verdict.verdict])


def _matrix(env: Environment, connection: ClusterOptions, port: str | None, protocol: str, selector: str,
            output: str) -> int:
    from kdiag.cluster.client import Cluster
    from kdiag.cluster.policy_query import MatrixRequest, policy_matrix
    from kdiag.errors import UsageError
    from kdiag.model.policy.documents import policy_matrix_document
    from kdiag.render.policy import matrix_text

    if port is None or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError("--matrix needs --port NUMBER (1-65535)",
                         hint="port names can differ per pod; give the number")
    if connection.all_namespaces and connection.namespace:
        raise UsageError("-n and -A exclude each other")
    listed = [n.strip() for n in (connection.namespace or "").split(",") if n.strip()]
    cluster = Cluster(dataclasses.replace(connection, namespace=listed[0] if listed else None))
    namespaces = None if connection.all_namespaces else tuple(listed or [cluster.namespace])
    request = MatrixRequest(namespaces, int(port), protocol, selector)
    table, policies, left_out = policy_matrix(cluster, request)
    if left_out:
        env.err(f"left out {left_out} pods that are not Running with an IP")
    view = registry.View(document=lambda: policy_matrix_document(table, policies),
                         texts={"text": lambda: matrix_text(table)})
    registry.render(view, output, env.stdout)
    return int(ExitCode.OK)
