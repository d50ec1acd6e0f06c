"""The observer's captures on real namespaces and packets: each interface of the path, both
directions, the VXLAN form on the underlay decoded to the inner flow, everything else filtered."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from kdiag.observer.decode import DecodedPacket, FiveTuple, decode_packets
from tests.agent.test_runtime import PYTHON38
from tests.observer import topology as topo
from tests.observer import traffic
from tests.observer.conftest import N2_INTERFACES, SERVER_PORT, observe, spec_for
from tests.prereq import require

pytestmark = pytest.mark.netns
ICMP_FLOW = {"protocol": "icmp", "src": topo.PA, "dst": topo.PB}
TCP_FLOW = {"protocol": "tcp", "src": topo.PA, "dst": topo.PB, "dstPort": SERVER_PORT}
PING = 2


def seen(packets: tuple[DecodedPacket, ...]) -> Counter[tuple[str, str, str]]:
    """(interface, direction, request|reply|error) -> how many."""
    kinds = Counter()
    for packet in packets:
        kind = ("error" if packet.quoted else "request" if packet.flow.src == topo.PA else "reply")
        kinds[(packet.interface, packet.direction, kind)] += 1
    return kinds


def test_ping_request_and_reply_on_every_interface_of_the_source_node(nodes: topo.Nodes) -> None:
    result = observe(nodes, "n1", spec_for(ICMP_FLOW), lambda: nodes.ping("pa", topo.PB, PING))
    packets = decode_packets(result)
    # The request enters the node from the pod (veth, then the bridge's own stack), leaves through
    # the VXLAN device, encapsulated on the NIC; the reply takes the same interfaces backwards.
    assert seen(packets) == Counter({
        ("vethpa", "in", "request"): PING, ("cni0", "in", "request"): PING,
        ("flannel.1", "out", "request"): PING, ("eth0", "out", "request"): PING,
        ("eth0", "in", "reply"): PING, ("flannel.1", "in", "reply"): PING,
        ("cni0", "out", "reply"): PING, ("vethpa", "out", "reply"): PING,
    })
    assert all(entry["captured"] and entry["packets"] == 2 * PING for entry in result["interfaces"])
    for packet in packets:
        assert packet.flow.protocol == "icmp"
        assert packet.icmp_type == (8 if packet.flow.src == topo.PA else 0)
        on_nic = packet.interface == "eth0"
        assert (packet.encapsulation is not None) == on_nic
    by_place = {(p.interface, p.direction): p for p in packets}
    # TTL: 64 as the pod sent it, 63 once n1 forwarded it; the reply 63 after n2, 62 after n1.
    assert by_place[("vethpa", "in")].ttl == 64
    assert by_place[("flannel.1", "out")].ttl == 63
    assert by_place[("vethpa", "out")].ttl == 62
    tunnel = by_place[("eth0", "out")].encapsulation
    assert tunnel is not None
    assert (tunnel.kind, tunnel.vni) == ("vxlan", 1)
    assert tunnel.outer == FiveTuple(topo.UNDERLAY["n1"], topo.UNDERLAY["n2"], "udp", tunnel.outer.src_port,
                                     topo.VXLAN_PORT)
    assert by_place[("eth0", "out")].flow == FiveTuple(topo.PA, topo.PB, "icmp")
    assert by_place[("vethpa", "in")].dst_mac == result["interfaces"][1]["mac"]  # cni0's: routed
    timestamps = [packet.timestamp for packet in packets]
    assert timestamps == sorted(timestamps)


def test_tcp_flow_on_the_destination_node(nodes: topo.Nodes) -> None:
    spec = spec_for(TCP_FLOW, interfaces=N2_INTERFACES, peers=[topo.UNDERLAY["n1"]])
    result = observe(nodes, "n2", spec, lambda: traffic.tcp_connect(nodes, "pa", topo.PB, SERVER_PORT))
    packets = decode_packets(result)
    flags = {(p.interface, p.direction, p.tcp_flags) for p in packets}
    assert {("eth0", "in", "S"), ("flannel.1", "in", "S"), ("cni0", "out", "S"), ("vethpb", "out", "S"),
            ("vethpb", "in", "SA"), ("cni0", "in", "SA"), ("flannel.1", "out", "SA"),
            ("eth0", "out", "SA")} <= flags
    for packet in packets:
        ports = {packet.flow.src_port, packet.flow.dst_port}
        assert SERVER_PORT in ports
        assert (packet.encapsulation is not None) == (packet.interface == "eth0")


def test_other_traffic_is_filtered_out(nodes: topo.Nodes) -> None:
    def mixed() -> None:
        nodes.ping("pa", topo.PB, 1)  # same pair, other protocol
        assert traffic.tcp_connect(nodes, "pa", topo.PB, SERVER_PORT + 1) == "ConnectionRefusedError"
        assert traffic.udp_send(nodes, "pa", topo.PB, SERVER_PORT) == "kdiag"  # same port, UDP
        assert traffic.tcp_connect(nodes, "pc", topo.PB, SERVER_PORT) == "open"  # other source
        nodes.ping("pa", topo.PC, 1)  # same node, other peer
        assert traffic.tcp_connect(nodes, "pa", topo.PB, SERVER_PORT) == "open"  # the flow itself

    packets = decode_packets(observe(nodes, "n1", spec_for(TCP_FLOW), mixed))
    assert packets, "the flow itself was not captured"
    for packet in packets:
        assert {packet.flow.src, packet.flow.dst} == {topo.PA, topo.PB}
        assert packet.flow.protocol == "tcp"
        assert SERVER_PORT in (packet.flow.src_port, packet.flow.dst_port)
    assert {p.tcp_flags for p in packets} >= {"S", "SA"}


def test_icmp_error_about_a_udp_flow_is_captured(nodes: topo.Nodes) -> None:
    flow = {"protocol": "udp", "src": topo.PA, "dst": topo.PB, "dstPort": 9}
    result = observe(nodes, "n1", spec_for(flow),
                     lambda: traffic.udp_send(nodes, "pa", topo.PB, 9))  # nothing listens: unreachable
    packets = decode_packets(result)
    errors = [p for p in packets if p.quoted is not None]
    assert {(p.interface, p.direction) for p in errors} == {("eth0", "in"), ("flannel.1", "in"),
                                                            ("cni0", "out"), ("vethpa", "out")}
    for error in errors:
        assert (error.icmp_type, error.icmp_code) == (3, 3)
        assert error.quoted == FiveTuple(topo.PA, topo.PB, "udp", error.quoted.src_port, 9)
    assert {(p.interface, p.direction) for p in packets if p.quoted is None and p.flow.protocol == "udp"} == {
        ("vethpa", "in"), ("cni0", "in"), ("flannel.1", "out"), ("eth0", "out")}


def test_geneve_and_ipip_forms_pass_the_filter_and_decode(nodes: topo.Nodes) -> None:
    """This kernel may have no Geneve or IP-in-IP devices: the frames are written onto pc's veth,
    so n1 receives them on its bridge port, where the kernel runs the observer's filter on them."""
    spec = spec_for(ICMP_FLOW, interfaces=[{"name": "vethpc", "role": "other"}],
                    encapsulations=[{"type": "geneve"}, {"type": "ipip"}, {"type": "vxlan", "port": 8472}])
    frames = ("geneve", "geneve-ip", "ipip", "geneve-other-flow", "vxlan-unexpected-port")
    result = observe(nodes, "n1", spec, lambda: traffic.inject(
        nodes, "pc", *frames, here=topo.UNDERLAY["n1"], peer=topo.UNDERLAY["n2"], pa=topo.PA, pb=topo.PB))
    packets = decode_packets(result)
    assert [(p.encapsulation.kind, p.encapsulation.vni) for p in packets if p.encapsulation] == [
        ("geneve", 5), ("geneve", 6), ("ipip", None)]
    for packet in packets:
        assert packet.flow == FiveTuple(topo.PB, topo.PA, "icmp")
        assert (packet.ttl, packet.icmp_type, packet.direction) == (62, 0, "in")
        assert packet.encapsulation is not None
        assert packet.encapsulation.outer.src == topo.UNDERLAY["n2"]


def test_missing_interface_is_reported_and_the_others_capture(nodes: topo.Nodes) -> None:
    interfaces = [{"name": "nosuch0", "role": "tunnel"}, {"name": "vethpa", "role": "podVeth"}]
    result = observe(nodes, "n1", spec_for(ICMP_FLOW, interfaces=interfaces, maxPackets=3),
                     lambda: nodes.ping("pa", topo.PB, 3))
    missing, veth = result["interfaces"]
    assert (missing["captured"], missing["packets"]) == (False, 0)
    assert missing["reason"] == "no such interface on this node"
    assert (veth["captured"], veth["packets"], veth["capped"]) == (True, 3, True)
    assert len(result["packets"]) == 3


@pytest.mark.parametrize("python", ["current", "3.8"])
def test_shipped_source_captures_too(nodes: topo.Nodes, python: str) -> None:
    """As shipped: one source under `python3 -I -S -c`, on the oldest Python the nodes may have."""
    interpreter = sys.executable
    if python == "3.8":
        require(PYTHON38.exists(), f"needs a Python 3.8 interpreter at {PYTHON38}")
        interpreter = str(PYTHON38)
    result = observe(nodes, "n1", spec_for(ICMP_FLOW, interfaces=[{"name": "eth0", "role": "underlay"}]),
                     lambda: nodes.ping("pa", topo.PB, 1), as_source=True, python=interpreter,
                     flags=("-I", "-S"))
    assert [(p.direction, p.encapsulation is not None) for p in decode_packets(result)] == [
        ("out", True), ("in", True)]
