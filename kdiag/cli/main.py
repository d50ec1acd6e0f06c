"""kdiag's command line: the typer app, and the one place errors become exit codes.

Commands are thin (parse options, build a request, call the domain, render, map to an exit
code); each lives in its own module and registers itself on `app` in `build_app`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer

from kdiag import __version__
from kdiag.cli.env import Environment
from kdiag.cli.signals import Caught, interrupting
from kdiag.errors import Interrupted, KdiagError
from kdiag.exitcodes import ExitCode, exit_for_signal

COMPLETE_VAR = "_KDIAG_COMPLETE"
HELP = (
    "Connectivity diagnostics for live Kubernetes clusters: which path a pod pair's packets "
    "should take, what a probe pod observed, and why the two differ."
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kdiag {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    from kdiag.cli import fastparams
    from kdiag.cli.commands import KdiagGroup

    app = typer.Typer(
        name="kdiag",
        cls=KdiagGroup,  # commands load on first use (kdiag.cli.commands)
        help=HELP,
        no_args_is_help=True,
        add_completion=False,  # completions are shipped in completions/ and by `kdiag completion`
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": list(fastparams.HELP_OPTION_NAMES)},
    )

    @app.callback()
    def root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and debug detail."),
    ) -> None:
        """Connectivity diagnostics for Kubernetes pods."""

    return app


def _enable_completion() -> None:
    """Register typer's bash/zsh/fish completion classes (with add_completion=False typer
    leaves them out, and the install options it would add are not kubectl-like)."""
    from typer._completion_classes import completion_init

    completion_init()


def join_option_values(words: list[str], cword: int) -> tuple[list[str], int]:
    """Bash splits `--namespace=kube-f` into `--namespace`, `=`, `kube-f` (COMP_WORDBREAKS holds
    `=`); joined back, click completes the value after the `=`. Returns the words and the index of
    the word being completed."""
    words = words + [""] * (cword + 1 - len(words))
    joined: list[str] = []
    position = cword
    glue = False
    for index, word in enumerate(words):
        if glue:
            joined[-1] += word
            glue = False
        elif word == "=" and joined and joined[-1].startswith("-"):
            joined[-1] += "="
            glue = index != cword  # the cursor right after `=`: the value is still empty
        else:
            joined.append(word)
        if index == cword:
            position = len(joined) - 1
    return joined, position


def _bash_words_joined() -> None:
    if os.environ.get(COMPLETE_VAR) != "complete_bash" or "COMP_WORDS" not in os.environ:
        return
    from typer._click.shell_completion import split_arg_string

    words, cword = join_option_values(split_arg_string(os.environ["COMP_WORDS"]),
                                      int(os.environ.get("COMP_CWORD", "0")))
    os.environ["COMP_WORDS"] = " ".join(words)
    os.environ["COMP_CWORD"] = str(cword)


def _wants_verbose(argv: Sequence[str]) -> bool:
    # Known before parsing, so errors raised while parsing can honour it too.
    args = list(argv)
    if "--" in args:
        args = args[: args.index("--")]
    return "-v" in args or "--verbose" in args


def _move_verbose_first(args: list[str]) -> list[str]:
    end = args.index("--") if "--" in args else len(args)
    kept = [a for a in args[:end] if a not in ("-v", "--verbose")]
    return ["--verbose", *kept, *args[end:]]


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run kdiag with `argv`; returns the exit code instead of exiting (tests call this).

    Ctrl-C, SIGTERM, SIGHUP and SIGQUIT unwind the command (its cleanup runs) and return
    128 + the signal's number, as a death by that signal would show in `$?`."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = env or Environment()
    env.verbose = _wants_verbose(args)
    if env.verbose:
        # -v is global but kubectl users type it anywhere (`kdiag pods -v`): the root takes it.
        args = _move_verbose_first(args)
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=env.stderr)
    app = build_app()
    if os.environ.get(COMPLETE_VAR):
        _enable_completion()
        _bash_words_joined()
    from kdiag.cli import fastparams

    command = fastparams.install(typer.main.get_command(app), recurse=False)
    caught = Caught()
    code = _dispatch(command, args, env, caught)
    # A signal ends the command with 128 + its number whatever it unwound into on the way: typer's
    # Exit(130), or an error from writing to a terminal that went away with SIGHUP.
    return _interrupted(env, caught.signum) if caught.signum is not None else code


def _dispatch(command: Any, args: list[str], env: Environment, caught: Caught) -> int:
    try:
        # Help, version and usage text are printed by typer to sys.stdout/sys.stderr: point those
        # at the environment's streams so that they, too, go where the caller wants them.
        with interrupting(caught), contextlib.redirect_stdout(env.stdout), \
                contextlib.redirect_stderr(env.stderr):
            result = command.main(args=args, prog_name="kdiag", standalone_mode=False, obj=env)
        return int(result) if isinstance(result, int) else ExitCode.OK
    except (typer.Abort, KeyboardInterrupt) as exc:  # Ctrl-C while parsing, or a signal just after
        if caught.signum is None:
            caught.signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        return ExitCode.INTERRUPTED
    except Exception as exc:
        if caught.signum is not None:
            return ExitCode.INTERRUPTED  # an error while unwinding from the signal: the signal counts
        return _report(env, exc)


def _report(env: Environment, exc: Exception) -> int:
    if isinstance(exc, KdiagError):
        if env.verbose:
            traceback.print_exc(file=env.stderr)
        env.err(f"error: {exc.one_line()}")
        return int(exc.exit_code)
    if isinstance(exc, typer.TyperException):  # bad flags and arguments (typer's own click)
        show = getattr(exc, "show", None)
        if show is not None:
            show(file=env.stderr)
        else:
            env.err(f"error: {exc}")
        return ExitCode.USAGE
    if isinstance(exc, typer.Exit):
        return int(exc.exit_code)
    # A bug in kdiag: one line by default, the traceback with -v.
    if env.verbose:
        traceback.print_exc(file=env.stderr)
    env.err(f"error: internal error: {type(exc).__name__}: {exc} (rerun with -v for the traceback "
            "and please report it)")
    return ExitCode.CANNOT_PROBE


def _interrupted(env: Environment, signum: int) -> int:
    """128 + the signal's number (Ctrl-C 130, SIGTERM 143, SIGHUP 129, SIGQUIT 131)."""
    with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
        env.err("interrupted" if signum == signal.SIGINT else f"interrupted by {signal.Signals(signum).name}")
    return ExitCode.INTERRUPTED if signum == signal.SIGINT else exit_for_signal(signum)


def run() -> None:
    """Console-script entry point (`kdiag`, `kubectl-kdiag`)."""
    sys.exit(main())


def kubectl_complete() -> None:
    """Console script `kubectl_complete-kdiag ARGS... WORD`: kubectl's plugin completion runs it for
    `kubectl kdiag <Tab>` (kubectl 1.26+) and reads cobra's format: one candidate per line, then
    `:4` (no file completion)."""
    sys.exit(complete_for_kubectl(sys.argv[1:], sys.stdout))


def complete_for_kubectl(argv: Sequence[str], out: Any) -> int:
    from typer._completion_classes import BashComplete

    args = list(argv) or [""]
    *before, word = args
    app = build_app()
    _enable_completion()
    command = typer.main.get_command(app)
    prefix = ""
    if word.startswith("-") and "=" in word:
        # cobra completes `--flag=val` as whole words: give the candidates the flag back.
        prefix = word.partition("=")[0] + "="
    try:
        completer = BashComplete(command, {"obj": Environment()}, "kdiag", COMPLETE_VAR)
        items = completer.get_completions(before, word)
    except Exception:  # completion never prints errors into the user's prompt
        items = []
    for item in items:
        value = str(item.value)
        out.write((value if value.startswith(prefix) else prefix + value) + "\n")
    out.write(":4\n")
    return 0
