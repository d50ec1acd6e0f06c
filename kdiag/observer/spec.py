# ruff: noqa: UP006, UP031, UP035
# Shipped to nodes and run there on Python 3.8+, like kdiag/agent: no 3.10 syntax upgrades.
"""The observer's spec: one JSON object naming the probe's flow, the interfaces of the expected
path on this node, the encapsulations to expect and the capture window. Validated here, defaults
filled in, so the rest of the observer reads a complete dict."""

from __future__ import annotations

import json
import socket
from typing import Any, Dict, List, Set

PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17}
ROLES = ("podVeth", "bridge", "tunnel", "underlay", "other")
# UDP destination ports each encapsulation uses when the spec names none: the IANA ports.
# flannel's and Cilium's VXLAN use 8472 (the Linux default), Calico's 4789: kdiag passes the port.
ENCAPSULATION_PORTS = {"vxlan": 4789, "geneve": 6081}
ENCAPSULATIONS = ("vxlan", "geneve", "ipip")
DEFAULTS: Dict[str, Any] = {"window": 2.0, "maxPackets": 200, "snapLength": 256, "peers": [],
                            "encapsulations": [], "routes": {}, "node": ""}
KEYS = {"flow", "interfaces", *DEFAULTS}
MAX_WINDOW = 60.0
MAX_INTERFACES = 16


class SpecError(ValueError):
    """The spec is not valid; the message names the offending key."""


def _ipv4(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise SpecError("%s must be an IPv4 address" % key)
    try:
        socket.inet_pton(socket.AF_INET, value)
    except OSError:
        raise SpecError("%s must be an IPv4 address, not %r" % (key, value)) from None
    return value


def _integer(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError("%s must be an integer from %d to %d" % (key, low, high))
    return value


def _object(value: Any, key: str, allowed: Set[str]) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError("%s must be a JSON object" % key)
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise SpecError("unknown %s key(s): %s" % (key, ", ".join(unknown)))
    return value


def _interface_name(value: Any, key: str) -> str:
    # IFNAMSIZ is 16 bytes with the NUL; '/' and whitespace can never be in a Linux interface name.
    if not isinstance(value, str) or not 0 < len(value) < 16 or any(c in value for c in "/ \t\n:"):
        raise SpecError("%s must be a Linux interface name" % key)
    return value


def parse_flow(value: Any) -> Dict[str, Any]:
    flow = dict(_object(value, "spec.flow", {"protocol", "src", "srcPrefix", "dst", "srcPort", "dstPort"}))
    if flow.get("protocol") not in PROTOCOLS:
        raise SpecError("spec.flow.protocol must be one of: %s" % ", ".join(PROTOCOLS))
    flow["src"] = _ipv4(flow.get("src"), "spec.flow.src")
    flow["dst"] = _ipv4(flow.get("dst"), "spec.flow.dst")
    # The source as a prefix: the probe pod's own address is known only once it runs, its node's
    # podCIDR before. 32 (the default) is the address itself.
    flow["srcPrefix"] = _integer(flow.get("srcPrefix", 32), "spec.flow.srcPrefix", 8, 32)
    if flow["protocol"] == "icmp":
        if "srcPort" in flow or "dstPort" in flow:
            raise SpecError("spec.flow: an icmp flow has no ports")
    else:
        flow["dstPort"] = _integer(flow.get("dstPort"), "spec.flow.dstPort", 1, 65535)
        if flow.get("srcPort") is not None:
            flow["srcPort"] = _integer(flow["srcPort"], "spec.flow.srcPort", 1, 65535)
        flow.setdefault("srcPort", None)
    return flow


def parse_interfaces(value: Any) -> List[Dict[str, str]]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_INTERFACES:
        raise SpecError("spec.interfaces must be a list of 1 to %d interfaces" % MAX_INTERFACES)
    interfaces = []
    for index, item in enumerate(value):
        key = "spec.interfaces[%d]" % index
        entry = _object(item, key, {"name", "role"})
        role = entry.get("role", "other")
        if role not in ROLES:
            raise SpecError("%s.role must be one of: %s" % (key, ", ".join(ROLES)))
        interfaces.append({"name": _interface_name(entry.get("name"), key + ".name"), "role": role})
    names = [entry["name"] for entry in interfaces]
    if len(set(names)) != len(names):
        raise SpecError("spec.interfaces names an interface twice")
    return interfaces


def parse_encapsulations(value: Any) -> List[Dict[str, Any]]:
    if not isinstance(value, list):
        raise SpecError("spec.encapsulations must be a list")
    found = []
    for index, item in enumerate(value):
        key = "spec.encapsulations[%d]" % index
        entry = dict(_object(item, key, {"type", "port"}))
        kind = entry.get("type")
        if kind not in ENCAPSULATIONS:
            raise SpecError("%s.type must be one of: %s" % (key, ", ".join(ENCAPSULATIONS)))
        if kind == "ipip":
            if "port" in entry:
                raise SpecError("%s: IP-in-IP has no port" % key)
        else:
            entry["port"] = _integer(entry.get("port", ENCAPSULATION_PORTS[kind]), key + ".port", 1, 65535)
        if entry not in found:
            found.append(entry)
    return found


def parse_routes(value: Any) -> Dict[str, Dict[str, str]]:
    """Per direction, the interface the packet arrives on at this node (`iif`) when the node forwards
    it; `ip route get` then asks the forwarding path (rp_filter, ip_forward) rather than the local one.
    The iif need not be one of the captured interfaces."""
    routes = _object(value, "spec.routes", {"request", "reply"})
    parsed = {}
    for direction, item in routes.items():
        key = "spec.routes.%s" % direction
        entry = _object(item, key, {"iif"})
        if "iif" in entry:
            parsed[direction] = {"iif": _interface_name(entry["iif"], key + ".iif")}
    return parsed


def parse_spec(text: str) -> Dict[str, Any]:
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise SpecError("spec is not valid JSON: %s" % error) from None
    if not isinstance(raw, dict):
        raise SpecError("spec must be a JSON object")
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise SpecError("unknown spec key(s): %s" % ", ".join(unknown))
    spec = dict(DEFAULTS, **raw)
    spec["flow"] = parse_flow(raw.get("flow"))
    spec["interfaces"] = parse_interfaces(raw.get("interfaces"))
    spec["encapsulations"] = parse_encapsulations(spec["encapsulations"])
    spec["routes"] = parse_routes(spec["routes"])
    window = spec["window"]
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 < window <= MAX_WINDOW:
        raise SpecError("spec.window must be a number of seconds, 0 < window <= %g" % MAX_WINDOW)
    spec["window"] = float(window)
    spec["maxPackets"] = _integer(spec["maxPackets"], "spec.maxPackets", 1, 10000)
    spec["snapLength"] = _integer(spec["snapLength"], "spec.snapLength", 64, 65535)
    if not isinstance(spec["peers"], list):
        raise SpecError("spec.peers must be a list of IPv4 addresses")
    spec["peers"] = [_ipv4(peer, "spec.peers[%d]" % i) for i, peer in enumerate(spec["peers"])]
    if not isinstance(spec["node"], str):
        raise SpecError("spec.node must be a string")
    return spec
