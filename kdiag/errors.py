"""Errors a user can cause. Each carries the exit code and one line that says what to do.

Any layer may raise these; the CLI turns them into one line on stderr (a traceback only with -v).
"""

from __future__ import annotations

from kdiag.exitcodes import ExitCode


class KdiagError(Exception):
    """Base of every error kdiag reports as a one-line message instead of a traceback."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # The HTTP status when the API server answered; None when no answer came (unreachable,
        # TLS failure, timeout) and the request may or may not have taken effect.
        self.status = status

    @property
    def refused(self) -> bool:
        """The server answered and refused (4xx): the request certainly changed nothing."""
        return self.status is not None and 400 <= self.status < 500

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(KdiagError):
    """Bad input: unknown name, ambiguous prefix, bad flag or selector."""

    exit_code = ExitCode.USAGE


class NotFoundError(UsageError):
    """A named object (pod, namespace, context) does not exist."""


class CannotProbeError(KdiagError):
    """kdiag could not look: API unreachable, forbidden, Pod Security, timeout."""

    exit_code = ExitCode.CANNOT_PROBE


class ConfigError(UsageError):
    """No or broken kubeconfig, unknown context."""


class Interrupted(KeyboardInterrupt):
    """A signal that ends kdiag (SIGINT, SIGTERM, SIGHUP, SIGQUIT), raised where the program is so that
    every `finally` runs (probe pods are deleted) before the process exits 128 + `signum`.

    A KeyboardInterrupt, so code that already cleans up on Ctrl-C does the same for the others."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum
