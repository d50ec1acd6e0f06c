"""What a node observer reported, as the model reads it: the flow's packets per interface and the
node state that decides forwarding (routes, sysctls, neighbours, FDB, drop-rule counters). Pure.

The raw ObserverResult is parsed here and nowhere else (its packets arrive already dissected by
kdiag.observer.decode, in the trace layer, as `Packet`s).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NO_ROUTE_TYPES = ("blackhole", "unreachable", "prohibit", "throw")


@dataclass(frozen=True)
class Packet:
    """One captured packet of the flow (the inner one when encapsulated)."""

    interface: str
    direction: str  # in | out: received on the interface, or sent through it
    src: str
    dst: str
    protocol: str
    encapsulated: bool = False
    icmp_error: bool = False  # an ICMP error about the flow (then src/dst are the quoted packet's)
    timestamp: float = 0.0


@dataclass(frozen=True)
class RouteLookup:
    direction: str  # request | reply
    to: str
    iif: str  # "" for the node's own lookup
    ok: bool
    device: str = ""
    gateway: str = ""
    kind: str = ""  # the route type when not unicast (blackhole, unreachable, ...)
    error: str = ""

    @property
    def routes(self) -> bool:
        return self.ok and self.kind not in NO_ROUTE_TYPES

    def text(self) -> str:
        query = f"ip route get {self.to}" + (f" iif {self.iif}" if self.iif else "")
        if not self.routes:
            return f"`{query}`: {self.error or self.kind or 'no route'}"
        via = f" via {self.gateway}" if self.gateway else ""
        return f"`{query}`: dev {self.device}{via}"


@dataclass(frozen=True)
class FirewallHit:
    source: str  # nftables | iptables-nft | iptables-legacy
    table: str
    chain: str
    rule: str
    packets: int

    def text(self) -> str:
        return f"{self.source} {self.table}/{self.chain}: `{self.rule}` (+{self.packets} packets)"


@dataclass(frozen=True)
class Link:
    name: str
    oper_state: str = ""
    master: str = ""


@dataclass(frozen=True)
class NodeCapture:
    node: str
    captured: bool  # the `any` socket was open for the window
    reason: str = ""
    packets: tuple[Packet, ...] = ()
    links: Mapping[str, Link] = field(default_factory=dict)
    ip_forward: int | None = None
    rp_filter: Mapping[str, int | None] = field(default_factory=dict)
    forwarding: Mapping[str, int | None] = field(default_factory=dict)
    routes: tuple[RouteLookup, ...] = ()
    peer_devices: tuple[str, ...] = ()  # the devices the node reaches the peer nodes through
    neighbours: tuple[tuple[str, str, str], ...] = ()  # (address, MAC, device)
    fdb: tuple[tuple[str, str, str], ...] = ()  # (MAC, underlay dst, device)
    firewall: tuple[FirewallHit, ...] = ()
    uncounted_drop_rules: int = 0

    def rp_filter_of(self, device: str) -> int:
        """The effective value: the larger of conf/all and conf/<device> (as the kernel takes it)."""
        values = [self.rp_filter.get("all"), self.rp_filter.get(device)]
        return max((v for v in values if v is not None), default=0)

    def forwarding_route(self, direction: str) -> RouteLookup | None:
        return next((r for r in self.routes if r.direction == direction and r.iif), None)

    def own_route(self, direction: str) -> RouteLookup | None:
        return next((r for r in self.routes if r.direction == direction and not r.iif), None)


def _route(entry: Mapping[str, Any]) -> RouteLookup:
    query = entry.get("query") or {}
    route = entry.get("route") or {}
    kind = str(route.get("type", "")) if isinstance(route, dict) else ""
    return RouteLookup(str(entry.get("direction", "")), str(query.get("to", "")), str(query.get("iif") or ""),
                       bool(entry.get("ok")), str(route.get("dev", "")), str(route.get("gateway", "")),
                       "" if kind in ("", "unicast", "local") else kind, str(entry.get("error", "")))


def _firewall(netfilter: Mapping[str, Any]) -> tuple[list[FirewallHit], int]:
    hits: list[FirewallHit] = []
    nft = netfilter.get("nftables") or {}
    for g in nft.get("grown") or []:
        hits.append(FirewallHit("nftables", f"{g.get('family')} {g.get('table')}", str(g.get("chain")),
                                str(g.get("rule") or g.get("verdict")), int(g.get("packets", 0))))
    for entry in netfilter.get("iptables") or []:
        for g in entry.get("grown") or []:
            hits.append(FirewallHit(f"iptables-{entry.get('variant')}", str(g.get("table")),
                                    str(g.get("chain")), str(g.get("rule")), int(g.get("packets", 0))))
    return hits, int(nft.get("uncountedDropRules") or 0)


def parse_capture(raw: Mapping[str, Any], packets: Iterable[Packet]) -> NodeCapture:
    """One ObserverResult (and its decoded packets) as a NodeCapture."""
    interfaces = raw.get("interfaces") or []
    anyone: Mapping[str, Any] = next((i for i in interfaces if i.get("name") == "any"), {})
    state = raw.get("nodeState") or {}
    sysctls = state.get("sysctls") or {}
    links = {str(x["name"]): Link(str(x["name"]), str(x.get("operState", "")), str(x.get("master", "")))
             for x in [*(state.get("links") or []), *(i for i in interfaces if "index" in i)]}
    peers = tuple(str((p.get("route") or {}).get("dev", "")) for p in state.get("peerRoutes") or []
                  if p.get("ok"))
    neighbours = tuple((str(n.get("dst", "")), str(n.get("lladdr", "")).lower(), str(n.get("dev", "")))
                       for n in (state.get("neighbours") or {}).get("entries") or [])
    fdb_entries = (state.get("fdb") or {}).get("entries") or []
    fdb = tuple((str(f.get("mac", "")).lower(), str(f.get("dst", "")),
                 str(f.get("ifname") or f.get("dev", ""))) for f in fdb_entries)
    hits, uncounted = _firewall(raw.get("netfilter") or {})
    return NodeCapture(
        node=str(raw.get("node", "")), captured=bool(anyone.get("captured")),
        reason=str(anyone.get("reason", "")),
        packets=tuple(packets), links=links, ip_forward=sysctls.get("ipForward"),
        rp_filter=dict(sysctls.get("rpFilter") or {}), forwarding=dict(sysctls.get("forwarding") or {}),
        routes=tuple(_route(r) for r in state.get("routes") or []), peer_devices=tuple(p for p in peers if p),
        neighbours=neighbours, fdb=fdb, firewall=tuple(hits), uncounted_drop_rules=uncounted)
