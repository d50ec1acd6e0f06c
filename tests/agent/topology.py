"""A small routed topology in network namespaces, built with iproute2, for the agent's tests and benchmark.

```
 client 10.99.1.10 ─┐                         ┌─ 10.99.2.1  r1 ── t1 10.99.2.20   (one router)
 noping 10.99.1.11 ─┤ bridge br0 (ns "sw")    │
 t0     10.99.1.20 ─┤ (same L2 segment)       │  10.99.3.1 ══ MTU 1400 ══ 10.99.3.2  r2
 r1     10.99.1.1  ─┘ ────────────────────────┘                            10.99.4.1 ── t2 10.99.4.20
```

Every link is created inside its namespaces (`ip -n NS link add ... peer ... netns OTHER`), so no
name, address or route ever appears in the root namespace, and interface names cannot collide
with other test runs. Namespaces are named ``<prefix>-<role>`` with a random prefix.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterable

CLIENT, NOPING, T0, T1, T2 = "10.99.1.10", "10.99.1.11", "10.99.1.20", "10.99.2.20", "10.99.4.20"
R1_LAN, R1_T1, R1_CORE, R2_CORE, R2_T2 = "10.99.1.1", "10.99.2.1", "10.99.3.1", "10.99.3.2", "10.99.4.1"
ABSENT = "10.99.1.99"  # on the client's segment, but nobody answers ARP for it
ROLES = ("sw", "client", "noping", "t0", "r1", "t1", "r2", "t2")
CORE_MTU = 1400
SYSTEM_PYTHON = "/usr/bin/python3"  # executable by an unprivileged uid, unlike a pyenv under /root
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",  # uid/gid 65534, no capabilities
          "--inh-caps=-all", "--bounding-set=-all"]
LISTENER = """
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen(128)
print("ready", flush=True)
while True:
    server.accept()[0].close()
"""


def run(argv: list[str], stdin: str | None = None) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


class Topology:
    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or f"kdt-agent-{secrets.token_hex(3)}"
        self.created: list[str] = []

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def batch(self, role: str, lines: Iterable[str]) -> None:
        run(["ip", "-n", self.ns(role), "-batch", "-"], stdin="".join(f"{line}\n" for line in lines))

    def sysctl(self, role: str, *settings: str) -> None:
        run(["ip", "netns", "exec", self.ns(role), "sysctl", "-q", "-w", *settings])

    def veth(self, role_a: str, name_a: str, role_b: str, name_b: str) -> None:
        self.batch(role_a, [f"link add {name_a} type veth peer name {name_b} netns {self.ns(role_b)}"])

    def build(self, rate_limited: Iterable[str] = ()) -> Topology:
        """Create everything. Roles in `rate_limited` keep the kernel's default ICMP rate limit."""
        for role in ROLES:
            run(["ip", "netns", "add", self.ns(role)])
            self.created.append(role)
            self.batch(role, ["link set lo up"])
        self.batch("sw", ["link add br0 type bridge", "link set br0 up"])
        for role in ("client", "noping", "t0", "r1"):
            self.veth(role, "eth0", "sw", role)
            self.batch("sw", [f"link set {role} master br0", f"link set {role} up"])
        self.veth("r1", "eth1", "t1", "eth0")
        self.veth("r1", "core", "r2", "core")
        self.veth("r2", "eth1", "t2", "eth0")
        for role, address, gateway in (("client", CLIENT, R1_LAN), ("noping", NOPING, R1_LAN),
                                       ("t0", T0, R1_LAN), ("t1", T1, R1_T1), ("t2", T2, R2_T2)):
            self.batch(role, [f"addr add {address}/24 dev eth0", "link set eth0 up",
                              f"route add default via {gateway}"])
        self.batch("r1", [f"addr add {R1_LAN}/24 dev eth0", f"addr add {R1_T1}/24 dev eth1",
                          f"addr add {R1_CORE}/24 dev core", f"link set core mtu {CORE_MTU}",
                          "link set eth0 up", "link set eth1 up", "link set core up",
                          f"route add 10.99.4.0/24 via {R2_CORE}"])
        self.batch("r2", [f"addr add {R2_CORE}/24 dev core", f"addr add {R2_T2}/24 dev eth1",
                          f"link set core mtu {CORE_MTU}", "link set core up", "link set eth1 up",
                          f"route add default via {R1_CORE}"])
        for role in ("r1", "r2"):
            self.sysctl(role, "net.ipv4.ip_forward=1")
        # Tests and benchmarks probe the same routers many times a second; the kernel's ICMP rate
        # limit per destination (1/s, burst 6) would drop time-exceeded and port-unreachable
        # answers that a single real run gets. Lift it except where a test wants it.
        for role in {"t0", "r1", "t1", "r2", "t2"} - set(rate_limited):
            self.sysctl(role, "net.ipv4.icmp_ratelimit=0")
        # The client may open ICMP datagram sockets as any gid; "noping" keeps the kernel default
        # ("1 0": nobody), which drives the unprivileged engine onto its UDP fallback.
        self.sysctl("client", "net.ipv4.ping_group_range=0 2147483647")
        return self

    def mac(self, role: str, interface: str = "eth0") -> str:
        return run(["ip", "-n", self.ns(role), "-br", "link", "show", interface]).split()[2]

    def serve_tcp(self, role: str, port: int) -> subprocess.Popen[str]:
        """A TCP server in `role` that accepts and closes; returns once it is listening."""
        argv = ["ip", "netns", "exec", self.ns(role), sys.executable, "-c", LISTENER, str(port)]
        server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            server.kill()
            raise RuntimeError(f"TCP server on {role}:{port} did not start (exit {server.wait()})")
        return server

    def nft(self, role: str, ruleset: str) -> None:
        run(["ip", "netns", "exec", self.ns(role), "nft", "-f", "-"], stdin=ruleset)

    def destroy(self) -> None:
        for role in reversed(self.created):
            subprocess.run(["ip", "netns", "del", self.ns(role)], capture_output=True, check=False)
        self.created.clear()
