"""The local network view (the `local` probe): source address, main-table route, interface facts."""

from __future__ import annotations

import fcntl
import socket
import struct
from typing import Any, Dict, Optional, Tuple

from .packets import SIOCGIFADDR, SIOCGIFHWADDR, SIOCGIFMTU, SIOCGIFNETMASK


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
