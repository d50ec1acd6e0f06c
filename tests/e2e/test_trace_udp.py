"""`kdiag trace --proto udp` on the session lab: a closed UDP port is a problem, not a healthy path."""

from __future__ import annotations

import pytest

from tests.conftest import Lab
from tests.e2e.trace_helpers import HELLO_1, WORDPRESS, codes, finding, trace

pytestmark = pytest.mark.lab


def test_closed_udp_port_is_udp_closed_and_exit_1(lab: Lab) -> None:
    result, doc = trace(lab, HELLO_1, WORDPRESS, "--proto", "udp", "--port", "9999")
    assert doc["observed"]["probes"]["udp"]["state"] == "closed", doc["observed"]["probes"]["udp"]
    assert result.exit_code == 1, result.stderr
    assert doc["verdict"]["status"] == "problem" and not doc["verdict"]["matchesExpected"]
    assert codes(doc)[0] == "UDP_CLOSED" and "PATH_AS_EXPECTED" not in codes(doc)
    f = finding(doc, "UDP_CLOSED")
    assert "9999" in f["message"] and f["node"] == "worker25"
    text = lab.kdiag("trace", HELLO_1, WORDPRESS, "--proto", "udp", "--port", "9999")
    assert text.exit_code == 1 and "Verdict: PROBLEM" in text.stdout and "UDP_CLOSED" in text.stdout
