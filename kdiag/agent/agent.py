# kdiag probe agent. This file is shipped verbatim into probe containers and run as
# `python3 -c '<this source>' '<spec json>'`, so it must stay ONE self-contained module:
# Python 3.8+, standard library only, nothing imported from kdiag. That is why it runs past
# the house limit of ~400 lines (and the ~600 hoped for): seven probes, two engines and
# three socket transports cannot be split into files without a packaging step inside the
# container. It reads top to bottom: spec -> packets -> transports -> local view -> probes
# -> engine and run. See docs/agent.md.
#
# The raw engine uses plain raw sockets (SOCK_RAW / AF_PACKET), not scapy: importing
# scapy alone takes ~0.9 s, most of the 1 s budget for a full probe set, and probe
# images rarely ship it.
"""kdiag probe agent: observe pod-to-pod connectivity from inside a pod.

Usage: python3 agent.py '<spec json>'   (or python3 -m kdiag.agent, or python3 -c <source>)
Writes progress to stderr and exactly one ProbeResult JSON document to stdout.
Exit codes: 0 result produced (however unreachable the target), 2 bad spec, 3 internal failure.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import json
import os
import random
import select
import socket
import struct
import sys
import threading
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

API_VERSION = "kdiag/v1"
PROBE_NAMES = ("local", "icmp", "tcp", "udp", "traceroute", "arp", "pmtu")
ENGINES = ("auto", "raw", "unprivileged")
DEFAULTS: Dict[str, Any] = {
    "port": 80, "probes": list(PROBE_NAMES), "engine": "auto", "count": 3, "timeout": 2.0, "maxHops": 30,
}
# Linux values; older Pythons' socket module lacks several of them.
IP_TTL, IP_MTU_DISCOVER, IP_RECVERR, IP_RECVTTL, IP_PMTUDISC_PROBE = 2, 10, 11, 12, 3
MSG_ERRQUEUE, SO_EE_ORIGIN_ICMP = 0x2000, 2
SIOCGIFHWADDR, SIOCGIFMTU, SIOCGIFADDR, SIOCGIFNETMASK = 0x8927, 0x8921, 0x8915, 0x891B
ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_TIME_EXCEEDED, ICMP_ECHO = 0, 3, 11, 8
ICMP_NAMES = {
    (3, 0): "netUnreachable", (3, 1): "hostUnreachable", (3, 2): "protocolUnreachable",
    (3, 3): "portUnreachable", (3, 4): "fragmentationNeeded", (3, 9): "netProhibited",
    (3, 10): "hostProhibited", (3, 13): "adminProhibited", (11, 0): "ttlExceeded",
    (11, 1): "reassemblyTimeExceeded",
}
# Common link MTUs tried in parallel by pmtu (Ethernet, PPPoE, VXLAN, WireGuard, IPv6 minimum...).
PMTU_LADDER = (9000, 1500, 1492, 1480, 1450, 1420, 1400, 1380, 1280, 1000, 576)
PMTU_ROUNDS = 3
ECHO_SIZE = 84  # bytes on the wire, like ping's default 56-byte payload
TRACEROUTE_BASE_PORT = 33434


class SpecError(ValueError):
    """The spec is unusable; the message is the one line shown to the user."""


def parse_spec(text: str) -> Dict[str, Any]:
    """Validate a spec JSON text and return it with every default filled in."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise SpecError("spec is not valid JSON: %s" % exc) from None
    if not isinstance(raw, dict):
        raise SpecError("spec must be a JSON object")
    unknown = sorted(set(raw) - set(DEFAULTS) - {"target"})
    if unknown:
        allowed = ", ".join(["target", *DEFAULTS])
        raise SpecError("unknown spec key(s): %s; allowed: %s" % (", ".join(unknown), allowed))
    spec: Dict[str, Any] = {"target": None}
    spec.update(DEFAULTS, **raw)
    try:
        spec["target"] = str(ipaddress.IPv4Address(raw.get("target")))
    except ValueError:
        raise SpecError("spec.target must be an IPv4 address, got %r" % raw.get("target")) from None
    for key, low, high in (("port", 1, 65535), ("count", 1, 100), ("maxHops", 1, 64)):
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SpecError("spec.%s must be an integer from %d to %d, got %r" % (key, low, high, value))
    timeout = spec["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise SpecError("spec.timeout must be a number of seconds in (0, 60], got %r" % (timeout,))
    spec["timeout"] = float(timeout)
    if spec["engine"] not in ENGINES:
        raise SpecError("spec.engine must be one of %s, got %r" % (", ".join(ENGINES), spec["engine"]))
    probes = spec["probes"]
    if not isinstance(probes, list) or any(p not in PROBE_NAMES for p in probes):
        raise SpecError("spec.probes must be a list drawn from %s, got %r" % (", ".join(PROBE_NAMES), probes))
    spec["probes"] = [p for i, p in enumerate(probes) if p not in probes[:i]]
    return spec


def budget_seconds(spec: Dict[str, Any]) -> float:
    """Upper bound on a whole run: pmtu may need PMTU_ROUNDS waits, every other probe one."""
    return float(PMTU_ROUNDS * spec["timeout"] + 1.0)


# ---------------------------------------------------------------- packets

def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo(ident: int, seq: int, length: int) -> bytes:
    """An ICMP echo request of `length` bytes (header included)."""
    payload = bytes(max(0, length - 8))
    csum = checksum(struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq) + payload)
    return struct.pack("!BBHHH", ICMP_ECHO, 0, csum, ident, seq) + payload


def tcp_syn(source: str, target: str, sport: int, dport: int, seq: int) -> bytes:
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = socket.inet_aton(source) + socket.inet_aton(target) + struct.pack("!BBH", 0, 6, len(header))
    return header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]


def split_ip(packet: bytes) -> Tuple[str, int, int, bytes]:
    """(source, ttl, protocol, payload) of an IPv4 packet."""
    ihl = (packet[0] & 0x0F) * 4
    return socket.inet_ntoa(packet[12:16]), packet[8], packet[9], packet[ihl:]


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


class Event(NamedTuple):
    """Something that came back for probe `key`: a reply (icmp_type None) or an ICMP error."""

    key: int
    source: str
    at: float
    ttl: Optional[int] = None
    icmp_type: Optional[int] = None
    icmp_code: Optional[int] = None
    mtu: Optional[int] = None


def icmp_error(event: Event) -> Dict[str, Any]:
    kind = (event.icmp_type or 0, event.icmp_code or 0)
    found: Dict[str, Any] = {"from": event.source, "type": kind[0], "code": kind[1],
                             "name": ICMP_NAMES.get(kind, "icmp%d/%d" % kind)}
    if event.mtu:
        found["mtu"] = event.mtu
    return found


def reached_target(event: Event, target: str) -> bool:
    """A reply, or an unreachable the target itself sent, proves the probe arrived there."""
    return event.source == target and (event.icmp_type is None or event.icmp_type == ICMP_UNREACHABLE)


# ---------------------------------------------------------------- transports

class Transport:
    """Sends numbered probes of a given size and TTL (DF set) and reports what came back."""

    method = ""

    def __init__(self, target: str, sock: socket.socket) -> None:
        self.target, self.sock = target, sock
        self.sent: Dict[int, float] = {}
        # DF on every probe, ignoring the kernel's cached path MTU, as tracepath does.
        sock.setsockopt(socket.SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)

    def packet(self, key: int, size: int) -> bytes:
        raise NotImplementedError

    def address(self, key: int) -> Tuple[str, int]:
        return (self.target, 0)

    def read(self) -> List[Event]:
        raise NotImplementedError

    def send(self, key: int, size: int = ECHO_SIZE, ttl: Optional[int] = None) -> Optional[str]:
        """Send probe `key` as a `size`-byte IP packet; an errno name if the kernel refused it."""
        self.sock.setsockopt(socket.SOL_IP, IP_TTL, ttl or -1)  # -1: the system default
        # An ICMP error for an earlier probe leaves a pending socket error that would fail this
        # send instead; reading SO_ERROR clears it (the error queue keeps the details).
        self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        try:
            self.sock.sendto(self.packet(key, size), self.address(key))
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc))
        self.sent.setdefault(key, time.monotonic())
        return None

    def collect(self, deadline: float, finished: Callable[[Dict[int, Event]], bool]) -> Dict[int, Event]:
        """First event per key, until `finished(events)` or the deadline."""
        events: Dict[int, Event] = {}
        while not finished(events):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
                break
            for event in self.read():
                if event.key in self.sent:
                    events.setdefault(event.key, event)
        return events

    def rtt(self, event: Event) -> float:
        return ms(event.at - self.sent[event.key])

    def close(self) -> None:
        self.sock.close()


def read_error_queue(sock: socket.socket) -> List[Tuple[bytes, Any, Event]]:
    """ICMP errors the kernel queued for `sock` (IP_RECVERR): (quoted payload, original address, event)."""
    found = []
    for _ in range(256):
        try:
            data, ancillary, _flags, address = sock.recvmsg(2048, 512, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except OSError:
            break
        for level, kind, blob in ancillary:
            if level != socket.SOL_IP or kind != IP_RECVERR or len(blob) < 24:
                continue
            _errno, origin, icmp_type, code, _pad, info, _data = struct.unpack("=IBBBBII", blob[:16])
            if origin == SO_EE_ORIGIN_ICMP:
                mtu = info if (icmp_type, code) == (3, 4) else None
                event = Event(-1, socket.inet_ntoa(blob[20:24]), time.monotonic(), None, icmp_type, code, mtu)
                found.append((data, address, event))
    return found


class RawIcmp(Transport):
    """Echo requests on a raw ICMP socket (needs CAP_NET_RAW); sees every ICMP packet, keeps ours."""

    method = "icmpRaw"

    def __init__(self, target: str) -> None:
        super().__init__(target, socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
        self.ident = random.randint(1, 0xFFFF)

    def packet(self, key: int, size: int) -> bytes:
        return icmp_echo(self.ident, key, size - 20)

    def read(self) -> List[Event]:
        events: List[Event] = []
        for _ in range(1024):  # bounded: a flood of foreign ICMP must not pin us here
            try:
                packet = self.sock.recv(65535, socket.MSG_DONTWAIT)
                source, ttl, _proto, icmp = split_ip(packet)
                icmp_type, code, _csum, ident, seq = struct.unpack("!BBHHH", icmp[:8])
                now = time.monotonic()
                if icmp_type == ICMP_ECHO_REPLY and ident == self.ident:
                    events.append(Event(seq, source, now, ttl))
                elif icmp_type in (ICMP_UNREACHABLE, ICMP_TIME_EXCEEDED):
                    _src, _ttl, inner_proto, inner = split_ip(icmp[8:])
                    inner_type, _c, _s, inner_ident, inner_seq = struct.unpack("!BBHHH", inner[:8])
                    if inner_proto == 1 and inner_type == ICMP_ECHO and inner_ident == self.ident:
                        mtu = struct.unpack("!H", icmp[6:8])[0] if (icmp_type, code) == (3, 4) else None
                        events.append(Event(inner_seq, source, now, None, icmp_type, code, mtu))
            except (BlockingIOError, InterruptedError):
                break
            except (struct.error, IndexError, OSError):
                continue  # a truncated packet, or the socket's pending error; keep reading
        return events


class PingSocket(Transport):
    """ICMP datagram socket: unprivileged echo where net.ipv4.ping_group_range allows our gid."""

    method = "icmpDatagram"

    def __init__(self, target: str) -> None:
        super().__init__(target, socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP))
        self.sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
        self.sock.setsockopt(socket.SOL_IP, IP_RECVTTL, 1)

    def packet(self, key: int, size: int) -> bytes:
        return icmp_echo(0, key, size - 20)  # the kernel sets the identifier and checksum

    def read(self) -> List[Event]:
        events = [event._replace(key=struct.unpack("!H", data[6:8])[0])
                  for data, _addr, event in read_error_queue(self.sock) if len(data) >= 8]
        for _ in range(256):
            try:
                data, ancillary, _flags, address = self.sock.recvmsg(2048, 64, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # the pending ICMP error, already read from the error queue
            ttls = [struct.unpack("=i", blob[:4])[0] for level, kind, blob in ancillary
                    if level == socket.SOL_IP and kind == IP_TTL and len(blob) >= 4]
            if len(data) >= 8 and data[0] == ICMP_ECHO_REPLY:
                seq = struct.unpack("!H", data[6:8])[0]
                events.append(Event(seq, address[0], time.monotonic(), ttls[0] if ttls else None))
        return events


class UdpProbe(Transport):
    """UDP datagrams with IP_RECVERR, as tracepath: the ICMP errors they draw arrive on the error queue.

    Probe `key` goes to port `port + key` (or always `port` when fixed) so errors map back to probes.
    """

    method = "udp"

    def __init__(self, target: str, port: int, fixed: bool = False) -> None:
        super().__init__(target, socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        self.sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
        self.port, self.fixed = port, fixed

    def packet(self, key: int, size: int) -> bytes:
        return bytes(max(0, size - 28))

    def address(self, key: int) -> Tuple[str, int]:
        return (self.target, self.port if self.fixed else self.port + key)

    def key_of(self, port: int) -> int:
        return 0 if self.fixed else port - self.port

    def read(self) -> List[Event]:
        events = [event._replace(key=self.key_of(address[1]))
                  for _data, address, event in read_error_queue(self.sock) if address]
        for _ in range(256):
            try:
                _data, address = self.sock.recvfrom(65535, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue
            if address[0] == self.target:
                events.append(Event(self.key_of(address[1]), address[0], time.monotonic()))
        return events


# ---------------------------------------------------------------- local view

def interface_details(name: str) -> Dict[str, Any]:
    """MAC (Ethernet only), MTU and primary IPv4 address/prefix of interface `name`."""
    details: Dict[str, Any] = {"mac": None, "mtu": None, "addresses": []}
    request = struct.pack("16s24x", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        def ioctl(code: int) -> Optional[bytes]:
            try:
                return bytes(fcntl.ioctl(sock.fileno(), code, request))
            except OSError:
                return None
        hardware, mtu, address, netmask = map(ioctl, (SIOCGIFHWADDR, SIOCGIFMTU, SIOCGIFADDR, SIOCGIFNETMASK))
    if hardware and struct.unpack("=H", hardware[16:18])[0] == 1:  # ARPHRD_ETHER
        details["mac"] = ":".join("%02x" % b for b in hardware[18:24])
    if mtu:
        details["mtu"] = struct.unpack("=i", mtu[16:20])[0]
    if address and netmask:
        prefix = bin(struct.unpack("!I", netmask[20:24])[0]).count("1")
        details["addresses"] = ["%s/%d" % (socket.inet_ntoa(address[20:24]), prefix)]
    return details


def probe_local(target: str, port: int) -> Dict[str, Any]:
    """Source address the kernel picks, the main-table route for the target, its interface."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((target, port))  # a UDP connect only runs the route lookup
            source: Optional[str] = sock.getsockname()[0]
    except OSError:
        source = None
    wanted = struct.unpack("<I", socket.inet_aton(target))[0]
    best: Optional[Tuple[int, int, str, int, int]] = None
    default_gateway = None
    with open("/proc/net/route") as table:
        for line in table.readlines()[1:]:
            fields = line.split()  # Iface Destination Gateway Flags RefCnt Use Metric Mask ...
            iface, metric = fields[0], int(fields[6])
            dest, gateway, flags, mask = (int(fields[i], 16) for i in (1, 2, 3, 7))
            if not flags & 1:  # RTF_UP
                continue
            if dest == 0 and mask == 0 and gateway and default_gateway is None:
                default_gateway = socket.inet_ntoa(struct.pack("<I", gateway))
            prefix = bin(mask).count("1")
            if wanted & mask == dest and (best is None or (prefix, -metric) > (best[0], -best[1])):
                best = (prefix, metric, iface, dest, gateway)
    result: Dict[str, Any] = {"measured": True, "method": "procfs", "sourceAddress": source,
                              "interface": None, "mac": None, "mtu": None, "addresses": [], "route": None,
                              "defaultGateway": default_gateway}
    if best is not None:
        prefix, _metric, iface, dest, gateway = best
        via = socket.inet_ntoa(struct.pack("<I", gateway)) if gateway else None
        result.update(interface=iface, **interface_details(iface))
        result["route"] = {"destination": "%s/%d" % (socket.inet_ntoa(struct.pack("<I", dest)), prefix),
                           "gateway": via, "onLink": via is None}
    return result


# ---------------------------------------------------------------- probes

class Context:
    """Everything a probe needs: the spec, the engine, the local view, a logger."""

    def __init__(self, spec: Dict[str, Any], engine: str, raw_permitted: bool, local: Dict[str, Any]) -> None:
        self.spec, self.engine, self.raw_permitted, self.local = spec, engine, raw_permitted, local
        self.target: str = spec["target"]
        self.timeout: float = spec["timeout"]
        self.pmtu_finished = threading.Event()
        if "pmtu" not in spec["probes"]:
            self.pmtu_finished.set()

    def echo_transport(self, allow_udp: bool) -> Transport:
        """Raw ICMP for the raw engine; else an ICMP datagram socket, else (if allowed) UDP."""
        if self.engine == "raw":
            return RawIcmp(self.target)
        try:
            return PingSocket(self.target)
        except OSError:
            if not allow_udp:
                raise
            return UdpProbe(self.target, TRACEROUTE_BASE_PORT)


def not_measured(reason: str, **extra: Any) -> Dict[str, Any]:
    return dict({"measured": False, "reason": reason}, **extra)


def probe_icmp(ctx: Context) -> Dict[str, Any]:
    count = ctx.spec["count"]
    transport = ctx.echo_transport(allow_udp=False)
    try:
        for seq in range(count):
            transport.send(seq)
        events = transport.collect(time.monotonic() + ctx.timeout,
                                   lambda found: sum(e.icmp_type is None for e in found.values()) >= count)
    finally:
        transport.close()
    replies = [e for e in events.values() if e.icmp_type is None]
    rtts = [transport.rtt(e) for e in replies]
    summary = {"min": min(rtts), "avg": round(sum(rtts) / len(rtts), 3), "max": max(rtts)} if rtts else None
    return {"measured": True, "method": transport.method, "sent": len(transport.sent),
            "received": len(replies), "lossPercent": round(100.0 * (count - len(replies)) / count, 1),
            "rttMs": summary,
            "replyTtl": replies[0].ttl if replies else None,
            "replyFrom": replies[0].source if replies else None,
            "icmpErrors": [icmp_error(e) for e in events.values() if e.icmp_type is not None]}


def probe_traceroute(ctx: Context) -> Dict[str, Any]:
    """All TTLs at once; done when the path's end is known and every TTL before it answered."""
    transport = ctx.echo_transport(allow_udp=True)

    def end_ttl(found: Dict[int, Event]) -> Optional[int]:
        ends = [ttl for ttl, e in found.items()
                if reached_target(e, ctx.target) or e.icmp_type == ICMP_UNREACHABLE]
        return min(ends) if ends else None

    def finished(found: Dict[int, Event]) -> bool:
        end = end_ttl(found)
        return end is not None and all(ttl in found for ttl in range(1, end))

    if isinstance(transport, UdpProbe):
        # Every probe past the target draws a rate-limited port unreachable from it; let pmtu,
        # which needs a few, go first (it takes one round trip on a healthy path).
        ctx.pmtu_finished.wait(ctx.timeout)
    try:
        for ttl in range(1, ctx.spec["maxHops"] + 1):
            transport.send(ttl, ttl=ttl)
        events = transport.collect(time.monotonic() + ctx.timeout, finished)
    finally:
        transport.close()
    end = end_ttl(events)
    last = end if end is not None else max(events, default=0)
    hops = []
    for ttl in range(1, last + 1):
        event = events.get(ttl)
        hop: Dict[str, Any] = {"ttl": ttl, "address": event.source if event else None,
                               "rttMs": transport.rtt(event) if event else None, "icmpError": None}
        if event is not None and event.icmp_type not in (None, ICMP_TIME_EXCEEDED):
            hop["icmpError"] = icmp_error(event)
        hops.append(hop)
    reached = end is not None and reached_target(events[end], ctx.target)
    return {"measured": True, "method": transport.method, "maxHops": ctx.spec["maxHops"], "hops": hops,
            "reached": reached, "reachedAtTtl": end if reached else None}


Outcome = Tuple[int, str, Optional[Event]]  # probe size, outcome name, what answered


def pmtu_round(ctx: Context, transport: Transport, sizes: List[int]) -> List[Outcome]:
    """Send every size at once with DF; wait until each is answered or the timeout passes."""
    refused = {size: transport.send(size, size=size) for size in sizes}
    events = transport.collect(time.monotonic() + ctx.timeout,
                               lambda found: all(s in found or refused[s] for s in sizes))
    outcomes = []
    for size in sizes:
        event = events.get(size)
        if refused[size]:
            outcome = "tooBigLocally"
        elif event is None:
            outcome = "noAnswer"
        else:
            outcome = "passed" if reached_target(event, ctx.target) else icmp_error(event)["name"]
        outcomes.append((size, outcome, event))
    return outcomes


def pmtu_next_sizes(sizes: PmtuState) -> List[int]:
    """Sizes worth a further round, or [] once the answer is as exact as it will get."""
    passed, failed, reported = sizes.passed, sizes.failed, sizes.reported
    if passed is None or failed is None or failed - passed <= 1 or reported == passed:
        return []  # nothing passed (unreachable), nothing failed, or the bound is tight
    if reported is not None and passed < reported < failed:
        return [reported]  # a router told us; confirm it
    ladder = [s for s in PMTU_LADDER if passed < s < failed and s not in sizes.tried]
    if ladder:
        return ladder  # no router said: an ICMP black hole; try the common MTUs at once
    return sorted({passed + (failed - passed) * i // 9 for i in range(1, 9)} - {passed}, reverse=True)


class PmtuState:
    """What the pmtu rounds have learnt so far."""

    def __init__(self) -> None:
        self.tried: Dict[int, str] = {}  # size -> outcome
        self.reports: List[Event] = []  # fragmentation-needed errors, which carry the next-hop MTU

    @property
    def passed(self) -> Optional[int]:
        """Largest size that reached the target."""
        return max((s for s, outcome in self.tried.items() if outcome == "passed"), default=None)

    @property
    def failed(self) -> Optional[int]:
        """Smallest size above `passed` that did not."""
        passed = self.passed or 0
        return min((s for s, seen in self.tried.items() if seen != "passed" and s > passed), default=None)

    @property
    def report(self) -> Optional[Event]:
        return min(self.reports, key=lambda e: e.mtu or 0, default=None)

    @property
    def reported(self) -> Optional[int]:
        return self.report.mtu if self.report else None


def probe_pmtu(ctx: Context) -> Dict[str, Any]:
    """Rounds of parallel DF probes: the interface MTU (and a small size, to tell a black hole from an
    unreachable target), then the MTU a router reported, or common MTUs and a bisection.

    Few probes per round matter for the UDP transport: each one that passes costs a port
    unreachable from the target, which the kernel rate-limits (burst of 6 per second).
    """
    interface_mtu: int = ctx.local.get("mtu") or 1500
    transport = ctx.echo_transport(allow_udp=True)
    state = PmtuState()
    probes: List[Dict[str, Any]] = []
    sizes = sorted({interface_mtu, min(interface_mtu, PMTU_LADDER[-1])}, reverse=True)
    try:
        for _round in range(PMTU_ROUNDS):
            for size, outcome, event in pmtu_round(ctx, transport, sizes):
                state.tried[size] = outcome
                rtt = transport.rtt(event) if event else None
                probes.append({"size": size, "outcome": outcome, "rttMs": rtt})
                if event is not None and event.mtu:
                    state.reports.append(event)
            sizes = pmtu_next_sizes(state)
            if not sizes:
                break
    finally:
        transport.close()
    passed, report = state.passed, state.report
    exact = passed is not None and (
        passed == interface_mtu or state.failed == passed + 1 or state.reported == passed)
    return {"measured": True, "method": transport.method, "interfaceMtu": interface_mtu, "pathMtu": passed,
            "exact": exact, "reportedMtu": state.reported, "reportedBy": report.source if report else None,
            "probes": probes}


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


# ---------------------------------------------------------------- engine and run

def raw_sockets_permitted() -> Tuple[bool, str]:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        return True, "raw sockets permitted"
    except OSError as exc:
        return False, "raw sockets not permitted (%s); they need CAP_NET_RAW" % (exc.strerror or exc)


def ping_socket_reason() -> str:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as handle:
            allowed = " ".join(handle.read().split())
    except OSError:
        allowed = "unknown"
    return ("ICMP datagram sockets are not permitted for gid %d (net.ipv4.ping_group_range = %s); "
            "the unprivileged engine cannot send echo requests" % (os.getgid(), allowed))


def probe_plan(ctx: Context) -> Dict[str, Callable[[], Dict[str, Any]]]:
    """Per probe, the callable that measures it under this engine, or explains why it cannot."""
    needs_raw = "raw engine requested but " + raw_sockets_permitted()[1]

    def unavailable(reason: str) -> Callable[[], Dict[str, Any]]:
        return lambda: not_measured(reason)

    def icmp() -> Dict[str, Any]:
        try:
            return probe_icmp(ctx)
        except PermissionError:
            return not_measured(ping_socket_reason())

    plan: Dict[str, Callable[[], Dict[str, Any]]] = {
        "local": lambda: dict(ctx.local), "icmp": icmp, "udp": lambda: probe_udp(ctx),
        "traceroute": lambda: probe_traceroute(ctx), "pmtu": lambda: probe_pmtu(ctx),
        "tcp": lambda: probe_tcp_raw(ctx) if ctx.engine == "raw" else probe_tcp_connect(ctx),
        "arp": lambda: probe_arp(ctx) if ctx.engine == "raw" else not_measured(
            "ARP needs a packet socket (CAP_NET_RAW); the unprivileged engine can neither send nor see ARP"),
    }
    if ctx.engine == "raw" and not ctx.raw_permitted:
        plan.update({name: unavailable(needs_raw) for name in ("icmp", "tcp", "traceroute", "arp", "pmtu")})
    return plan


def run(spec: Dict[str, Any], log: Callable[[str], None]) -> Dict[str, Any]:
    """Measure every requested probe, in parallel threads, within budget_seconds(spec)."""
    started = time.monotonic()
    budget = budget_seconds(spec)
    raw_permitted, why = raw_sockets_permitted()
    engine = spec["engine"] if spec["engine"] != "auto" else ("raw" if raw_permitted else "unprivileged")
    log("engine %s (%s%s)" % (engine, "auto: " if spec["engine"] == "auto" else "", why))
    try:
        local = probe_local(spec["target"], spec["port"])
    except (OSError, ValueError, IndexError) as exc:  # no /proc/net/route: other probes go without
        local = not_measured("could not read the local network view: %s" % exc)
    ctx = Context(spec, engine, raw_permitted, local)
    plan = probe_plan(ctx)
    results: Dict[str, Dict[str, Any]] = {}

    def measure(name: str) -> None:
        begun = time.monotonic()
        try:
            results[name] = plan[name]()
        except Exception as exc:  # one broken probe must not cost the others their result
            results[name] = not_measured("%s failed: %s: %s" % (name, type(exc).__name__, exc))
        finally:
            if name == "pmtu":
                ctx.pmtu_finished.set()
        outcome = "measured" if results[name]["measured"] else "not measured: " + results[name]["reason"]
        log("%s %s in %.3fs" % (name, outcome, time.monotonic() - begun))

    threads = [threading.Thread(target=measure, args=(name,), daemon=True) for name in spec["probes"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, started + budget - time.monotonic()))
    probes = {name: results.get(name) or not_measured("did not finish within the %.1fs budget" % budget)
              for name in spec["probes"]}
    return {"apiVersion": API_VERSION, "kind": "ProbeResult", "engine": engine, "engineReason": why,
            "target": spec["target"], "spec": spec, "budgetSeconds": budget,
            "durationSeconds": round(time.monotonic() - started, 3), "probes": probes}


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    lock = threading.Lock()

    def log(line: str) -> None:
        with lock:
            sys.stderr.write("kdiag-agent: %s\n" % line)
            sys.stderr.flush()

    if len(args) != 1:
        log("usage: agent '<spec json>' (exactly one argument, got %d)" % len(args))
        return 2
    try:
        spec = parse_spec(args[0])
    except SpecError as exc:
        log("error: %s" % exc)
        return 2
    try:
        result = run(spec, log)
    except Exception as exc:  # a bug outside any probe: say so on one line, no traceback
        log("internal error: %s: %s" % (type(exc).__name__, exc))
        return 3
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
