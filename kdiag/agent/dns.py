"""The `dns` probe: ask one nameserver for a list of names the way a stub resolver walks its
search path. UDP first; a truncated (TC) answer is asked again over TCP. Plain sockets, so the
raw and unprivileged engines run it the same way.

Walk: names are asked in order; NXDOMAIN or an empty NOERROR (no data) moves on to the next
name, an answer ends the walk, and so does a failure (timeout, SERVFAIL, REFUSED, nameserver
unreachable): kdiag reports that failure rather than guess what the resolver would do next.
"""

from __future__ import annotations

import errno
import random
import socket
import struct
import time
from typing import Any, Dict, List, Optional, Tuple

from .packets import IP_RECVERR, icmp_error, ms
from .spec import not_measured
from .transports import read_error_queue

TYPES = {"A": 1, "AAAA": 28, "CNAME": 5}
TYPE_NAMES = {1: "A", 28: "AAAA", 5: "CNAME", 2: "NS", 6: "SOA", 12: "PTR", 33: "SRV", 16: "TXT"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
UDP_LIMIT = 512  # RFC 1035 without EDNS0: a bigger answer comes back truncated
FLAG_QR, FLAG_TC, FLAG_RD = 0x8000, 0x0200, 0x0100


class DnsFormatError(ValueError):
    """A reply that does not parse as DNS."""


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("idna") if not label.isascii() else label.encode()
            if len(raw) > 63:
                raise ValueError("DNS label longer than 63 bytes: %r" % label)
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


def build_query(name: str, qtype: int, ident: int) -> bytes:
    header = struct.pack("!HHHHHH", ident, FLAG_RD, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, 1)


def read_name(message: bytes, offset: int) -> Tuple[str, int]:
    """A possibly compressed name at offset; returns (name with a trailing dot, offset after it)."""
    labels: List[str] = []
    end, jumps = -1, 0
    while True:
        if offset >= len(message):
            raise DnsFormatError("name runs past the message")
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(message) or jumps > 32:
                raise DnsFormatError("bad compression pointer")
            if end < 0:
                end = offset + 2
            offset, jumps = ((length & 0x3F) << 8) | message[offset + 1], jumps + 1
            continue
        if length == 0:
            return ".".join(labels) + ".", (end if end >= 0 else offset + 1)
        labels.append(message[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length


def parse_reply(message: bytes, ident: int) -> Dict[str, Any]:
    """Header flags, rcode and the answer section of a reply to query `ident`."""
    if len(message) < 12:
        raise DnsFormatError("reply shorter than a DNS header")
    rid, flags, qdcount, ancount, _ns, _ar = struct.unpack("!HHHHHH", message[:12])
    if rid != ident or not flags & FLAG_QR:
        raise DnsFormatError("not a reply to this query")
    offset = 12
    for _ in range(qdcount):
        offset = read_name(message, offset)[1] + 4
    answers = []
    for _ in range(ancount):
        owner, offset = read_name(message, offset)
        rtype, _rclass, ttl, length = struct.unpack("!HHIH", message[offset:offset + 10])
        offset += 10
        rdata = message[offset:offset + length]
        if rtype == 1 and length == 4:
            data = socket.inet_ntop(socket.AF_INET, rdata)
        elif rtype == 28 and length == 16:
            data = socket.inet_ntop(socket.AF_INET6, rdata)
        elif rtype == 5:
            data = read_name(message, offset)[0]
        else:
            data = rdata.hex()
        answers.append({"name": owner, "type": TYPE_NAMES.get(rtype, str(rtype)), "ttl": ttl, "data": data})
        offset += length
    rcode = flags & 0x000F
    return {"rcode": RCODES.get(rcode, "RCODE%d" % rcode), "truncated": bool(flags & FLAG_TC),
            "answers": answers}


def _ask_udp(server: str, port: int, query: bytes, ident: int, deadline: float) -> Dict[str, Any]:
    """One UDP exchange, resent once halfway; a connected socket with IP_RECVERR, so an ICMP
    error (port unreachable from the server, net / host unreachable from a router) surfaces."""
    start = time.monotonic()
    resend_at = start + (deadline - start) / 2
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # IP_RECVERR: without it Linux reports only port unreachable on a UDP socket, not the
        # "soft" net / host unreachable a router sends when it has no route to the nameserver.
        sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
        try:
            sock.connect((server, port))
            sock.send(query)
        except OSError as exc:  # no route to the nameserver
            return {"outcome": "unreachable", "error": exc.strerror or str(exc)}
        while True:
            now = time.monotonic()
            if now >= deadline:
                return {"outcome": "timeout"}
            if resend_at and now >= resend_at:
                sock.send(query)
                resend_at = 0.0
            sock.settimeout(max(0.001, min(deadline, resend_at or deadline) - now))
            try:
                reply = parse_reply(sock.recv(65535), ident)
            except socket.timeout:
                continue
            except DnsFormatError:
                continue  # a stray or mangled datagram; keep waiting for ours
            except OSError as exc:
                errors = [e for _d, _a, e in read_error_queue(sock)]
                found: Dict[str, Any] = {"outcome": "unreachable", "error": exc.strerror or str(exc)}
                if errors:  # who said so: the nameserver itself, or a router on the way
                    found["icmpError"] = icmp_error(errors[0])
                return found
            reply["latencyMs"] = ms(time.monotonic() - start)
            return reply


def _ask_tcp(server: str, port: int, query: bytes, ident: int, deadline: float) -> Dict[str, Any]:
    start = time.monotonic()
    try:
        with socket.create_connection((server, port), timeout=max(0.001, deadline - start)) as sock:
            sock.sendall(struct.pack("!H", len(query)) + query)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                chunk = sock.recv(65535)
                if not chunk:
                    return {"outcome": "error", "error": "the server closed the TCP connection early"}
                data += chunk
    except socket.timeout:
        return {"outcome": "timeout"}
    except OSError as exc:
        outcome = "unreachable" if exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH,
                                                 errno.ENETUNREACH) else "error"
        return {"outcome": outcome, "error": exc.strerror or str(exc)}
    try:
        reply = parse_reply(data[2:], ident)
    except DnsFormatError as exc:
        return {"outcome": "error", "error": "bad reply over TCP: %s" % exc}
    reply["latencyMs"] = ms(time.monotonic() - start)
    return reply


def _outcome(reply: Dict[str, Any]) -> str:
    rcode = reply["rcode"]
    if rcode == "NOERROR":
        return "answer" if reply["answers"] else "nodata"
    return {"NXDOMAIN": "nxdomain", "SERVFAIL": "servfail", "REFUSED": "refused"}.get(rcode, "error")


def query(server: str, port: int, name: str, qtype: str, timeout: float,
          deadline: Optional[float] = None) -> Dict[str, Any]:
    """One name: over UDP, and again over TCP when the UDP answer is truncated. Each exchange
    waits at most `timeout`, and nothing waits past `deadline`."""
    ident = random.randint(0, 0xFFFF)
    packet = build_query(name, TYPES[qtype], ident)
    start = time.monotonic()
    result: Dict[str, Any] = {"name": name, "type": qtype, "transport": "udp", "truncated": False,
                              "rcode": None, "answers": [], "latencyMs": None}
    end = deadline if deadline is not None else start + 2 * timeout
    reply = _ask_udp(server, port, packet, ident, min(start + timeout, end))
    if "rcode" in reply and reply["truncated"]:
        result["truncated"] = True
        result["transport"] = "tcp"
        reply = _ask_tcp(server, port, packet, ident, min(time.monotonic() + timeout, end))
    if "rcode" in reply:
        result.update(rcode=reply["rcode"], answers=reply["answers"], outcome=_outcome(reply))
    else:
        result["outcome"] = reply["outcome"]
        for key in ("error", "icmpError"):
            if reply.get(key):
                result[key] = reply[key]
    result["latencyMs"] = ms(time.monotonic() - start) if result["outcome"] != "timeout" else None
    return result


def probe_dns(settings: Optional[Dict[str, Any]], timeout: float) -> Dict[str, Any]:
    """Walk settings["names"] against settings["server"] (see the module docstring)."""
    if not settings:
        return not_measured("no spec.dns given: nothing to ask")
    server, port, qtype = settings["server"], settings["port"], settings["type"]
    queries: List[Dict[str, Any]] = []
    start = time.monotonic()
    deadline = start + 2 * timeout  # the whole walk stays inside the run's budget
    for name in settings["names"]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        result = query(server, port, name, qtype, timeout, deadline)
        queries.append(result)
        if result["outcome"] not in ("nxdomain", "nodata"):
            break
    last = queries[-1]
    return {"measured": True, "method": "udp+tcp" if any(q["transport"] == "tcp" for q in queries) else "udp",
            "server": server, "port": port, "type": qtype, "queries": queries, "name": last["name"],
            "outcome": last["outcome"], "rcode": last["rcode"],
            "addresses": [a["data"] for a in last["answers"] if a["type"] in ("A", "AAAA")],
            "cnames": [a["data"] for a in last["answers"] if a["type"] == "CNAME"],
            "latencyMs": ms(time.monotonic() - start)}
