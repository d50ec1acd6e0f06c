"""Which commands kdiag has: each module adds its own to the app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from kdiag.cli import cleanup, cni, completion_cmd, lab, pairs, pods, policy, trace

    app.command()(pods.pods)
    app.command()(pods.nodes)
    app.command()(pairs.pairs)
    app.command()(trace.trace)
    app.command()(policy.policy)
    app.command()(cleanup.cleanup)
    app.command()(cni.cni)
    app.add_typer(lab.app, name="lab")
    app.command()(completion_cmd.completion)
