"""The lab's own error: a KdiagError, so the CLI turns it into one line and an exit code."""

from __future__ import annotations

from kdiag.errors import KdiagError
from kdiag.exitcodes import ExitCode


class LabError(KdiagError):
    """The practice lab could not be built, started or stopped."""

    exit_code = ExitCode.CANNOT_PROBE
