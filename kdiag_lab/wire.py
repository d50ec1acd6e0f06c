"""Small programs the lab runs *inside* its namespaces to make and observe traffic.

    python -m kdiag_lab.wire serve --tcp 8080 [--tcp 443] [--name NAME]   # a pod's listeners
    python -m kdiag_lab.wire ttl --port 9999 [--count 1]                  # print the TTL of arriving UDP
    python -m kdiag_lab.wire send --to IP --port 9999 [--size N --df]     # one UDP datagram
    python -m kdiag_lab.wire connect --to IP --port 8080                  # TCP; prints the answer
    python -m kdiag_lab.wire ping --to IP                                 # one ICMP echo
    python -m kdiag_lab.wire capture --iface sw-worker24 --udp-port 8472  # underlay capture, VXLAN decoded

Each prints one line `ready` on stdout once its socket is open, so callers wait on that instead of
sleeping, then JSON lines with what it saw. `ping` and `capture` build and decode packets with scapy
(imported only there: `serve` runs in every lab pod and must start fast); tcpdump is not required.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

ETH_P_ALL = 0x0003
VXLAN_PORTS = (4789, 8472)  # IANA's, and the Linux/flannel default
IP_RECVTTL = 12  # <linux/in.h>; not exported by the socket module


def _ready() -> None:
    print("ready", flush=True)


def _emit(record: dict[str, object]) -> None:
    print(json.dumps(record, sort_keys=True), flush=True)


def _serve_conn(conn: socket.socket, name: str, port: int) -> None:
    with conn:
        conn.settimeout(5)
        try:
            data = conn.recv(4096)
        except OSError:
            return
        body = f"{name} port {port}\n".encode()
        if data.startswith((b"GET ", b"HEAD ", b"POST ")):
            head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\nContent-Type: text/plain\r\n\r\n"
            conn.sendall(head.encode() + body)
        else:
            conn.sendall(body)


def serve(ports: Sequence[int], name: str) -> int:
    """Listen on TCP ports; answer each connection with one line (or an HTTP response)."""
    listeners = []
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen(128)
        listeners.append(sock)
    _ready()
    while True:
        readable, _, _ = select.select(listeners, [], [])
        for sock in readable:
            conn, _ = sock.accept()
            port = sock.getsockname()[1]
            threading.Thread(target=_serve_conn, args=(conn, name, port), daemon=True).start()


def ttl(port: int, count: int, timeout: float) -> int:
    """Receive UDP datagrams and report the IP TTL each arrived with."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(timeout)
    _ready()
    for _ in range(count):
        try:
            data, ancdata, _, addr = sock.recvmsg(65535, socket.CMSG_SPACE(4))
        except TimeoutError:
            return 1
        ttl_value = next(
            (int.from_bytes(d[:4], sys.byteorder) for lvl, typ, d in ancdata if lvl == socket.IPPROTO_IP),
            -1,
        )
        _emit({"src": addr[0], "ttl": ttl_value, "payload": data.decode(errors="replace")})
    return 0


IP_MTU_DISCOVER = 10  # <linux/in.h>
IP_PMTUDISC_DO = 2  # set DF, never fragment locally: how MTU faults become visible


def send(to: str, port: int, payload: str, size: int, df: bool) -> int:
    """Send one UDP datagram; `size` pads the payload to that many bytes."""
    data = payload.encode()
    if size > len(data):
        data += b"." * (size - len(data))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        if df:
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        sock.sendto(data, (to, port))
    return 0


def connect(to: str, port: int, timeout: float) -> int:
    """Open a TCP connection, print the first line the server sends. Exit 1 if it cannot."""
    try:
        with socket.create_connection((to, port), timeout=timeout) as sock:
            sock.sendall(b"hello\n")
            answer = sock.recv(4096).decode(errors="replace").strip()
    except OSError as exc:
        _emit({"ok": False, "error": str(exc)})
        return 1
    _emit({"ok": True, "answer": answer})
    return 0


def ping(to: str, timeout: float) -> int:
    """One ICMP echo over a raw socket (no iputils needed). Prints the reply's TTL; exit 1 if none."""
    from scapy.layers.inet import ICMP, IP  # scapy only for the commands that build or decode packets

    ident = threading.get_native_id() & 0xFFFF
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.sendto(bytes(ICMP(type=8, id=ident, seq=1) / b"kdiag"), (to, 0))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            reply, addr = sock.recvfrom(65535)
            packet = IP(reply)
            icmp = packet.getlayer(ICMP)
            if addr[0] == to and icmp is not None and icmp.type == 0 and icmp.id == ident:
                _emit({"ok": True, "ttl": packet.ttl})
                return 0
    _emit({"ok": False})
    return 1


def _ipv4_record(packet: Any) -> dict[str, object]:
    from scapy.layers.inet import TCP, UDP

    rec: dict[str, object] = {
        "ttl": packet.ttl, "proto": packet.proto, "src": packet.src, "dst": packet.dst, "len": packet.len,
    }
    l4 = packet.getlayer(UDP) or packet.getlayer(TCP)
    if l4 is not None and l4.underlayer is packet:
        rec["sport"], rec["dport"] = l4.sport, l4.dport
    return rec


def capture(iface: str, udp_port: int, count: int, timeout: float) -> int:
    """Print UDP packets to `udp_port` seen on `iface`; on a VXLAN port, the inner IPv4 too."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.layers.vxlan import VXLAN
    from scapy.packet import bind_layers

    if udp_port in VXLAN_PORTS:
        bind_layers(UDP, VXLAN, dport=udp_port)  # flannel's 8472 is not scapy's default 4789
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    _ready()
    deadline = time.monotonic() + timeout
    seen = 0
    while seen < count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return 1 if seen == 0 else 0
        frame = Ether(sock.recv(65535))
        outer = frame.getlayer(IP)
        udp = frame.getlayer(UDP)
        if outer is None or udp is None or udp.underlayer is not outer or udp.dport != udp_port:
            continue
        rec = _ipv4_record(outer)
        vxlan = frame.getlayer(VXLAN)
        if vxlan is not None:
            rec["vni"] = vxlan.vni
            inner = vxlan.getlayer(IP)
            if inner is not None:
                rec["inner"] = _ipv4_record(inner)
        _emit(rec)
        seen += 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdiag_lab.wire")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--tcp", type=int, action="append", default=[])
    p.add_argument("--name", default=socket.gethostname())
    p = sub.add_parser("ttl")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=10.0)
    p = sub.add_parser("send")
    p.add_argument("--to", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--payload", default="kdiag")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--df", action="store_true")
    p = sub.add_parser("connect")
    p.add_argument("--to", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=2.0)
    p = sub.add_parser("ping")
    p.add_argument("--to", required=True)
    p.add_argument("--timeout", type=float, default=2.0)
    p = sub.add_parser("capture")
    p.add_argument("--iface", required=True)
    p.add_argument("--udp-port", type=int, required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        return serve(args.tcp, args.name)
    if args.cmd == "ttl":
        return ttl(args.port, args.count, args.timeout)
    if args.cmd == "send":
        return send(args.to, args.port, args.payload, args.size, args.df)
    if args.cmd == "connect":
        return connect(args.to, args.port, args.timeout)
    if args.cmd == "ping":
        return ping(args.to, args.timeout)
    return capture(args.iface, args.udp_port, args.count, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
