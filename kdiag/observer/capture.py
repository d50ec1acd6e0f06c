# ruff: noqa: UP006, UP031, UP035, UP045
# Shipped to nodes and run there on Python 3.8+, like kdiag/agent: no 3.10 syntax upgrades.
"""Packet sockets, one per interface, each running the flow's BPF program: both directions of
the interface, kernel timestamps, the original length, capped per interface."""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import selectors
import socket
import struct
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .bpf import pack

# Linux values; Python's socket module lacks most of them.
ETH_P_ALL, SOL_PACKET, PACKET_AUXDATA, PACKET_STATISTICS = 0x0003, 263, 8, 6
SO_ATTACH_FILTER, SO_TIMESTAMPNS, SO_RCVBUF = 26, 35, 8
TP_STATUS_VLAN_VALID = 0x10
PACKET_TYPES = {0: "host", 1: "broadcast", 2: "multicast", 3: "otherhost", 4: "outgoing"}
PACKET_OUTGOING = 4
LINK_TYPES = {1: "ethernet", 772: "loopback", 768: "ipip", 776: "sit", 778: "gre", 65534: "none"}
AUXDATA = struct.Struct("IIIHHHH")  # struct tpacket_auxdata
TIMESPEC = struct.Struct("qq")
RECEIVE_BUFFER = 1 << 20
ANY = "any"  # as tcpdump's: one socket bound to every interface (ifindex 0), each packet named by its own


def interface_facts(name: str) -> Dict[str, Any]:
    """Index, link type, MAC, MTU, state and bridge master from sysfs (the reader's network namespace)."""
    facts: Dict[str, Any] = {"index": socket.if_nametoindex(name)}
    base = "/sys/class/net/%s/" % name
    with contextlib.suppress(OSError):
        facts["master"] = os.path.basename(os.readlink(base + "master"))
    for key, file, kind in (("arphrd", "type", int), ("mtu", "mtu", int), ("mac", "address", str),
                            ("operState", "operstate", str)):
        try:
            with open(base + file) as handle:
                facts[key] = kind(handle.read().strip())
        except (OSError, ValueError):
            pass
    facts["linkType"] = LINK_TYPES.get(facts.get("arphrd", -1), "other")
    return facts


def attach_filter(sock: socket.socket, program: List[Tuple[int, int, int, int]]) -> None:
    code = pack(program)
    buffer = ctypes.create_string_buffer(code, len(code))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }, native alignment.
    fprog = struct.pack("HP", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def bind_all(sock: socket.socket) -> None:
    """bind() to ifindex 0 (every interface): Python's AF_PACKET address takes a name only, and
    looks it up, so the sockaddr_ll goes through libc."""
    address = struct.pack("HHiHBB8s", socket.AF_PACKET, socket.htons(ETH_P_ALL), 0, 0, 0, 0, b"")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.bind(sock.fileno(), ctypes.c_char_p(address), len(address)) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def open_socket(name: str, program: List[Tuple[int, int, int, int]]) -> socket.socket:
    """A packet socket on `name` that sees only what `program` passes, from its first packet on.

    It is created with protocol 0, which receives nothing, and bound to ETH_P_ALL only once the
    filter is attached: no unfiltered packet can slip in between.
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        attach_filter(sock, program)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUF, RECEIVE_BUFFER)
        if name == ANY:
            bind_all(sock)
        else:
            sock.bind((name, ETH_P_ALL))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def read_packet(sock: socket.socket, name: str, snap_length: int) -> Dict[str, Any]:
    data, ancillary, _flags, address = sock.recvmsg(snap_length, 256)
    stamp, length, network, vlan = time.time(), len(data), 0, None
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= TIMESPEC.size:
            seconds, nanoseconds = TIMESPEC.unpack_from(value)
            stamp = seconds + nanoseconds / 1e9
        elif level == SOL_PACKET and kind == PACKET_AUXDATA and len(value) >= AUXDATA.size:
            status, length, _snap, _mac, network, tci, _tpid = AUXDATA.unpack_from(value)
            if status & TP_STATUS_VLAN_VALID:
                vlan = tci & 0x0FFF
    packet_type = address[2]
    record: Dict[str, Any] = {
        "interface": address[0] if name == ANY else name,
        "direction": "out" if packet_type == PACKET_OUTGOING else "in",
        "packetType": PACKET_TYPES.get(packet_type, str(packet_type)),
        "timestamp": round(stamp, 6),
        "length": length,
        "capturedLength": len(data),
        "networkOffset": network,
        "data": base64.b64encode(data).decode("ascii"),
    }
    if vlan is not None:
        record["vlan"] = vlan
    return record


def kernel_drops(sock: socket.socket) -> Optional[int]:
    try:
        _packets, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    except OSError:
        return None
    return int(drops)


def _discard(sock: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        sock.recv(64)


class Capture:
    """Captures on every interface it could open until `run` returns."""

    def __init__(self, interfaces: List[Dict[str, str]], program: List[Tuple[int, int, int, int]],
                 *, max_packets: int, snap_length: int) -> None:
        self.max_packets, self.snap_length = max_packets, snap_length
        self.report: List[Dict[str, Any]] = []
        self.sockets: Dict[str, socket.socket] = {}
        self.packets: List[Dict[str, Any]] = []
        self.counts: Dict[str, int] = {}
        # sysfs facts of each interface the `any` socket saw, read at its first packet: a pod's
        # veth may be gone (the pod deleted) by the time the window ends.
        self.links: Dict[str, Dict[str, Any]] = {}
        for entry in interfaces:
            report: Dict[str, Any] = dict(entry)
            self.report.append(report)
            self.counts[entry["name"]] = 0
            if entry["name"] != ANY and any(other["name"] == ANY for other in interfaces):
                # Already seen through "any": described, not captured twice.
                with contextlib.suppress(OSError):
                    report.update(interface_facts(entry["name"]))
                report.update(captured=False, reason="captured through any")
                if "index" not in report:
                    report["reason"] = "no such interface on this node"
                continue
            if entry["name"] == ANY:
                self.sockets[ANY] = self._open_or_report(report, ANY, program)
                continue
            try:
                report.update(interface_facts(entry["name"]))
            except OSError:
                report.update(captured=False, reason="no such interface on this node")
                continue
            self.sockets[entry["name"]] = self._open_or_report(report, entry["name"], program)
        self.sockets = {name: sock for name, sock in self.sockets.items() if sock is not None}

    @staticmethod
    def _open_or_report(report: Dict[str, Any], name: str,
                        program: List[Tuple[int, int, int, int]]) -> Any:
        try:
            sock = open_socket(name, program)
        except OSError as error:  # no CAP_NET_RAW, most likely
            report.update(captured=False, reason=str(error))
            return None
        report["captured"] = True
        return sock

    def run(self, window: float, stop: Callable[[], bool],
            wake: Optional[socket.socket] = None) -> Tuple[float, float, str]:
        """Capture for `window` seconds, until `stop()` is true, or until every interface reached
        its cap; (start, end) wall-clock times and which of "window", "signal", "allCapped" ended it.
        `wake` (the signal wakeup socket) becoming readable makes the loop look at `stop()` at once."""
        started, ended_by = time.time(), "window"
        deadline = time.monotonic() + window
        selector = selectors.DefaultSelector()
        for name, sock in self.sockets.items():
            selector.register(sock, selectors.EVENT_READ, name)
        if wake is not None:
            selector.register(wake, selectors.EVENT_READ, None)
        try:
            while True:
                remaining = deadline - time.monotonic()
                capturing = [key for key in selector.get_map().values() if key.data is not None]
                if stop():
                    ended_by = "signal"
                elif self.sockets and not capturing:
                    ended_by = "allCapped"
                if ended_by != "window" or remaining <= 0:
                    break
                for key, _events in selector.select(min(remaining, 1.0)):
                    if key.data is None:
                        _discard(key.fileobj)  # type: ignore[arg-type]
                    else:
                        self._drain(selector, key.fileobj, key.data)  # type: ignore[arg-type]
            # Stopped early or at the deadline: what the kernel already queued belongs to the window.
            for key in list(selector.get_map().values()):
                if key.data is not None:
                    self._drain(selector, key.fileobj, key.data)  # type: ignore[arg-type]
        finally:
            selector.close()
        return started, time.time(), ended_by

    def _drain(self, selector: selectors.BaseSelector, sock: socket.socket, name: str) -> None:
        while self.counts[name] < self.max_packets:
            try:
                record = read_packet(sock, name, self.snap_length)
            except BlockingIOError:
                return
            self.packets.append(record)
            if record["interface"] not in self.links:
                with contextlib.suppress(OSError):
                    self.links[record["interface"]] = dict(interface_facts(record["interface"]),
                                                           name=record["interface"])
            self.counts[name] += 1
        selector.unregister(sock)  # the cap: stop reading this interface, keep the others

    def close(self) -> List[Dict[str, Any]]:
        """Close the sockets; the per-interface report, counts and kernel drops filled in."""
        for report in self.report:
            name = report["name"]
            sock = self.sockets.pop(name, None)
            report["packets"] = self.counts[name]
            report["capped"] = self.counts[name] >= self.max_packets
            if sock is not None:
                drops = kernel_drops(sock)
                if drops is not None:
                    report["kernelDrops"] = drops
                sock.close()
        self.packets.sort(key=lambda packet: packet["timestamp"])
        return self.report
