"""The dns probe against a real DNS responder in a namespace, and the targets probe (tcp/udp to
many address:port pairs in one run), under both engines."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent import topology as topo
from tests.agent.conftest import Prober

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]
RESPONDER = Path(__file__).with_name("dns_responder.py")
WEB = "web.default.svc.cluster.local."


@pytest.fixture(scope="module")
def dns_server(topology: topo.Topology) -> Iterator[str]:
    """The test responder on t1 (UDP and TCP 53); returns its address."""
    argv = ["ip", "netns", "exec", topology.ns("t1"), sys.executable, str(RESPONDER)]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    try:
        assert server.stdout.readline().strip() == "ready", f"responder exited {server.poll()}"
        yield topo.T1
    finally:
        server.kill()
        server.wait()


def ask(probe: Prober, server: str, *names: str, timeout: float = 1.0) -> dict:  # type: ignore[type-arg]
    result = probe("client", target=server, probes=["dns"], timeout=timeout,
                   dns={"server": server, "names": list(names)})
    dns = result["probes"]["dns"]
    assert dns["measured"], dns
    return dns  # type: ignore[no-any-return]


def test_answer(probe: Prober, dns_server: str) -> None:
    dns = ask(probe, dns_server, WEB)
    assert (dns["outcome"], dns["rcode"], dns["addresses"], dns["method"]) == (
        "answer", "NOERROR", ["10.96.0.20"], "udp")
    assert dns["queries"][0]["answers"] == [{"name": WEB, "type": "A", "ttl": 30, "data": "10.96.0.20"}]
    assert dns["queries"][0]["latencyMs"] is not None and dns["server"] == topo.T1 and dns["port"] == 53


def test_search_path_walk_moves_on_after_nxdomain_and_nodata(probe: Prober, dns_server: str) -> None:
    dns = ask(probe, dns_server, "web.other.svc.cluster.local.", "empty.test.", WEB, "never.asked.")
    assert [q["outcome"] for q in dns["queries"]] == ["nxdomain", "nodata", "answer"]
    assert dns["name"] == WEB and dns["addresses"] == ["10.96.0.20"]


def test_truncated_udp_answer_is_asked_again_over_tcp(probe: Prober, dns_server: str) -> None:
    dns = ask(probe, dns_server, "big.test.")
    query = dns["queries"][0]
    assert (query["truncated"], query["transport"], dns["method"]) == (True, "tcp", "udp+tcp")
    assert len(dns["addresses"]) == 40 and dns["addresses"][0] == "10.77.0.1"


def test_cname(probe: Prober, dns_server: str) -> None:
    dns = ask(probe, dns_server, "alias.test.")
    assert dns["cnames"] == [WEB] and dns["addresses"] == ["10.96.0.20"]


def test_nxdomain(probe: Prober, dns_server: str) -> None:
    dns = ask(probe, dns_server, "nope.default.svc.cluster.local.")
    assert (dns["outcome"], dns["rcode"], dns["addresses"]) == ("nxdomain", "NXDOMAIN", [])


def test_servfail_ends_the_walk(probe: Prober, dns_server: str) -> None:
    dns = ask(probe, dns_server, "servfail.test.", WEB)
    assert (len(dns["queries"]), dns["outcome"], dns["rcode"]) == (1, "servfail", "SERVFAIL")


def test_timeout(probe: Prober, dns_server: str) -> None:
    dns = ask(probe, dns_server, "silent.test.", WEB, timeout=0.5)
    assert (len(dns["queries"]), dns["outcome"], dns["rcode"]) == (1, "timeout", None)
    assert dns["queries"][0]["latencyMs"] is None and dns["latencyMs"] >= 500


def test_nameserver_unreachable(probe: Prober, dns_server: str) -> None:
    """t0 runs no DNS server: its port unreachable comes back as ECONNREFUSED."""
    dns = ask(probe, topo.T0, WEB)
    assert dns["outcome"] == "unreachable" and dns["rcode"] is None
    assert "refused" in dns["queries"][0]["error"]
    assert dns["queries"][0]["icmpError"]["name"] == "portUnreachable"
    assert dns["queries"][0]["icmpError"]["from"] == topo.T0


def test_nameserver_without_a_route(probe: Prober, dns_server: str) -> None:
    """r1 has no route to 10.99.9.0/24 and answers net unreachable."""
    dns = ask(probe, "10.99.9.9", WEB)
    assert dns["outcome"] == "unreachable" and dns["queries"][0]["latencyMs"] is not None
    expected = {"from": topo.R1_LAN, "type": 3, "code": 0, "name": "netUnreachable"}
    assert dns["queries"][0]["icmpError"] == expected


@pytest.mark.usefixtures("services")
def test_targets_probe_checks_every_target_in_one_run(probe: Prober) -> None:
    targets = [{"target": topo.T1, "port": 8080}, {"target": topo.T1, "port": 8081},
               {"target": topo.T1, "port": 8082}, {"target": topo.T1, "port": 9, "protocol": "udp"},
               {"target": topo.T0, "port": 8080}]
    result = probe("client", target=topo.T1, probes=["targets"], timeout=0.6, targets=targets)
    entries = result["probes"]["targets"]["results"]
    assert [(e["target"], e["port"], e["protocol"]) for e in entries] == [
        (t["target"], t["port"], t.get("protocol", "tcp")) for t in targets]
    assert [e["result"]["state"] for e in entries] == ["open", "closed", "filtered", "closed", "closed"]
    assert result["durationSeconds"] < 0.6 * 2  # in parallel: about one timeout, not five


def test_waypoints_probe_pings_every_address_of_the_path_at_once(probe: Prober) -> None:
    """The addresses a path passes through: routers answer on their own addresses, an absent one
    does not; each is an icmp result with its reply TTL (a router's own address: one hop less)."""
    waypoints = [topo.R1_LAN, topo.R2_CORE, topo.ABSENT]
    result = probe("client", target=topo.T2, probes=["waypoints"], timeout=0.6, waypoints=waypoints)
    entries = result["probes"]["waypoints"]["results"]
    assert [e["address"] for e in entries] == waypoints
    assert [e["result"]["received"] for e in entries] == [2, 2, 0]
    assert [e["result"]["replyTtl"] for e in entries] == [64, 63, None]
    assert result["durationSeconds"] < 0.6 * 2  # in parallel: about one timeout, not three
