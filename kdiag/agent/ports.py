"""The port and link probes: udp, tcp (half-open SYN or connect()), arp, and tcp/udp to a list of targets."""

from __future__ import annotations

import errno
import os
import random
import select
import socket
import struct
import threading
import time
from typing import Any, Dict, List, Optional

from .local import probe_local
from .packets import (
    ICMP_TIME_EXCEEDED,
    ICMP_UNREACHABLE,
    IP_RECVERR,
    Event,
    icmp_error,
    ms,
    split_ip,
    tcp_syn,
)
from .probes import Context
from .spec import not_measured
from .transports import UdpProbe, read_error_queue


def probe_udp(ctx: Context) -> Dict[str, Any]:
    """One datagram, resent once at half the timeout; ICMP port unreachable from the target = closed."""
    transport = UdpProbe(ctx.target, ctx.spec["port"], fixed=True)
    start = time.monotonic()
    try:
        transport.send(0)
        events = transport.collect(start + ctx.timeout / 2, bool)
        if not events:
            transport.send(0)
            events = transport.collect(start + ctx.timeout, bool)
    finally:
        transport.close()
    event = events.get(0)
    if event is None:
        state = "open|filtered"
    elif event.icmp_type is None:
        state = "open"
    elif event.source == ctx.target and (event.icmp_type, event.icmp_code) == (3, 3):
        state = "closed"
    else:
        state = "filtered"
    return {"measured": True, "method": transport.method, "port": ctx.spec["port"], "state": state,
            "rttMs": transport.rtt(event) if event else None,
            "icmpError": icmp_error(event) if event and event.icmp_type is not None else None}


def tcp_result(method: str, port: int, state: str, rtt: Optional[float] = None, ttl: Optional[int] = None,
               error: Optional[Event] = None) -> Dict[str, Any]:
    return {"measured": True, "method": method, "port": port, "state": state, "rttMs": rtt, "replyTtl": ttl,
            "icmpError": icmp_error(error) if error else None}


def probe_tcp_raw(ctx: Context) -> Dict[str, Any]:
    """Half-open SYN on a raw socket: SYN-ACK = open, RST = closed, nothing or ICMP = filtered."""
    source, port = ctx.local.get("sourceAddress"), ctx.spec["port"]
    if not source:
        return not_measured("no route to %s, so no source address to send a SYN from" % ctx.target)
    # Binding without listening reserves the source port: no local connection can reuse it meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as keeper, \
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP) as tcp, \
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as icmp:
        keeper.bind((source, 0))
        sport, seq = keeper.getsockname()[1], random.randint(0, 0xFFFFFFFF)
        syn = tcp_syn(source, ctx.target, sport, port, seq)
        start = time.monotonic()
        deadline, resend_at = start + ctx.timeout, start + ctx.timeout / 2
        tcp.sendto(syn, (ctx.target, 0))
        while True:
            now = time.monotonic()
            if now >= deadline:
                return tcp_result("synRaw", port, "filtered")
            if resend_at and now >= resend_at:
                tcp.sendto(syn, (ctx.target, 0))
                resend_at = 0.0
            readable = select.select([tcp, icmp], [], [], min(deadline, resend_at or deadline) - now)[0]
            for sock in readable:
                try:
                    src, ttl, _proto, payload = split_ip(sock.recv(65535))
                    if sock is tcp:
                        sp, dp, _seq, ack, _off, flags = struct.unpack("!HHIIBB", payload[:14])
                        if src == ctx.target and (sp, dp) == (port, sport) and ack == (seq + 1) & 0xFFFFFFFF:
                            state = "open" if flags & 0x12 == 0x12 else "closed" if flags & 0x04 else ""
                            if state:
                                return tcp_result("synRaw", port, state, ms(time.monotonic() - start), ttl)
                    elif payload[0] in (ICMP_UNREACHABLE, ICMP_TIME_EXCEEDED):
                        _s, _t, inner_proto, inner = split_ip(payload[8:])
                        if inner_proto == 6 and struct.unpack("!HH", inner[:4]) == (sport, port):
                            error = Event(0, src, time.monotonic(), None, payload[0], payload[1])
                            return tcp_result("synRaw", port, "filtered", ms(error.at - start), None, error)
                except (struct.error, IndexError):
                    continue


def probe_tcp_connect(ctx: Context) -> Dict[str, Any]:
    """Non-blocking connect(): established = open, RST = closed, ICMP error or silence = filtered."""
    port = ctx.spec["port"]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)  # so an ICMP cause is distinguishable from a RST
        start = time.monotonic()
        code = sock.connect_ex((ctx.target, port))
        if code not in (0, errno.EINPROGRESS):
            errors = [e for _d, _a, e in read_error_queue(sock)]
        elif not select.select([], [sock], [], ctx.timeout)[1]:
            return tcp_result("connect", port, "filtered")
        else:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            errors = [e for _d, _a, e in read_error_queue(sock)]
        rtt = ms(time.monotonic() - start)
    if errors:
        state = "filtered"
    elif code == 0:
        state = "open"
    elif code == errno.ECONNREFUSED:
        state = "closed"
    else:
        return not_measured("connect() to %s:%d failed: %s" % (ctx.target, port, os.strerror(code)))
    return tcp_result("connect", port, state, rtt, None, errors[0] if errors else None)


def probe_arp(ctx: Context) -> Dict[str, Any]:
    """ARP requests on the outgoing interface (AF_PACKET, needs CAP_NET_RAW); who answers for the target."""
    local = ctx.local
    route = local.get("route")
    if not route or not route["onLink"]:
        via = route["gateway"] if route else None
        return not_measured("target is not on-link (%s); ARP applies to on-link targets only"
                            % ("via gateway %s" % via if via else "no route"), notApplicable=True)
    if not local.get("mac") or not local.get("sourceAddress"):
        return not_measured("interface %s has no Ethernet MAC or source address" % local.get("interface"))
    mac = bytes.fromhex(local["mac"].replace(":", ""))
    request = (b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac
               + socket.inet_aton(local["sourceAddress"]) + bytes(6) + socket.inet_aton(ctx.target))
    answers: List[Dict[str, Any]] = []
    count = ctx.spec["count"]
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806)) as sock:
        sock.bind((local["interface"], 0x0806))
        start = time.monotonic()
        for attempt in range(count):
            sock.send(request)
            deadline = start + ctx.timeout * (attempt + 1) / count
            while not answers and select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0]:
                frame = sock.recv(2048)
                if len(frame) < 32:
                    continue
                operation, sender_mac, sender_ip = struct.unpack("!6xH6s4s", frame[14:32])
                if operation == 2 and sender_ip == socket.inet_aton(ctx.target):
                    answers.append({"mac": ":".join("%02x" % b for b in sender_mac),
                                    "ethernetSource": ":".join("%02x" % b for b in frame[6:12]),
                                    "rttMs": ms(time.monotonic() - start)})
            if answers:
                break
    return {"measured": True, "method": "packetSocket", "interface": local["interface"],
            "requests": attempt + 1, "answered": bool(answers),
            "mac": answers[0]["mac"] if answers else None, "answers": answers}


def probe_targets(ctx: Context) -> Dict[str, Any]:
    """The tcp or udp probe against each of spec.targets (a ClusterIP:port and the endpoints
    behind it), all at once in threads, each bounded by the timeout like the probes above."""
    results: List[Optional[Dict[str, Any]]] = [None] * len(ctx.spec["targets"])

    def measure(index: int, entry: Dict[str, Any]) -> None:
        spec = dict(ctx.spec, target=entry["target"], port=entry["port"], probes=[entry["protocol"]])
        try:
            local = probe_local(entry["target"], entry["port"])
        except (OSError, ValueError, IndexError) as exc:
            local = not_measured("could not read the local network view: %s" % exc)
        sub = Context(spec, ctx.engine, ctx.raw_permitted, local)
        try:
            if entry["protocol"] == "udp":
                outcome = probe_udp(sub)
            elif ctx.engine == "raw":
                outcome = probe_tcp_raw(sub) if ctx.raw_permitted else not_measured(
                    "raw engine requested but raw sockets are not permitted")
            else:
                outcome = probe_tcp_connect(sub)
        except Exception as exc:  # one target's failure must not cost the others theirs
            outcome = not_measured("%s failed: %s: %s" % (entry["protocol"], type(exc).__name__, exc))
        results[index] = dict(entry, result=outcome)

    threads = [threading.Thread(target=measure, args=(i, e), daemon=True)
               for i, e in enumerate(ctx.spec["targets"])]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + ctx.timeout + 1.0
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {"measured": True, "method": "parallel",
            "results": [results[i] or dict(e, result=not_measured("did not finish in time"))
                        for i, e in enumerate(ctx.spec["targets"])]}
