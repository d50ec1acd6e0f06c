"""kdiag's exit codes: one enum, documented in README.md."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0  # healthy / matches expectation
    PROBLEM = 1  # a connectivity problem was found
    USAGE = 2  # usage or input error: not found, ambiguous, bad flag
    CANNOT_PROBE = 3  # forbidden, Pod Security, timeout, API unreachable
