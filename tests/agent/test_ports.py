"""TCP open / closed / filtered and UDP closed / open|filtered, against ports t1 serves or filters."""

from __future__ import annotations

import pytest

from tests.agent import topology as topo
from tests.agent.conftest import Prober

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120), pytest.mark.usefixtures("services")]


@pytest.mark.parametrize(
    ("port", "state", "icmp_name"),
    [(8080, "open", None), (8081, "closed", None), (8082, "filtered", None),
     (8083, "filtered", "adminProhibited")],
)
def test_tcp_states(probe: Prober, port: int, state: str, icmp_name: str | None) -> None:
    tcp = probe("client", target=topo.T1, port=port, probes=["tcp"], timeout=0.6)["probes"]["tcp"]
    assert tcp["state"] == state
    assert (tcp["icmpError"] or {}).get("name") == icmp_name
    if icmp_name:
        assert tcp["icmpError"]["from"] == topo.T1
    if state == "filtered" and icmp_name is None:
        assert tcp["rttMs"] is None
    else:
        assert tcp["rttMs"] is not None
    if probe.engine == "raw" and state != "filtered":
        assert tcp["replyTtl"] == 63  # the SYN-ACK / RST crossed r1


@pytest.mark.parametrize(("port", "state"), [(9, "closed"), (5353, "open|filtered")])
def test_udp_states(probe: Prober, port: int, state: str) -> None:
    udp = probe("client", target=topo.T1, port=port, probes=["udp"], timeout=0.6)["probes"]["udp"]
    assert udp["state"] == state
    if state == "closed":
        assert udp["icmpError"]["name"] == "portUnreachable"
        assert udp["icmpError"]["from"] == topo.T1
    else:
        assert udp["icmpError"] is None
