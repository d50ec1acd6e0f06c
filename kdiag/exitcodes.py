"""kdiag's exit codes: one enum, documented in README.md, and the two mappings onto it."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0  # healthy / matches expectation
    PROBLEM = 1  # a connectivity problem was found
    USAGE = 2  # usage or input error: not found, ambiguous, bad flag
    CANNOT_PROBE = 3  # forbidden, Pod Security, timeout, API unreachable
    INTERRUPTED = 130  # Ctrl-C (SIGINT); other signals exit 128 + their number (exit_for_signal)


_FOR_VERDICT = {"ok": ExitCode.OK, "problem": ExitCode.PROBLEM, "inconclusive": ExitCode.CANNOT_PROBE}


def exit_for_verdict(status: str) -> ExitCode:
    """A trace's verdict status as an exit code: ok 0, problem 1, inconclusive (nothing measured) 3."""
    return _FOR_VERDICT[status]


def exit_for_signal(signum: int) -> int:
    """The shell's convention for a death by signal: 128 + its number (SIGHUP 129, SIGINT 130,
    SIGQUIT 131, SIGTERM 143), so `$?` reads as if the default action had run."""
    return 128 + signum
