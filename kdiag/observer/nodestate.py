# ruff: noqa: UP006, UP031, UP035, UP045
# Shipped to nodes and run there on Python 3.8+, like kdiag/agent: no 3.10 syntax upgrades.
"""The node state that decides where the flow's packets go: `ip route get` both ways, neighbour
and FDB entries for the peers, ip_forward, per-interface forwarding and rp_filter."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Set

from .capture import interface_facts
from .tools import read_sysctl, run_json

MAX_ENTRIES = 64  # neighbours or FDB entries kept: a node may have thousands


def route_get(direction: str, to: str, source: str, iif: Optional[str]) -> Dict[str, Any]:
    """How this node routes a packet `source` -> `to`: as the node's own (no iif) or as one it
    forwards, arriving on `iif` (then rp_filter and forwarding take part, as for the real packet)."""
    argv = ["ip", "-j", "route", "get", to]
    if iif:
        argv += ["from", source, "iif", iif]
    query: Dict[str, Any] = {"to": to, "from": source if iif else None, "iif": iif}
    entry: Dict[str, Any] = {"direction": direction, "query": query, "command": " ".join(argv)}
    routes, error = run_json(argv)
    if isinstance(routes, list) and routes:
        entry.update(ok=True, route=routes[0])
    else:
        entry.update(ok=False, error=error or "no route returned")
    return entry


def routes(spec: Dict[str, Any]) -> List[Dict[str, Any]]:
    flow, asked = spec["flow"], spec["routes"]
    found = []
    for direction, to, source in (("request", flow["dst"], flow["src"]), ("reply", flow["src"], flow["dst"])):
        found.append(route_get(direction, to, source, None))
        iif = asked.get(direction, {}).get("iif")
        if iif:
            found.append(route_get(direction, to, source, iif))
    return found


def sysctls(interfaces: Iterable[str]) -> Dict[str, Any]:
    names = ["all", "default", *interfaces]
    return {
        "ipForward": read_sysctl("net/ipv4/ip_forward"),
        "rpFilter": {name: read_sysctl("net/ipv4/conf/%s/rp_filter" % name) for name in names},
        "forwarding": {name: read_sysctl("net/ipv4/conf/%s/forwarding" % name) for name in names},
    }


def neighbours(addresses: Set[str]) -> Dict[str, Any]:
    entries, error = run_json(["ip", "-j", "neigh", "show"])
    if not isinstance(entries, list):
        return {"available": False, "reason": error, "entries": []}
    kept = [entry for entry in entries if isinstance(entry, dict) and entry.get("dst") in addresses]
    return {"available": True, "entries": kept[:MAX_ENTRIES]}


def fdb(devices: Iterable[str], addresses: Set[str], macs: Set[str]) -> Dict[str, Any]:
    """Forwarding database entries on the listed tunnel and bridge devices that name a peer's
    underlay address (VXLAN `dst`) or a MAC the neighbour table holds for the flow."""
    kept: List[Dict[str, Any]] = []
    errors = []
    for device in devices:
        entries, error = run_json(["bridge", "-j", "fdb", "show", "dev", device])
        if not isinstance(entries, list):
            errors.append("%s: %s" % (device, error))
            continue
        kept += [entry for entry in entries if isinstance(entry, dict)
                 and (entry.get("dst") in addresses or str(entry.get("mac", "")).lower() in macs)]
    found: Dict[str, Any] = {"available": not errors or bool(kept), "entries": kept[:MAX_ENTRIES]}
    if errors:
        found["errors"] = errors
    return found


def links(names: Iterable[str], known: Optional[Dict[str, Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
    """sysfs facts (index, link type, MAC, MTU, state, master) of each named interface that exists
    (`known`: facts read earlier, kept for interfaces gone since)."""
    found = []
    for name in sorted(set(names))[:MAX_ENTRIES]:
        if known and name in known:
            found.append(known[name])
            continue
        try:
            found.append(dict(interface_facts(name), name=name))
        except OSError:
            continue
    return found


def peer_routes(peers: Iterable[str]) -> List[Dict[str, Any]]:
    """`ip route get PEER` for each peer: the device this node reaches it through (its underlay)."""
    found = []
    for peer in peers:
        argv = ["ip", "-j", "route", "get", peer]
        routes, error = run_json(argv)
        entry: Dict[str, Any] = {"to": peer, "command": " ".join(argv)}
        if isinstance(routes, list) and routes:
            entry.update(ok=True, route=routes[0])
        else:
            entry.update(ok=False, error=error or "no route returned")
        found.append(entry)
    return found


def snapshot(spec: Dict[str, Any], seen: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The node state after the window; `seen`: facts of the interfaces packets were captured on."""
    flow = spec["flow"]
    names = [entry["name"] for entry in spec["interfaces"]]
    names += [entry["iif"] for entry in spec["routes"].values() if entry["iif"] not in names]
    found_routes = routes(spec)
    gateways = {entry["route"]["gateway"] for entry in found_routes
                if entry.get("ok") and isinstance(entry["route"].get("gateway"), str)}
    addresses = {flow["src"], flow["dst"], *spec["peers"], *gateways}
    neighbour = neighbours(addresses)
    macs = {str(entry.get("lladdr", "")).lower() for entry in neighbour["entries"]} - {""}
    # An FDB on a bridge or VXLAN device: ports of other roles (veths, NICs) list none of interest.
    devices = [entry["name"] for entry in spec["interfaces"] if entry["role"] in ("tunnel", "bridge")]
    state: Dict[str, Any] = {
        "sysctls": sysctls(names),
        "routes": found_routes,
        "neighbours": neighbour,
        "fdb": fdb(devices, addresses, macs),
        "peerRoutes": peer_routes(spec["peers"]),
        "links": links([*(seen or {}), *(name for name in names if name != "any")], seen),
    }
    return state
