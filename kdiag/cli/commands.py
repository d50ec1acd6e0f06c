"""Which commands kdiag has: each module adds its own to the app; packages installed beside kdiag
(the lab, `kdiag[lab]`) add theirs through the `kdiag.commands` entry-point group."""

from __future__ import annotations

import typer

PLUGIN_GROUP = "kdiag.commands"


def register(app: typer.Typer) -> None:
    from kdiag.cli import cleanup, cni, completion_cmd, pairs, pods, policy, trace

    app.command()(pods.pods)
    app.command()(pods.nodes)
    app.command()(pairs.pairs)
    app.command()(trace.trace)
    app.command()(policy.policy)
    app.command()(cleanup.cleanup)
    app.command()(cni.cni)
    _register_plugins(app)
    app.command()(completion_cmd.completion)


def _register_plugins(app: typer.Typer) -> None:
    """Each entry point names a typer app; its name is the sub-command (`lab = kdiag_lab.cli:app`)."""
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        app.add_typer(entry.load(), name=entry.name)
