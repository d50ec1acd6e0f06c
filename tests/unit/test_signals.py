"""Signals that end kdiag become Interrupted in the main thread; exit codes follow the shell."""

from __future__ import annotations

import os
import signal

import pytest

from kdiag.cli.signals import Caught, interrupting
from kdiag.errors import Interrupted
from kdiag.exitcodes import ExitCode, exit_for_signal, exit_for_verdict


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGINT])
def test_an_ending_signal_raises_interrupted_and_is_noted(sig: signal.Signals) -> None:
    before = signal.getsignal(sig)
    caught = Caught()
    with pytest.raises(Interrupted) as raised, interrupting(caught):
        os.kill(os.getpid(), sig)
        signal.pause()  # not reached when the handler raised at once; bounded by pytest's timeout
    assert raised.value.signum == sig == caught.signum
    assert signal.getsignal(sig) == before  # the caller's handler is back


def test_a_hangup_ignored_by_the_parent_stays_ignored() -> None:
    """Under `nohup` SIGHUP is ignored on purpose: kdiag keeps it so."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with interrupting(Caught()):
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_exit_codes() -> None:
    assert [exit_for_signal(s) for s in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM)] == [
        129, 130, 131, 143]
    assert exit_for_signal(signal.SIGINT) == ExitCode.INTERRUPTED
    assert [exit_for_verdict(s) for s in ("ok", "problem", "inconclusive")] == [0, 1, 3]
