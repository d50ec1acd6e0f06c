"""Which commands kdiag has: each module adds its own to the app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from kdiag.cli import completion_cmd, lab, pairs, pods

    app.command()(pods.pods)
    app.command()(pods.nodes)
    app.command()(pairs.pairs)
    app.add_typer(lab.app, name="lab")
    app.command()(completion_cmd.completion)
