"""Socket transports that send numbered probes and report what came back: a raw ICMP socket (raw
engine), an ICMP datagram socket and UDP with IP_RECVERR (unprivileged engine)."""

from __future__ import annotations

import errno
import random
import select
import socket
import struct
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .packets import (
    ECHO_SIZE,
    ICMP_ECHO,
    ICMP_ECHO_REPLY,
    ICMP_TIME_EXCEEDED,
    ICMP_UNREACHABLE,
    IP_MTU_DISCOVER,
    IP_PMTUDISC_PROBE,
    IP_RECVERR,
    IP_RECVTTL,
    IP_TTL,
    MSG_ERRQUEUE,
    SO_EE_ORIGIN_ICMP,
    Event,
    icmp_echo,
    ms,
    split_ip,
)


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
