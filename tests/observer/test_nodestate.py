"""The observer's node-state snapshot and drop-counter growth, against faults made for real in
a namespace node: ip_forward off, rp_filter values, a missing route, nftables and iptables drops."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from kdiag.observer.decode import FiveTuple, decode_packets
from tests.observer import topology as topo
from tests.observer.conftest import observe, spec_for
from tests.prereq import require

pytestmark = pytest.mark.netns
FLOW = {"protocol": "icmp", "src": topo.PA, "dst": topo.PB}
ROUTES = {"request": {"iif": "cni0"}, "reply": {"iif": "flannel.1"}}
PING = 2


def routes_by(result: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(entry["direction"], entry["query"]["iif"]): entry for entry in result["nodeState"]["routes"]}


def places(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(packet["interface"], packet["direction"]) for packet in result["packets"]}


@pytest.fixture
def n1_sysctls(nodes: topo.Nodes) -> Iterator[topo.Nodes]:
    """Restores what the tests change on n1."""
    try:
        yield nodes
    finally:
        nodes.sysctl("n1", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                     "net.ipv4.conf.default.rp_filter=0", "net/ipv4/conf/flannel.1/rp_filter=0",
                     "net.ipv4.conf.vethpa.rp_filter=0")


def test_healthy_node_routes_neighbours_and_fdb(nodes: topo.Nodes) -> None:
    result = observe(nodes, "n1", spec_for(FLOW, routes=ROUTES), lambda: nodes.ping("pa", topo.PB, 1))
    state = result["nodeState"]
    found = routes_by(result)
    for key in (("request", None), ("request", "cni0")):
        route = found[key]["route"]
        assert (route["dev"], route["gateway"]) == ("flannel.1", topo.VTEP["n2"]), found[key]
    assert found[("reply", "flannel.1")]["route"]["dev"] == "cni0"
    assert found[("request", "cni0")]["command"] == f"ip -j route get {topo.PB} from {topo.PA} iif cni0"
    neighbours = {entry["dst"]: entry for entry in state["neighbours"]["entries"]}
    assert neighbours[topo.VTEP["n2"]]["lladdr"] == topo.VTEP_MAC["n2"]
    assert neighbours[topo.VTEP["n2"]]["state"] == ["PERMANENT"]
    assert neighbours[topo.PA]["dev"] == "cni0"  # the pod, resolved by the reply
    fdb = [(entry["mac"], entry["dst"]) for entry in state["fdb"]["entries"]]
    assert fdb == [(topo.VTEP_MAC["n2"], topo.UNDERLAY["n2"])]
    assert state["sysctls"]["ipForward"] == 1
    assert set(state["sysctls"]["rpFilter"]) == {"all", "default", "vethpa", "cni0", "flannel.1", "eth0"}


def test_ip_forward_off(n1_sysctls: topo.Nodes) -> None:
    nodes = n1_sysctls
    nodes.sysctl("n1", "net.ipv4.ip_forward=0")
    result = observe(nodes, "n1", spec_for(FLOW, routes=ROUTES), lambda: nodes.ping_lost("pa", topo.PB, PING))
    state = result["nodeState"]
    assert state["sysctls"]["ipForward"] == 0
    assert state["sysctls"]["forwarding"]["cni0"] == 0
    forwarded = routes_by(result)[("request", "cni0")]
    assert (forwarded["ok"], forwarded["error"]) == (False, "RTNETLINK answers: No route to host")
    assert routes_by(result)[("request", None)]["ok"]  # the node's own packets still route
    # The request reached the node and went no further: the drop point, in the captures.
    assert places(result) == {("vethpa", "in"), ("cni0", "in")}


def test_rp_filter_values(n1_sysctls: topo.Nodes) -> None:
    nodes = n1_sysctls
    nodes.sysctl("n1", "net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=2",
                 "net/ipv4/conf/flannel.1/rp_filter=2", "net.ipv4.conf.vethpa.rp_filter=1")  # slashes: a dot
    result = observe(nodes, "n1", spec_for(FLOW), lambda: nodes.ping("pa", topo.PB, 1))
    rp_filter = result["nodeState"]["sysctls"]["rpFilter"]
    assert rp_filter == {"all": 1, "default": 2, "flannel.1": 2, "vethpa": 1, "cni0": 0, "eth0": 0}


def test_missing_route_to_the_peer(nodes: topo.Nodes) -> None:
    nodes.batch("n1", "route del 10.98.2.0/24")
    try:
        result = observe(nodes, "n1", spec_for(FLOW, routes=ROUTES),
                         lambda: nodes.ping_lost("pa", topo.PB, 1))
    finally:
        nodes.batch("n1", f"route add 10.98.2.0/24 via {topo.VTEP['n2']} dev flannel.1 onlink")
    request = routes_by(result)[("request", "cni0")]
    assert (request["ok"], request["error"]) == (False, "RTNETLINK answers: Network is unreachable")
    # The request died on n1, which said so: a net unreachable, back through the bridge to the pod.
    packets = decode_packets(result)
    flow_places = {(p.interface, p.direction) for p in packets if p.quoted is None}
    assert flow_places == {("vethpa", "in"), ("cni0", "in")}
    errors = {(p.interface, p.direction, p.flow.src, p.icmp_type, p.icmp_code, p.quoted)
              for p in packets if p.quoted is not None}
    quoted = FiveTuple(topo.PA, topo.PB, "icmp")
    assert errors == {(place, "out", topo.GATEWAY["n1"], 3, 0, quoted) for place in ("cni0", "vethpa")}


NFT_DROP = f"""
table inet kdt_obs {{
    chain forward {{
        type filter hook forward priority 0; policy accept;
        ip daddr {topo.PB} icmp type echo-request counter drop
        ip daddr 10.98.2.99 drop
    }}
}}
"""


def test_nft_drop_rule_counter_grows(nodes: topo.Nodes) -> None:
    require(shutil.which("nft") is not None, "needs nftables (`nft`)")
    topo.run(["ip", "netns", "exec", nodes.ns("n1"), "nft", "-f", "-"], stdin=NFT_DROP)
    try:
        result = observe(nodes, "n1", spec_for(FLOW), lambda: nodes.ping_lost("pa", topo.PB, PING))
    finally:
        nodes.exec("n1", "nft", "delete", "table", "inet", "kdt_obs")
    nft = result["netfilter"]["nftables"]
    assert nft["available"] is True
    assert nft["uncountedDropRules"] == 1  # the rule with no counter cannot show a match
    [grown] = nft["grown"]
    where = (grown["family"], grown["table"], grown["chain"], grown["verdict"])
    assert where == ("inet", "kdt_obs", "forward", "drop")
    assert grown["packets"] == grown["packetsAfter"] == PING
    assert grown["rule"].startswith(f"ip daddr {topo.PB} icmp type echo-request counter packets {PING}")
    assert places(result) == {("vethpa", "in"), ("cni0", "in")}


@pytest.mark.parametrize(("variant", "fault", "expected"), [
    ("nft", ["-A", "FORWARD", "-d", topo.PB, "-p", "icmp", "-j", "DROP"],
     f"-A FORWARD -d {topo.PB}/32 -p icmp -j DROP"),
    ("legacy", ["-A", "FORWARD", "-d", topo.PB, "-p", "icmp", "-j", "REJECT"],
     f"-A FORWARD -d {topo.PB}/32 -p icmp -j REJECT --reject-with icmp-port-unreachable"),
    ("nft", ["-P", "FORWARD", "DROP"], ":FORWARD DROP"),
])
def test_iptables_drop_counter_grows(nodes: topo.Nodes, variant: str, fault: list[str],
                                     expected: str) -> None:
    tool = f"iptables-{variant}"
    require(shutil.which(tool) is not None, f"needs {tool} (scripts/setup installs iptables)")
    nodes.exec("n1", tool, *fault)
    try:
        result = observe(nodes, "n1", spec_for(FLOW), lambda: nodes.ping_lost("pa", topo.PB, PING))
    finally:
        nodes.exec("n1", tool, "-P", "FORWARD", "ACCEPT")
        nodes.exec("n1", tool, "-F", "FORWARD")
    sources = {entry["variant"]: entry for entry in result["netfilter"]["iptables"]}
    assert all(entry["available"] for entry in sources.values()), sources
    grown = sources[variant]["grown"]
    assert [(g["table"], g["chain"], g["rule"], g["policy"]) for g in grown] == [
        ("filter", "FORWARD", expected, expected.startswith(":"))]
    assert grown[0]["packets"] == PING
    other = {"nft": "legacy", "legacy": "nft"}[variant]
    assert sources[other]["grown"] == []
    # iptables-nft's tables live in nftables too: reported once, as iptables.
    assert result["netfilter"]["nftables"]["grown"] == []


CAPABILITY_SETS = {
    "NET_RAW+NET_ADMIN": "+net_raw,+net_admin",
    "NET_RAW": "+net_raw",
    "none": "",
}


@pytest.mark.parametrize("capabilities", list(CAPABILITY_SETS))
def test_what_each_capability_buys(nodes: topo.Nodes, capabilities: str) -> None:
    """uid 0 with only these capabilities in its bounding set: a container running as root with
    `drop: [ALL]` and `add:` these. NET_RAW opens the packet sockets; NET_ADMIN reads nftables,
    iptables-nft and iptables-legacy counters; routes, neighbours, FDB and sysctls need neither."""
    require(shutil.which("setpriv") is not None, "needs setpriv (util-linux)")
    require(shutil.which("iptables-legacy") is not None,
            "needs iptables-legacy (scripts/setup installs iptables)")
    keep = CAPABILITY_SETS[capabilities]
    limit = ["setpriv", f"--bounding-set=-all{',' + keep if keep else ''}", "--inh-caps=-all"]
    topo.run(["ip", "netns", "exec", nodes.ns("n1"), "nft", "-f", "-"], stdin=NFT_DROP)
    nodes.exec("n1", "iptables-legacy", "-A", "FORWARD", "-d", "10.98.2.99", "-j", "DROP")
    try:
        result = observe(nodes, "n1", spec_for(FLOW, interfaces=[{"name": "vethpa", "role": "podVeth"}]),
                         lambda: nodes.ping_lost("pa", topo.PB, 1), argv=limit)
    finally:
        nodes.exec("n1", "nft", "delete", "table", "inet", "kdt_obs")
        nodes.exec("n1", "iptables-legacy", "-F", "FORWARD")
    [veth] = result["interfaces"]
    netfilter = result["netfilter"]
    sources = {entry["variant"]: entry for entry in netfilter["iptables"]}
    has_raw, has_admin = "net_raw" in keep, "net_admin" in keep
    assert veth["captured"] is has_raw, veth
    assert (len(result["packets"]) == 1) is has_raw
    assert netfilter["nftables"]["available"] is has_admin
    assert sources["nft"]["available"] is has_admin
    assert sources["legacy"]["available"] is has_admin
    if has_admin:
        assert [grown["table"] for grown in netfilter["nftables"]["grown"]] == ["kdt_obs"]
        assert sources["legacy"]["dropRules"] == 1
    else:
        assert "Operation not permitted" in netfilter["nftables"]["reason"]
    if not has_raw:
        assert veth["reason"] == "[Errno 1] Operation not permitted"
    state = result["nodeState"]
    assert all(entry["ok"] for entry in state["routes"])
    assert state["neighbours"]["available"] and state["sysctls"]["ipForward"] == 1
