"""`kdiag trace` end to end on each lab datapath: healthy pairs, and each injected fault giving its
finding. bridge-vxlan runs on the session lab; bridge-hostgw and ptp each get a private lab, brought up
once (module scope; pytest groups the tests by datapath) and taken down before the next."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kdiag_lab import binaries, faults, lifecycle
from kdiag_lab.kubelet_config import DataplaneConfig
from kdiag_lab.paths import LabPaths
from kdiag_lab.topology import LabNetwork, host_veth_name
from tests.conftest import Lab
from tests.e2e.trace_helpers import HELLO_1, HELLO_2, WORDPRESS, codes, finding, probe_pods, trace

pytestmark = pytest.mark.lab

ALL = ["bridge-vxlan", "bridge-hostgw", "ptp"]
BRIDGES = ["bridge-vxlan", "bridge-hostgw"]
SRC_NODE, DST_NODE = "worker24", "worker25"


@dataclass
class DatapathLab:
    lab: Lab
    datapath: str
    net: LabNetwork

    def pod_ns(self, name: str) -> str:
        return self.net.pod_ns(f"default/{name}")


@pytest.fixture(scope="module")
def dlab(request: pytest.FixtureRequest, lab: Lab) -> Iterator[DatapathLab]:
    datapath: str = request.param
    state = lifecycle.LabState.load(lab.paths)
    if state is not None and state.datapath == datapath:
        yield DatapathLab(lab, datapath, DataplaneConfig.load(lab.paths).network())
        return
    root = Path(tempfile.mkdtemp(prefix=f"kdiag-test-trace-{datapath}-"))
    paths = LabPaths(root / "lab")
    try:
        state = lifecycle.up(paths, datapath=datapath, workers=2, emit=lambda _m: None)
        private = Lab(paths, state.server, binaries.resolve(build=False).kubectl)
        yield DatapathLab(private, datapath, DataplaneConfig.load(paths).network())
        assert probe_pods(private) == []
    finally:
        lifecycle.down(paths, emit=lambda _m: None)
        shutil.rmtree(root, ignore_errors=True)


def _problem(result: Any, doc: dict[str, Any]) -> None:
    assert result.exit_code == 1, result.stderr
    assert doc["verdict"]["status"] == "problem" and not doc["verdict"]["matchesExpected"]


@pytest.mark.parametrize("dlab", ALL, indirect=True)
def test_healthy_same_node_pair(dlab: DatapathLab) -> None:
    result, doc = trace(dlab.lab, HELLO_1, HELLO_2)
    assert result.exit_code == 0, result.stderr
    assert doc["verdict"]["status"] == "ok" and doc["verdict"]["matchesExpected"]
    assert codes(doc)[0] == "PATH_AS_EXPECTED"
    assert doc["relation"] == "same-node"
    assert doc["probe"]["engine"] == "raw" and doc["probe"]["port"] == 8080
    assert doc["observed"]["probes"]["tcp"]["state"] == "open"
    expected = doc["expected"]
    if dlab.datapath in BRIDGES:  # L2 over cni0: the peer's own MAC answers, TTL untouched
        assert (expected["kind"], expected["ttlDecrement"], expected["l2Adjacent"]) == ("l2", 0, True)
        assert doc["observed"]["probes"]["icmp"]["replyTtl"] == 64
        assert "L2_ADJACENT" in codes(doc)
        assert finding(doc, "L2_ADJACENT")["message"].endswith("0a:58:0a:f4:01:07")
    else:  # ptp: one routed hop through the node
        assert (expected["kind"], expected["ttlDecrement"], expected["l2Adjacent"]) == ("routed", 1, False)
        assert doc["observed"]["probes"]["icmp"]["replyTtl"] == 63
        assert "ROUTED_HOPS" in codes(doc)
    assert probe_pods(dlab.lab) == []


@pytest.mark.parametrize("dlab", ALL, indirect=True)
def test_healthy_cross_node_pair(dlab: DatapathLab) -> None:
    result, doc = trace(dlab.lab, HELLO_1, WORDPRESS)
    assert result.exit_code == 0, result.stderr
    assert doc["verdict"]["status"] == "ok" and codes(doc)[0] == "PATH_AS_EXPECTED"
    assert doc["relation"] == "cross-node"
    assert (doc["expected"]["kind"], doc["expected"]["ttlDecrement"]) == ("routed", 2)
    assert doc["expected"]["encapsulated"] is (dlab.datapath == "bridge-vxlan")
    assert doc["observed"]["probes"]["icmp"]["replyTtl"] == 62
    assert "ROUTED_HOPS" in codes(doc)
    assert doc["datapath"]["cni"] == ("calico" if dlab.datapath == "ptp" else "flannel")
    assert doc["destination"]["node"] == DST_NODE and doc["source"]["node"] == SRC_NODE


@pytest.mark.parametrize("dlab", ALL, indirect=True)
def test_tcp_port_dropped_in_destination_is_filtered(dlab: DatapathLab) -> None:
    with faults.drop(dlab.pod_ns(WORDPRESS), "tcp", 80):
        result, doc = trace(dlab.lab, HELLO_1, WORDPRESS)
    _problem(result, doc)
    assert codes(doc)[0] == "TCP_FILTERED"
    assert finding(doc, "TCP_FILTERED")["node"] == DST_NODE


@pytest.mark.parametrize("dlab", ALL, indirect=True)
def test_nothing_listening_is_tcp_closed(dlab: DatapathLab) -> None:
    result, doc = trace(dlab.lab, HELLO_1, WORDPRESS, "--port", "9999")
    _problem(result, doc)
    assert codes(doc)[0] == "TCP_CLOSED"
    assert "9999" in finding(doc, "TCP_CLOSED")["message"]


@pytest.mark.parametrize("dlab", ALL, indirect=True)
def test_route_to_peer_podcidr_removed_stops_at_the_source_node(dlab: DatapathLab) -> None:
    with faults.remove_route(dlab.net.node_ns(SRC_NODE), "10.244.2.0/24"):
        result, doc = trace(dlab.lab, HELLO_1, WORDPRESS)
    _problem(result, doc)
    assert finding(doc, "STOPS_AT_HOP")["node"] == SRC_NODE
    assert "PATH_AS_EXPECTED" not in codes(doc)


@pytest.mark.parametrize("dlab", ALL, indirect=True)
def test_mtu_lowered_on_the_path_is_a_blackhole(dlab: DatapathLab) -> None:
    # The underlay switch port towards worker25 drops frames above 1400 bytes without a word.
    with faults.set_mtu(dlab.net.switch_ns, "sw-worker25", 1400):
        result, doc = trace(dlab.lab, HELLO_1, WORDPRESS)
    _problem(result, doc)
    blackhole = finding(doc, "MTU_BLACKHOLE")
    assert blackhole["severity"] == "error" and codes(doc)[0] == "MTU_BLACKHOLE"
    assert doc["observed"]["probes"]["pmtu"]["pathMtu"] < doc["expected"]["expectedMTU"]


@pytest.mark.parametrize("dlab", BRIDGES, indirect=True)
def test_destination_veth_down_leaves_arp_unanswered(dlab: DatapathLab) -> None:
    veth = host_veth_name(dlab.datapath, f"default/{HELLO_2}")
    with faults.link_down(dlab.net.node_ns(SRC_NODE), veth):
        result, doc = trace(dlab.lab, HELLO_1, HELLO_2)
    _problem(result, doc)
    assert finding(doc, "ARP_UNANSWERED")["node"] == SRC_NODE
    assert doc["observed"]["probes"]["arp"]["answered"] is False


@pytest.mark.parametrize("dlab", ["bridge-vxlan"], indirect=True)
def test_overlay_udp_dropped_between_nodes_is_overlay_suspect(dlab: DatapathLab) -> None:
    with faults.drop_overlay(dlab.net, between=(SRC_NODE, DST_NODE)):
        result, doc = trace(dlab.lab, HELLO_1, WORDPRESS)
    _problem(result, doc)
    suspect = finding(doc, "OVERLAY_SUSPECT")
    assert suspect["node"] == SRC_NODE
    assert all(s in suspect["message"] for s in ("flannel.1", "UDP 8472", "10.250.0.24", "10.250.0.25"))
    # The same pair is healthy again once the fault is undone.
    result, doc = trace(dlab.lab, HELLO_1, WORDPRESS)
    assert result.exit_code == 0 and doc["verdict"]["status"] == "ok"
