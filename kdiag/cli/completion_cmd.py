"""`kdiag completion bash|zsh|fish`: print the shell completion script (as `kubectl completion`)."""

from __future__ import annotations

import typer

from kdiag.cli.env import Environment
from kdiag.errors import UsageError
from kdiag.exitcodes import ExitCode

SHELLS = ("bash", "zsh", "fish")


def completion_script(shell: str) -> str:
    from typer._completion_classes import completion_init
    from typer._completion_shared import get_completion_script

    from kdiag.cli.main import COMPLETE_VAR

    completion_init()
    return get_completion_script(prog_name="kdiag", complete_var=COMPLETE_VAR, shell=shell)


def completion(
    ctx: typer.Context,
    shell: str = typer.Argument(..., help="bash, zsh or fish.", autocompletion=lambda: list(SHELLS)),
) -> ExitCode:
    """Print the shell completion script, e.g. `source <(kdiag completion bash)`."""
    env: Environment = ctx.obj
    if shell not in SHELLS:
        raise UsageError(f"unsupported shell {shell!r}", hint=f"choose one of {', '.join(SHELLS)}")
    env.out(completion_script(shell))
    return ExitCode.OK
