"""Small programs the lab runs *inside* its namespaces to make and observe traffic.

    python -m kdiag_lab.wire serve --tcp 8080 [--tcp 443] [--name NAME]   # a pod's listeners
    python -m kdiag_lab.wire ttl --port 9999 [--count 1]                  # print the TTL of arriving UDP
    python -m kdiag_lab.wire send --to IP --port 9999 [--size N --df]     # one UDP datagram
    python -m kdiag_lab.wire connect --to IP --port 8080                  # TCP; prints the answer
    python -m kdiag_lab.wire ping --to IP                                 # one ICMP echo
    python -m kdiag_lab.wire capture --iface sw-worker24 --udp-port 8472  # underlay capture, VXLAN decoded

Each prints one line `ready` on stdout once its socket is open, so callers wait on that instead of
sleeping, then JSON lines with what it saw. Standard library only (tcpdump is not required).
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
IP_RECVTTL = 12  # <linux/in.h>; not exported by the socket module
VXLAN_HEADER = 8


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


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ping(to: str, timeout: float) -> int:
    """One ICMP echo over a raw socket (no iputils needed). Prints the reply's TTL; exit 1 if none."""
    ident = threading.get_native_id() & 0xFFFF
    header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    packet = struct.pack("!BBHHH", 8, 0, _checksum(header + b"kdiag"), ident, 1) + b"kdiag"
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.sendto(packet, (to, 0))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            reply, addr = sock.recvfrom(65535)
            ihl = (reply[0] & 0x0F) * 4
            icmp_type, _, _, rid, _ = struct.unpack("!BBHHH", reply[ihl : ihl + 8])
            if addr[0] == to and icmp_type == 0 and rid == ident:
                _emit({"ok": True, "ttl": reply[8]})
                return 0
    _emit({"ok": False})
    return 1


def _ipv4(frame: bytes, offset: int) -> dict[str, object] | None:
    if len(frame) < offset + 20 or frame[offset] >> 4 != 4:
        return None
    ihl = (frame[offset] & 0x0F) * 4
    proto = frame[offset + 9]
    rec: dict[str, object] = {
        "ttl": frame[offset + 8],
        "proto": proto,
        "src": socket.inet_ntoa(frame[offset + 12 : offset + 16]),
        "dst": socket.inet_ntoa(frame[offset + 16 : offset + 20]),
        "len": struct.unpack("!H", frame[offset + 2 : offset + 4])[0],
        "l4": offset + ihl,
    }
    if proto in (socket.IPPROTO_UDP, socket.IPPROTO_TCP) and len(frame) >= offset + ihl + 4:
        rec["sport"], rec["dport"] = struct.unpack("!HH", frame[offset + ihl : offset + ihl + 4])
    return rec


def capture(iface: str, udp_port: int, count: int, timeout: float) -> int:
    """Print UDP packets to `udp_port` seen on `iface`, decoding a VXLAN payload's inner IPv4."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    _ready()
    deadline = time.monotonic() + timeout
    seen = 0
    while seen < count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return 1 if seen == 0 else 0
        frame = sock.recv(65535)
        if len(frame) < 14 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
            continue
        outer = _ipv4(frame, 14)
        if outer is None or outer["proto"] != socket.IPPROTO_UDP or outer.get("dport") != udp_port:
            continue
        rec: dict[str, object] = {k: v for k, v in outer.items() if k != "l4"}
        payload = int(str(outer["l4"])) + 8
        if len(frame) >= payload + VXLAN_HEADER + 14:
            rec["vni"] = int.from_bytes(frame[payload + 4 : payload + 7], "big")
            inner_eth = payload + VXLAN_HEADER
            if struct.unpack("!H", frame[inner_eth + 12 : inner_eth + 14])[0] == ETH_P_IP:
                inner = _ipv4(frame, inner_eth + 14)
                if inner is not None:
                    rec["inner"] = {k: v for k, v in inner.items() if k != "l4"}
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
