"""Signals that end a command become `Interrupted` in the main thread, so cleanup runs first.

Ctrl-C (SIGINT), `kill` (SIGTERM), a closed terminal or ssh session (SIGHUP) and Ctrl-\\ (SIGQUIT)
all end kdiag the same way: the exception unwinds through every `finally` (a probe pod is deleted
while the deletion is shielded from a second signal, kdiag.cluster.workloads), then `main` returns
128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from kdiag.errors import Interrupted

ENDING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class Caught:
    """The first ending signal seen in the block (typer turns the exception into a plain `Exit(130)`,
    so the caller reads the number here)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        raise Interrupted(signum)


@contextlib.contextmanager
def interrupting(caught: Caught) -> Iterator[Caught]:
    """Within the block, the ending signals raise Interrupted (and are noted in `caught`); outside,
    their old handlers are back. Off the main thread (where Python cannot set handlers) it changes
    nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    saved = {}
    for sig in ENDING:
        if signal.getsignal(sig) is signal.SIG_IGN and sig != signal.SIGINT:
            continue  # started under nohup (SIGHUP ignored) or the like: keep the caller's choice
        saved[sig] = signal.signal(sig, caught.handle)
    try:
        yield caught
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
