"""The environment a command runs in: its streams, whether they are terminals, colour.

Passed explicitly (typer's ctx.obj) so tests can capture output without patching globals.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class Environment:
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    verbose: bool = False

    @property
    def stderr_is_tty(self) -> bool:
        return bool(getattr(self.stderr, "isatty", lambda: False)())

    @property
    def stdout_is_tty(self) -> bool:
        return bool(getattr(self.stdout, "isatty", lambda: False)())

    @property
    def color(self) -> bool:
        """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
        return self.stdout_is_tty and not os.environ.get("NO_COLOR")

    def out(self, text: str) -> None:
        self.stdout.write(text if text.endswith("\n") else text + "\n")

    def err(self, text: str) -> None:
        self.stderr.write(text if text.endswith("\n") else text + "\n")
        self.stderr.flush()

    def console(self) -> Console:
        from rich.console import Console

        return Console(file=self.stdout, no_color=not self.color, highlight=False, soft_wrap=True)

    def err_console(self) -> Console:
        from rich.console import Console

        color = self.stderr_is_tty and not os.environ.get("NO_COLOR")
        return Console(file=self.stderr, no_color=not color, highlight=False, force_terminal=None)
