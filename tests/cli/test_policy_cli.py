"""`kdiag policy` input errors that need no cluster: one line on stderr, exit 2, nothing on stdout."""

from __future__ import annotations

import pytest

from kdiag.exitcodes import ExitCode
from tests.conftest import run_kdiag


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("policy", "a", "b", "--proto", "icmp"),
            "error: unknown --proto 'icmp' (choose one of tcp, udp, sctp)",
        ),
        (("policy", "a"), "error: kdiag policy needs SRC and DST (or --matrix)"),
        (("policy", "--matrix"), "error: --matrix needs --port NUMBER (1-65535)"),
        (("policy", "--matrix", "-p", "http"), "error: --matrix needs --port NUMBER (1-65535)"),
        (("policy", "--matrix", "-p", "80", "a"), "error: --matrix takes no SRC or DST"),
        (("policy", "a", "b", "-A"), "error: -A and -l apply to --matrix only"),
        (("policy", "a", "b", "-n", "x,y"), "error: -n takes one namespace here (a list only with --matrix)"),
        (("policy", "--matrix", "-p", "80", "-A", "-n", "x"), "error: -n and -A exclude each other"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    result = run_kdiag(*args, "--kubeconfig", "/nonexistent/kubeconfig")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1


def test_policy_is_listed_in_help() -> None:
    result = run_kdiag("--help")
    assert result.exit_code == 0 and "  policy " in result.stdout
