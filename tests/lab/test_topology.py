"""The lab network with real namespaces: what each datapath does to packets (no API involved)."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator

import pytest

from kdiag_lab import netns
from kdiag_lab.topology import (
    BRIDGE_HOSTGW,
    BRIDGE_VXLAN,
    DATAPATHS,
    PTP,
    VXLAN_PORT,
    LabNetwork,
    PodNet,
    default_nodes,
)
from tests.lab.topology_helpers import new_lab_id, root_snapshot, started, tcp_ok, udp_ttl, wire
from tests.prereq import require_root_netns

pytestmark = pytest.mark.netns

A, B, C, D = "default/a", "default/b", "default/c", "default/d"


@pytest.fixture(params=DATAPATHS)
def net(request: pytest.FixtureRequest) -> Iterator[LabNetwork]:
    """Three workers; pods a, b on worker24, c on worker25, d on worker26."""
    require_root_netns()
    lab = LabNetwork(new_lab_id(), request.param, nodes=3)
    try:
        lab.up()
        lab.add_pod("worker24", A, "10.244.1.6")
        lab.add_pod("worker24", B, "10.244.1.7")
        lab.add_pod("worker25", C, "10.244.2.3")
        lab.add_pod("worker26", D, "10.244.3.3")
        yield lab
    finally:
        lab.down()


def pod(lab: LabNetwork, key: str) -> PodNet:
    return lab.pods[key]


def test_default_nodes_follow_the_seed_cluster() -> None:
    nodes = default_nodes(3)
    assert [(n.name, n.underlay_ip, n.pod_cidr) for n in nodes] == [
        ("worker24", "10.250.0.24", "10.244.1.0/24"),
        ("worker25", "10.250.0.25", "10.244.2.0/24"),
        ("worker26", "10.250.0.26", "10.244.3.0/24"),
    ]
    assert nodes[0].bridge_gateway == "10.244.1.1"


def test_same_node_ttl(net: LabNetwork) -> None:
    a, b = pod(net, A), pod(net, B)
    expected = 63 if net.datapath == PTP else 64  # ptp routes through the node; a bridge is pure L2
    assert udp_ttl(net, a.netns, b.netns, b.ip) == expected


def test_cross_node_ttl(net: LabNetwork) -> None:
    a, c, d = pod(net, A), pod(net, C), pod(net, D)
    assert udp_ttl(net, a.netns, c.netns, c.ip) == 62
    assert udp_ttl(net, c.netns, d.netns, d.ip) == 62  # the third worker (`--nodes 3`) is wired too


def test_tcp_listeners_answer_across_and_within_nodes(net: LabNetwork) -> None:
    c, b = pod(net, C), pod(net, B)
    with started(net, c.netns, "serve", "--tcp", "80", "--tcp", "443", "--name", "c"):
        code, out = wire(net, pod(net, A).netns, "connect", "--to", c.ip, "--port", "443")
        assert code == 0 and out[0]["answer"] == "c port 443"
        assert tcp_ok(net, b.netns, c.ip, 80)
        assert not tcp_ok(net, b.netns, c.ip, 8080)  # nothing listens there: refused, not answered


def test_pod_network_shape(net: LabNetwork) -> None:
    a = pod(net, A)
    node_ns = net.node_ns("worker24")
    routes = net.run(a.netns, ["ip", "route"]).stdout
    mtu = net.run(a.netns, ["cat", "/sys/class/net/eth0/mtu"]).stdout.strip()
    assert mtu == ("1450" if net.datapath == BRIDGE_VXLAN else "1500")
    host = net.run(node_ns, ["ip", "-o", "link", "show", a.host_veth]).stdout
    if net.datapath == PTP:
        assert "default via 169.254.1.1 dev eth0" in routes
        assert a.host_veth.startswith("cali") and "ee:ee:ee:ee:ee:ee" in host
        assert f"{a.ip} dev {a.host_veth} scope link" in net.run(node_ns, ["ip", "route"]).stdout
    else:
        assert "default via 10.244.1.1 dev eth0" in routes
        assert a.host_veth.startswith("veth") and "master cni0" in host
    assert len(a.host_veth) <= netns.IFNAMSIZ
    node_routes = net.run(node_ns, ["ip", "route"]).stdout
    if net.datapath == BRIDGE_VXLAN:
        assert "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink" in node_routes
        vx = net.run(node_ns, ["ip", "-d", "link", "show", "flannel.1"]).stdout
        assert "vxlan id 1 " in vx and f"dstport {VXLAN_PORT}" in vx and net.vtep_mac("worker24") in vx
    else:
        assert "10.244.2.0/24 via 10.250.0.25 dev eth0" in node_routes


def test_vxlan_underlay_carries_pod_traffic_in_udp_8472() -> None:
    require_root_netns()
    lab = LabNetwork(new_lab_id(), BRIDGE_VXLAN)
    try:
        lab.up()
        a = lab.add_pod("worker24", A, "10.244.1.6")
        c = lab.add_pod("worker25", C, "10.244.2.3")
        args = ("capture", "--iface", "sw-worker24", "--udp-port", str(VXLAN_PORT), "--timeout", "5")
        with started(lab, lab.switch_ns, *args) as capture:
            assert udp_ttl(lab, a.netns, c.netns, c.ip) == 62
            out, _ = capture.communicate(timeout=10)
        seen = json.loads(out.splitlines()[0])
        assert (seen["src"], seen["dst"], seen["dport"], seen["vni"]) == (
            "10.250.0.24",
            "10.250.0.25",
            8472,
            1,
        )
        assert (seen["inner"]["src"], seen["inner"]["dst"], seen["inner"]["ttl"]) == (a.ip, c.ip, 63)
    finally:
        lab.down()


def test_hostgw_underlay_carries_pod_ips_unencapsulated() -> None:
    require_root_netns()
    lab = LabNetwork(new_lab_id(), BRIDGE_HOSTGW)
    try:
        lab.up()
        a = lab.add_pod("worker24", A, "10.244.1.6")
        c = lab.add_pod("worker25", C, "10.244.2.3")
        with started(
            lab, lab.switch_ns, "capture", "--iface", "sw-worker24", "--udp-port", "9999"
        ) as capture:
            assert udp_ttl(lab, a.netns, c.netns, c.ip, port=9999) == 62
            out, _ = capture.communicate(timeout=10)
        assert '"src": "10.244.1.6"' in out and '"ttl": 63' in out and '"vni"' not in out
    finally:
        lab.down()


def test_pod_creation_is_fast_and_recreate_reuses_names() -> None:
    require_root_netns()
    lab = LabNetwork(new_lab_id(), PTP)
    try:
        lab.up()
        timings = []
        for i in range(10):
            t0 = time.perf_counter()
            lab.add_pod("worker24", f"default/p{i}", f"10.244.1.{10 + i}")
            timings.append(time.perf_counter() - t0)
        assert statistics.median(timings) < 0.1, timings
        # Same key again right away (a pod deleted and re-created): the old veth is gone first.
        lab.remove_pod("default/p0")
        again = lab.add_pod("worker25", "default/p0", "10.244.2.10")
        assert netns.exists(again.netns) and lab.pods["default/p0"].node == "worker25"
        assert udp_ttl(lab, lab.pods["default/p1"].netns, again.netns, again.ip) == 62
        with pytest.raises(ValueError, match="podCIDR"):
            lab.add_pod("worker24", "default/bad", "10.244.2.99")
        assert not netns.exists(lab.pod_ns("default/bad"))
    finally:
        lab.down()


def test_down_from_another_process_view_removes_everything() -> None:
    """down() works from the lab id alone: namespaces, devices and processes, even after a crash."""
    require_root_netns()
    before = root_snapshot()
    lab_id = new_lab_id()
    lab = LabNetwork(lab_id, BRIDGE_VXLAN, nodes=2)
    lab.up()
    c = lab.add_pod("worker25", C, "10.244.2.3")
    with started(lab, c.netns, "serve", "--tcp", "8080") as server:
        during = root_snapshot()
        assert during == before, "the lab must not add links, addresses or routes to the root namespace"
        # switch, control plane, two nodes, one pod
        assert len(netns.names(f"kdl-{lab_id}-")) == 5
        LabNetwork(lab_id).down()  # a fresh object, as after a crash: nothing but the id is known
        assert server.wait(timeout=5) is not None
    assert netns.names(f"kdl-{lab_id}-") == []
    LabNetwork(lab_id).down()  # idempotent
    assert root_snapshot() == before


def test_lab_ids_are_isolated() -> None:
    require_root_netns()
    one, two = LabNetwork(new_lab_id(), PTP, nodes=1), LabNetwork(new_lab_id(), PTP, nodes=1)
    try:
        one.up()
        two.up()  # same node names and addresses, separate namespaces
        one.down()
        assert two.exists() and not one.exists()
    finally:
        one.down()
        two.down()
    with pytest.raises(ValueError):
        LabNetwork("bad-id")
