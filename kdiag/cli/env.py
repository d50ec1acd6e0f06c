"""The environment a command runs in: its streams, whether they are terminals, colour, progress.

Passed explicitly (typer's ctx.obj) so tests can capture output without patching globals. The colour
rule lives here alone: a terminal, `NO_COLOR` unset or empty (https://no-color.org), and a `TERM`
that is not `dumb`; `environ` is the process environment unless a test gives its own.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

Say = Callable[[str], None]


def _is_tty(stream: IO[str]) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


@dataclass
class Environment:
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    verbose: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @property
    def stderr_is_tty(self) -> bool:
        return _is_tty(self.stderr)

    @property
    def stdout_is_tty(self) -> bool:
        return _is_tty(self.stdout)

    def _colour_allowed(self, is_tty: bool) -> bool:
        return is_tty and not self.environ.get("NO_COLOR") and self.environ.get("TERM") != "dumb"

    @property
    def color(self) -> bool:
        """Colour on stdout (the rule is in the module docstring)."""
        return self._colour_allowed(self.stdout_is_tty)

    @property
    def stderr_color(self) -> bool:
        return self._colour_allowed(self.stderr_is_tty)

    def out(self, text: str) -> None:
        self.stdout.write(text if text.endswith("\n") else text + "\n")

    def err(self, text: str) -> None:
        # stderr is the last resort: when it is gone (the terminal closed with SIGHUP) nothing can
        # be told, and the failure must not replace what is being reported or cleaned up.
        with contextlib.suppress(OSError):
            self.stderr.write(text if text.endswith("\n") else text + "\n")
            self.stderr.flush()

    def console(self) -> Console:
        from rich.console import Console

        return Console(file=self.stdout, no_color=not self.color, highlight=False, soft_wrap=True)

    def err_console(self) -> Console:
        from rich.console import Console

        return Console(file=self.stderr, no_color=not self.stderr_color, highlight=False,
                       force_terminal=None)

    @contextlib.contextmanager
    def progress(self) -> Iterator[tuple[Say, Say]]:
        """(say, warn): a spinner on a terminal's stderr (not on TERM=dumb, which cannot redraw a
        line); plain lines with -v otherwise; never stdout."""
        if self.stderr_is_tty and self.environ.get("TERM") != "dumb":
            console = self.err_console()
            with console.status("starting", spinner="dots") as status:
                yield (lambda message: status.update(message),
                       lambda message: console.print(f"warning: {message}", style="yellow", highlight=False))
            return

        def say(message: str) -> None:
            if self.verbose:
                self.err(f"kdiag: {message}")

        yield say, lambda message: self.err(f"warning: {message}")
