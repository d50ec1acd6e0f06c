"""What the agent observes along real paths: same bridge, one router, two routers, a 1400-byte link.

Each test runs under both engines (see the `probe` fixture) and asserts the same observed values,
so the unprivileged engine is held to the raw engine's TTLs, hops and MTU.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agent import topology as topo
from tests.agent.conftest import SYSTEM_PYTHON, Prober, require_unprivileged_runner, run_agent
from tests.prereq import require

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]


def hop_addresses(result: dict[str, Any]) -> list[str | None]:
    return [hop["address"] for hop in result["probes"]["traceroute"]["hops"]]


def test_same_bridge_is_pure_l2(probe: Prober, topology: topo.Topology) -> None:
    result = probe("client", target=topo.T0)
    probes = result["probes"]
    assert probes["icmp"]["received"] == 3
    assert probes["icmp"]["replyTtl"] == 64
    assert probes["icmp"]["replyFrom"] == topo.T0
    assert probes["traceroute"]["reached"] is True
    assert probes["traceroute"]["reachedAtTtl"] == 1
    assert hop_addresses(result) == [topo.T0]
    local = probes["local"]
    assert local["interface"] == "eth0"
    assert local["mac"] == topology.mac("client")
    assert local["addresses"] == [f"{topo.CLIENT}/24"]
    assert local["sourceAddress"] == topo.CLIENT
    assert local["mtu"] == 1500
    assert local["route"] == {"destination": "10.99.1.0/24", "gateway": None, "onLink": True}
    assert local["defaultGateway"] == topo.R1_LAN
    if probe.engine == "raw":
        assert probes["arp"]["answered"] is True
        assert probes["arp"]["mac"] == topology.mac("t0")
    else:
        assert probes["arp"]["measured"] is False
        assert "CAP_NET_RAW" in probes["arp"]["reason"]


def test_one_router_decrements_ttl_once(probe: Prober) -> None:
    result = probe("client", target=topo.T1)
    probes = result["probes"]
    assert probes["icmp"]["replyTtl"] == 63
    assert hop_addresses(result) == [topo.R1_LAN, topo.T1]
    assert probes["traceroute"]["reachedAtTtl"] == 2
    assert probes["local"]["route"] == {"destination": "0.0.0.0/0", "gateway": topo.R1_LAN, "onLink": False}
    assert probes["arp"]["measured"] is False
    assert probes["arp"].get("notApplicable") is (True if probe.engine == "raw" else None)
    assert probes["pmtu"]["pathMtu"] == 1500
    assert probes["pmtu"]["exact"] is True
    assert probes["pmtu"]["reportedMtu"] is None


def test_two_routers_and_a_1400_byte_link(probe: Prober) -> None:
    result = probe("client", target=topo.T2)
    probes = result["probes"]
    assert probes["icmp"]["replyTtl"] == 62
    assert hop_addresses(result) == [topo.R1_LAN, topo.R2_CORE, topo.T2]
    assert probes["traceroute"]["reachedAtTtl"] == 3
    pmtu = probes["pmtu"]
    assert pmtu["pathMtu"] == topo.CORE_MTU
    assert pmtu["reportedMtu"] == topo.CORE_MTU
    assert pmtu["reportedBy"] == topo.R1_LAN
    assert pmtu["exact"] is True
    assert {p["outcome"] for p in pmtu["probes"] if p["size"] > topo.CORE_MTU} == {"fragmentationNeeded"}


def test_unprivileged_without_ping_sockets_falls_back_to_udp(topology: topo.Topology) -> None:
    """In "noping" net.ipv4.ping_group_range excludes every gid: no ICMP echo, UDP for hops and MTU."""
    require_unprivileged_runner()
    result = run_agent({"target": topo.T2, "timeout": 1.0}, netns=topology.ns("noping"), as_nobody=True,
                       python=SYSTEM_PYTHON, flags=["-I"], as_source=True).result()
    probes = result["probes"]
    assert result["engine"] == "unprivileged"
    assert probes["icmp"]["measured"] is False
    assert "ping_group_range" in probes["icmp"]["reason"]
    assert probes["traceroute"]["method"] == "udp"
    assert hop_addresses(result) == [topo.R1_LAN, topo.R2_CORE, topo.T2]
    assert probes["traceroute"]["reachedAtTtl"] == 3
    assert probes["pmtu"]["method"] == "udp"
    assert probes["pmtu"]["pathMtu"] == topo.CORE_MTU
    assert probes["pmtu"]["reportedMtu"] == topo.CORE_MTU


BLACK_HOLE = """
table ip kdt_agent_black_hole {
    chain output {
        type filter hook output priority 0; policy accept;
        icmp type destination-unreachable icmp code frag-needed drop
    }
}
"""


@pytest.fixture
def icmp_black_hole(topology: topo.Topology) -> Iterator[None]:
    """r1 silently drops packets too big for its 1400-byte link, without saying so."""
    require(shutil.which("nft") is not None, "needs nftables (`nft`) to drop ICMP in r1")
    topology.nft("r1", BLACK_HOLE)
    try:
        yield
    finally:
        topology.nft("r1", "delete table ip kdt_agent_black_hole\n")


@pytest.mark.usefixtures("icmp_black_hole")
def test_pmtu_through_an_icmp_black_hole(probe: Prober) -> None:
    result = probe("client", target=topo.T2, probes=["pmtu"], timeout=0.5)
    pmtu = result["probes"]["pmtu"]
    assert pmtu["pathMtu"] == topo.CORE_MTU
    assert pmtu["reportedMtu"] is None
    assert {p["outcome"] for p in pmtu["probes"] if p["size"] > topo.CORE_MTU} == {"noAnswer"}
    assert result["durationSeconds"] <= result["budgetSeconds"]
