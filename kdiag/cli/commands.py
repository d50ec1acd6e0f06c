"""Which commands kdiag has: each module adds its own to the app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from kdiag.cli import lab

    app.add_typer(lab.app, name="lab")
