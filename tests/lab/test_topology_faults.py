"""Fault injection on the lab network: each fault breaks what it says, and undo repairs exactly that."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kdiag_lab import faults
from kdiag_lab.topology import BRIDGE_HOSTGW, BRIDGE_VXLAN, PTP, LabNetwork
from tests.lab.topology_helpers import new_lab_id, started, tcp_ok, udp_ttl, wire
from tests.prereq import require_root_netns

pytestmark = pytest.mark.netns

A, B, C, D = "default/a", "default/b", "default/c", "default/d"


def make(datapath: str) -> LabNetwork:
    require_root_netns()
    lab = LabNetwork(new_lab_id(), datapath, nodes=3)
    try:
        lab.up()
        lab.add_pod("worker24", A, "10.244.1.6")
        lab.add_pod("worker24", B, "10.244.1.7")
        lab.add_pod("worker25", C, "10.244.2.3")
        lab.add_pod("worker26", D, "10.244.3.3")
    except BaseException:
        lab.down()
        raise
    return lab


@pytest.fixture
def vxlan() -> Iterator[LabNetwork]:
    lab = make(BRIDGE_VXLAN)
    yield lab
    lab.down()


@pytest.fixture
def ptp() -> Iterator[LabNetwork]:
    lab = make(PTP)
    yield lab
    lab.down()


def reaches(lab: LabNetwork, src: str, dst: str) -> bool:
    s, d = lab.pods[src], lab.pods[dst]
    return udp_ttl(lab, s.netns, d.netns, d.ip) is not None


def test_remove_route_on_node_breaks_cross_node_only_until_undone(vxlan: LabNetwork) -> None:
    node = vxlan.node_ns("worker24")
    fault = faults.remove_route(node, "10.244.2.0/24")
    assert not reaches(vxlan, A, C)
    assert reaches(vxlan, A, D)  # other peers keep their routes
    fault.undo()
    fault.undo()  # idempotent
    assert "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink" in vxlan.run(node, ["ip", "route"]).stdout
    assert reaches(vxlan, A, C)
    with pytest.raises(ValueError):
        faults.remove_route(node, "10.99.0.0/16")


def test_blackhole_replaces_and_restores_a_route() -> None:
    lab = make(BRIDGE_HOSTGW)
    try:
        node = lab.node_ns("worker25")
        with faults.blackhole(node, "10.244.1.0/24"):
            assert not reaches(lab, C, A)  # worker25 can no longer send to worker24's pods...
            assert reaches(lab, A, C)  # ...but still receives from them: one-way breakage
            assert reaches(lab, C, D)
        assert "10.244.1.0/24 via 10.250.0.24 dev eth0" in lab.run(node, ["ip", "route"]).stdout
        assert reaches(lab, C, A)
    finally:
        lab.down()


def test_lower_mtu_drops_large_packets_only(vxlan: LabNetwork) -> None:
    a, c = vxlan.pods[A], vxlan.pods[C]
    big = ("--size", "1400", "--df")
    assert udp_ttl(vxlan, a.netns, c.netns, c.ip, *big) == 62
    with faults.set_mtu(vxlan.node_ns("worker24"), "flannel.1", 1000) as fault:
        assert "1450 -> 1000" in fault.description
        assert udp_ttl(vxlan, a.netns, c.netns, c.ip, *big) is None
        assert udp_ttl(vxlan, a.netns, c.netns, c.ip) == 62
    assert udp_ttl(vxlan, a.netns, c.netns, c.ip, *big) == 62


def test_vxlan_device_down_and_back_restores_fdb_neighbours_and_routes(vxlan: LabNetwork) -> None:
    with faults.link_down(vxlan.node_ns("worker24"), "flannel.1"):
        assert not reaches(vxlan, A, C)
        assert reaches(vxlan, A, B)
    assert reaches(vxlan, A, C)
    assert reaches(vxlan, A, D)


def test_host_veth_down_on_ptp_cuts_one_pod_and_undo_restores_its_route(ptp: LabNetwork) -> None:
    c = ptp.pods[C]
    node = ptp.node_ns("worker25")
    with faults.link_down(node, c.host_veth):
        assert not reaches(ptp, A, C)
        assert reaches(ptp, A, D)
    assert f"{c.ip} dev {c.host_veth} scope link" in ptp.run(node, ["ip", "route"]).stdout
    assert reaches(ptp, A, C)


def test_pod_default_route_removed(ptp: LabNetwork) -> None:
    with faults.remove_route(ptp.pods[A].netns, "default"):
        assert not reaches(ptp, A, B)
    assert reaches(ptp, A, B)


def test_drop_tcp_port_in_a_pod(vxlan: LabNetwork) -> None:
    c = vxlan.pods[C]
    with started(vxlan, c.netns, "serve", "--tcp", "80", "--tcp", "443"):
        with faults.drop(c.netns, "tcp", 80):
            assert not tcp_ok(vxlan, vxlan.pods[A].netns, c.ip, 80, timeout=0.5)
            assert tcp_ok(vxlan, vxlan.pods[A].netns, c.ip, 443)
        assert tcp_ok(vxlan, vxlan.pods[A].netns, c.ip, 80)


def test_drop_udp_and_icmp_in_a_node(ptp: LabNetwork) -> None:
    a, b = ptp.pods[A], ptp.pods[B]
    node = ptp.node_ns("worker24")
    with faults.drop(node, "udp", 9999):  # the node forwards same-node ptp traffic: forward hook
        assert not reaches(ptp, A, B)
    assert reaches(ptp, A, B)
    code, out = wire(ptp, a.netns, "ping", "--to", b.ip)
    assert code == 0 and out[0]["ttl"] == 63
    with faults.drop(node, "icmp"):
        assert wire(ptp, a.netns, "ping", "--to", b.ip, "--timeout", "0.5")[0] == 1
    assert wire(ptp, a.netns, "ping", "--to", b.ip)[0] == 0
    with pytest.raises(ValueError):
        faults.drop(node, "icmp", 1)


def test_drop_overlay_between_two_nodes(vxlan: LabNetwork) -> None:
    with faults.drop_overlay(vxlan, between=("worker24", "worker25")):
        assert not reaches(vxlan, A, C)
        assert reaches(vxlan, A, D)
        assert reaches(vxlan, A, B)
    with faults.drop_overlay(vxlan):
        assert not reaches(vxlan, A, D)
    assert reaches(vxlan, A, C) and reaches(vxlan, A, D)


def test_drop_overlay_needs_an_overlay(ptp: LabNetwork) -> None:
    with pytest.raises(ValueError, match="no overlay"):
        faults.drop_overlay(ptp)
