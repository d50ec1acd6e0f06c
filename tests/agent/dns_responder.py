"""A tiny authoritative DNS responder for the agent's tests (test fixture, not product code).

Run as `python3 dns_responder.py` inside a test namespace: answers on UDP and TCP port 53 of
every address, prints "ready" once both sockets listen. Its zone is fixed (ZONE below); every
other name is NXDOMAIN. "big.test." is too large for 512 bytes of UDP, so over UDP it answers
with TC set and no records, over TCP in full; "silent.test." is never answered.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading

WEB = "web.default.svc.cluster.local."
ZONE: dict[str, list[tuple[int, str]]] = {
    WEB: [(1, "10.96.0.20")],
    "alias.test.": [(5, WEB), (1, "10.96.0.20")],
    "big.test.": [(1, f"10.77.0.{i}") for i in range(1, 41)],
    "empty.test.": [],
}
SERVFAIL, SILENT = "servfail.test.", "silent.test."


def read_question(message: bytes) -> tuple[str, int]:
    labels, offset = [], 12
    while message[offset]:
        length = message[offset]
        labels.append(message[offset + 1:offset + 1 + length].decode())
        offset += 1 + length
    return ".".join(labels).lower() + ".", offset + 5  # past the root label, qtype and qclass


def encode(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\x00"


def answer(query: bytes, *, udp: bool) -> bytes | None:
    ident, flags = struct.unpack("!HH", query[:4])
    name, end = read_question(query)
    if name == SILENT:
        return None
    records = ZONE.get(name)
    rcode = 2 if name == SERVFAIL else (3 if records is None else 0)
    body = b""
    for rtype, data in records or []:
        rdata = socket.inet_aton(data) if rtype == 1 else encode(data)
        body += b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 30, len(rdata)) + rdata
    reply_flags = 0x8400 | (flags & 0x0100) | 0x0080 | rcode  # QR AA, RD copied, RA
    count = len(records or [])
    if udp and 12 + (end - 12) + len(body) > 512:
        reply_flags |= 0x0200  # TC: ask again over TCP
        body, count = b"", 0
    return struct.pack("!HHHHHH", ident, reply_flags, 1, count, 0, 0) + query[12:end] + body


def serve_udp(sock: socket.socket) -> None:
    while True:
        query, peer = sock.recvfrom(4096)
        reply = answer(query, udp=True)
        if reply is not None:
            sock.sendto(reply, peer)


def serve_tcp_client(conn: socket.socket) -> None:
    with conn:
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        reply = answer(data[2:], udp=False)
        if reply is not None:
            conn.sendall(struct.pack("!H", len(reply)) + reply)


def main() -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", 53))
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("0.0.0.0", 53))
    tcp.listen(16)
    threading.Thread(target=serve_udp, args=(udp,), daemon=True).start()
    print("ready", flush=True)
    while True:
        conn, _peer = tcp.accept()
        threading.Thread(target=serve_tcp_client, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
