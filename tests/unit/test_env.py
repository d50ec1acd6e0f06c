"""The colour rule, in one place (Environment): a terminal, NO_COLOR unset or empty, TERM not dumb."""

from __future__ import annotations

import io

import pytest

from kdiag.cli.env import Environment


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("tty", "environ", "colour"), [
    (True, {"TERM": "xterm-256color"}, True),
    (True, {"TERM": "xterm", "NO_COLOR": ""}, True),  # no-color.org: set *and non-empty*
    (True, {"TERM": "xterm", "NO_COLOR": "1"}, False),
    (True, {"TERM": "dumb"}, False),
    (False, {"TERM": "xterm"}, False),
])
def test_colour_rule(tty: bool, environ: dict[str, str], colour: bool) -> None:
    stream = Terminal() if tty else io.StringIO()
    env = Environment(stdout=stream, stderr=stream, environ=environ)
    assert env.color is colour and env.stderr_color is colour


def test_no_spinner_on_a_dumb_terminal() -> None:
    """A dumb terminal cannot redraw a line: progress goes as plain lines (with -v), no escapes."""
    stderr = Terminal()
    env = Environment(stdout=io.StringIO(), stderr=stderr, verbose=True, environ={"TERM": "dumb"})
    with env.progress() as (say, warn):
        say("resolving")
        warn("careful")
    assert stderr.getvalue() == "kdiag: resolving\nwarning: careful\n"
