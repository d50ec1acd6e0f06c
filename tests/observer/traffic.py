"""Traffic for the observer's tests, sent from inside pod namespaces: TCP connects, UDP datagrams
and hand-made tunnel frames (scapy), each a subprocess in the pod's namespace."""

from __future__ import annotations

import sys

from tests.agent.topology import run
from tests.observer.topology import Nodes

TCP_CONNECT = """
import socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open")
except OSError as error:
    print(type(error).__name__)
"""
UDP_SEND = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.connect((sys.argv[1], int(sys.argv[2])))
s.send(b"kdiag")
try:
    print(s.recv(100).decode())
except OSError as error:
    print(type(error).__name__)
"""
# Frames a node would receive from its peer over a tunnel this kernel may not offer (Geneve,
# IP-in-IP), written onto a pod's veth so the node side receives them on its bridge port.
INJECT = """
import sys
from scapy.all import Ether, IP, UDP, ICMP, sendp, conf
from scapy.contrib.geneve import GENEVE
from scapy.layers.vxlan import VXLAN
conf.verb = 0
pa, pb, here, peer = sys.argv[1:5]
inner = IP(src=pb, dst=pa, ttl=62) / ICMP(type=0, id=7, seq=1)
other = IP(src=pb, dst="10.98.1.99", ttl=62) / ICMP(type=0, id=7, seq=1)
outer = Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src=peer, dst=here, ttl=64)
frames = {
    "geneve": outer / UDP(sport=40000, dport=6081) / GENEVE(vni=5, proto=0x6558) / Ether() / inner,
    "geneve-ip": outer / UDP(sport=40001, dport=6081) / GENEVE(vni=6, proto=0x0800) / inner,
    "ipip": outer / inner,
    "geneve-other-flow": outer / UDP(sport=40002, dport=6081) / GENEVE(vni=5, proto=0x6558) / Ether() / other,
    "vxlan-unexpected-port": outer / UDP(sport=40003, dport=4789) / VXLAN(vni=1) / Ether() / inner,
}
for name in sys.argv[5:]:
    sendp(frames[name], iface="eth0")
"""


def tcp_connect(nodes: Nodes, pod: str, address: str, port: int) -> str:
    return nodes.exec(pod, sys.executable, "-c", TCP_CONNECT, address, str(port)).strip()


def udp_send(nodes: Nodes, pod: str, address: str, port: int) -> str:
    return nodes.exec(pod, sys.executable, "-c", UDP_SEND, address, str(port)).strip()


def inject(nodes: Nodes, pod: str, *frames: str, here: str, peer: str, pa: str, pb: str) -> None:
    run(["ip", "netns", "exec", nodes.ns(pod), sys.executable, "-c", INJECT, pa, pb, here, peer, *frames])
