"""Options shared by the commands that talk to a cluster, spelled as kubectl spells them.

Each command declares the ones it takes with these Annotated types and turns them into a
`ClusterOptions` with `cluster_options(...)`. Completion callbacks read the cluster lazily.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer

from kdiag.errors import UsageError

if TYPE_CHECKING:
    # Imported where used: `kdiag --help` loads this module (through the lab's command) and must
    # not pay for the cluster client it never calls.
    from kdiag.cluster.client import ClusterOptions

GLOBAL = "Cluster connection"
F = TypeVar("F", bound=Callable[..., Any])


def _params(ctx: typer.Context) -> ClusterOptions:
    from kdiag.cluster.client import ClusterOptions

    params = ctx.params
    return ClusterOptions(
        kubeconfig=params.get("kubeconfig"),
        context=params.get("context"),
        namespace=params.get("namespace"),
    )


def complete_contexts(ctx: typer.Context, incomplete: str) -> list[str]:
    from kdiag.cli import completion

    return completion.contexts(_params(ctx), incomplete)


def complete_namespaces(ctx: typer.Context, incomplete: str) -> list[str]:
    from kdiag.cli import completion
    from kdiag.cluster import paths

    return completion.names(_params(ctx), paths.NAMESPACES, incomplete)


def complete_pods(ctx: typer.Context, incomplete: str) -> list[str]:
    from kdiag.cli import completion

    return completion.pods(_params(ctx), incomplete)


def complete_destinations(ctx: typer.Context, incomplete: str) -> list[str]:
    """Pods as for SOURCE, plus `svc/NAME` (and `svc/NS/NAME`) for Services."""
    from kdiag.cli import completion

    return completion.destinations(_params(ctx), incomplete)


def complete_nodes(ctx: typer.Context, incomplete: str) -> list[str]:
    from kdiag.cli import completion
    from kdiag.cluster import paths

    return completion.names(_params(ctx), paths.NODES, incomplete)


Kubeconfig = Annotated[
    str | None,
    typer.Option("--kubeconfig", help="Path to the kubeconfig file to use.", rich_help_panel=GLOBAL,
                 show_default=False),
]
Context = Annotated[
    str | None,
    typer.Option("--context", help="The kubeconfig context to use.", autocompletion=complete_contexts,
                 rich_help_panel=GLOBAL, show_default=False),
]
Namespace = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="Namespace [default: the context's namespace].",
                 autocompletion=complete_namespaces, rich_help_panel=GLOBAL, show_default=False),
]
AllNamespaces = Annotated[
    bool, typer.Option("--all-namespaces", "-A", help="Across all namespaces.")
]
Selector = Annotated[
    str, typer.Option("--selector", "-l", help="Label selector, e.g. -l app=web,tier!=db.")
]
FieldSelector = Annotated[
    str, typer.Option("--field-selector", help="Field selector, e.g. --field-selector spec.nodeName=n1.")
]
RequestTimeout = Annotated[
    str,
    typer.Option("--request-timeout", help="How long to wait for one API request (e.g. 5s, 1m; 0: no limit).",
                 rich_help_panel=GLOBAL),
]

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


def parse_duration(text: str, flag: str) -> float | None:
    """kubectl durations: "0" (no limit), "30" (seconds), "5s", "1m30s", "250ms"."""
    text = text.strip()
    if text in ("", "0"):
        return None
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        raise UsageError(f"invalid {flag} {text!r}", hint="use a duration like 5s, 1m or 1m30s")
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def cluster_options(
    *,
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    all_namespaces: bool = False,
    request_timeout: str = "0",
) -> ClusterOptions:
    from kdiag.cluster.client import ClusterOptions

    return ClusterOptions(
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        all_namespaces=all_namespaces,
        request_timeout=parse_duration(request_timeout, "--request-timeout"),
    )


_CONNECTION_FLAGS = ("kubeconfig", "context", "request_timeout", "namespace", "all_namespaces")


def connected(*, namespaced: bool = True, all_namespaces: bool = False) -> Callable[[F], F]:
    """Give a command kubectl's connection flags without repeating them in every signature.

    The decorated function takes `connection: ClusterOptions` instead; typer sees (through
    `__signature__`) --kubeconfig, --context and --request-timeout, plus -n/--namespace when
    `namespaced` and -A/--all-namespaces when `all_namespaces`.
    """
    flags: list[tuple[str, Any, Any]] = []
    if namespaced:
        flags.append(("namespace", Namespace, None))
    if all_namespaces:
        flags.append(("all_namespaces", AllNamespaces, False))
    flags += [
        ("kubeconfig", Kubeconfig, None), ("context", Context, None), ("request_timeout", RequestTimeout, "0")
    ]

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.name != "connection"]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            for name, annotation, default in flags
        ]

        @functools.wraps(command)
        def with_connection(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in _CONNECTION_FLAGS if name in kwargs}
            return command(*args, connection=cluster_options(
                kubeconfig=given.get("kubeconfig"), context=given.get("context"),
                namespace=given.get("namespace"), all_namespaces=given.get("all_namespaces", False),
                request_timeout=given.get("request_timeout", "0"),
            ), **kwargs)

        # typer reads both the signature and the type hints: give it evaluated ones for the new
        # parameter list (the originals are strings, meaningless in this module's namespace).
        with_connection.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
        with_connection.__annotations__ = {p.name: p.annotation for p in kept + added}
        del with_connection.__wrapped__
        return cast(F, with_connection)

    return decorate


def output_option(choices: tuple[str, ...], default: str) -> Any:
    """An -o/--output option whose help lists `choices` (they come from the render registry)."""
    def parse(value: str) -> str:
        if value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return typer.Option(
        default, "--output", "-o", help=f"Output format: {', '.join(choices)}.", parser=parse,
        autocompletion=lambda incomplete: [c for c in choices if c.startswith(incomplete)],
        show_default=True, metavar="FORMAT",
    )
