"""Two "nodes" joined by an underlay link and a flannel-style VXLAN device, each with a bridge and
pods, in network namespaces built with iproute2, for the observer's tests.

```
 pa 10.98.1.10 ─ vethpa ┐                                              ┌ vethpb ─ pb 10.98.2.10
 pc 10.98.1.11 ─ vethpc ┴ cni0 10.98.1.1  n1                n2  cni0 10.98.2.1 ┘
                          flannel.1 10.98.1.0 ══ VXLAN 8472 ══ flannel.1 10.98.2.0
                          eth0 10.97.0.1 ─────── underlay ──── eth0 10.97.0.2
```

n1 routes 10.98.2.0/24 via 10.98.2.0 onlink on flannel.1, with a permanent neighbour entry and
an FDB entry pointing that MAC at n2's underlay address, exactly as flannel programs a node (and
n2 the mirror image). Every link is created inside its namespaces; nothing touches the root one.
"""

from __future__ import annotations

import secrets
import subprocess
import sys

from tests.agent.topology import run

PA, PC, PB = "10.98.1.10", "10.98.1.11", "10.98.2.10"
UNDERLAY = {"n1": "10.97.0.1", "n2": "10.97.0.2"}
GATEWAY = {"n1": "10.98.1.1", "n2": "10.98.2.1"}
VTEP = {"n1": "10.98.1.0", "n2": "10.98.2.0"}
VTEP_MAC = {"n1": "02:00:00:00:01:01", "n2": "02:00:00:00:02:01"}
PODS = {"pa": ("n1", PA), "pc": ("n1", PC), "pb": ("n2", PB)}
ROLES = ("n1", "n2", "pa", "pc", "pb")
VXLAN_PORT = 8472
LISTENER = """
import socket, sys
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("0.0.0.0", int(sys.argv[1])))
tcp.listen(16)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
import selectors
selector = selectors.DefaultSelector()
selector.register(tcp, selectors.EVENT_READ)
selector.register(udp, selectors.EVENT_READ)
while True:
    for key, _ in selector.select():
        if key.fileobj is tcp:
            tcp.accept()[0].close()
        else:
            data, peer = udp.recvfrom(2048)
            udp.sendto(data, peer)
"""


class Nodes:
    def __init__(self) -> None:
        self.prefix = f"kdt-obs-{secrets.token_hex(3)}"
        self.created: list[str] = []

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def batch(self, role: str, *lines: str) -> None:
        run(["ip", "-n", self.ns(role), "-batch", "-"], stdin="".join(f"{line}\n" for line in lines))

    def exec(self, role: str, *argv: str) -> str:
        return run(["ip", "netns", "exec", self.ns(role), *argv])

    def sysctl(self, role: str, *settings: str) -> None:
        self.exec(role, "sysctl", "-q", "-w", *settings)

    def build(self) -> Nodes:
        for role in ROLES:
            run(["ip", "netns", "add", self.ns(role)])
            self.created.append(role)
            self.batch(role, "link set lo up")
        self.batch("n1", f"link add eth0 type veth peer name eth0 netns {self.ns('n2')}")
        for node, peer in (("n1", "n2"), ("n2", "n1")):
            self.batch(node, f"addr add {UNDERLAY[node]}/24 dev eth0", "link set eth0 up",
                       "link add cni0 type bridge", f"addr add {GATEWAY[node]}/24 dev cni0",
                       "link set cni0 up",
                       f"link add flannel.1 address {VTEP_MAC[node]} type vxlan id 1 local {UNDERLAY[node]}"
                       f" dev eth0 dstport {VXLAN_PORT} nolearning",
                       f"addr add {VTEP[node]}/32 dev flannel.1", "link set flannel.1 up",
                       f"route add {VTEP[peer][:-1]}0/24 via {VTEP[peer]} dev flannel.1 onlink",
                       f"neigh add {VTEP[peer]} lladdr {VTEP_MAC[peer]} dev flannel.1 nud permanent")
            self.exec(node, "bridge", "fdb", "append", VTEP_MAC[peer], "dev", "flannel.1",
                      "dst", UNDERLAY[peer], "self", "permanent")
            self.sysctl(node, "net.ipv4.ip_forward=1")
        for pod, (node, address) in PODS.items():
            self.batch(pod, f"link add eth0 type veth peer name veth{pod} netns {self.ns(node)}",
                       f"addr add {address}/24 dev eth0", "link set eth0 up",
                       f"route add default via {GATEWAY[node]}")
            self.batch(node, f"link set veth{pod} master cni0", f"link set veth{pod} up")
        return self

    def ping(self, role: str, target: str, count: int = 2) -> str:
        return self.exec(role, "ping", "-c", str(count), "-i", "0.2", "-W", "2", target)

    def ping_lost(self, role: str, target: str, count: int = 2) -> None:
        """Ping that must get no reply (ping exits 1): a fault on the path dropped it."""
        argv = ["ip", "netns", "exec", self.ns(role), "ping", "-c", str(count), "-i", "0.2", "-W", "1",
                target]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert proc.returncode == 1, proc.stdout + proc.stderr

    def serve(self, role: str, port: int) -> subprocess.Popen[str]:
        """TCP (accept, close) and UDP (echo) on `port` in `role`; returns once listening."""
        argv = ["ip", "netns", "exec", self.ns(role), sys.executable, "-c", LISTENER, str(port)]
        server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            server.kill()
            raise RuntimeError(f"server on {role}:{port} did not start (exit {server.wait()})")
        return server

    def destroy(self) -> None:
        for role in reversed(self.created):
            subprocess.run(["ip", "netns", "del", self.ns(role)], capture_output=True, check=False)
        self.created.clear()
