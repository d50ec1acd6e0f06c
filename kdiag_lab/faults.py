"""Break the lab on purpose, and put it back. For tests and for learning (see docs/lab.md).

Each function makes one change inside one lab namespace and returns a `Fault` whose `undo()` restores
exactly what was there (routes are saved with `ip route save` and put back with `ip route restore`,
so attributes survive the round trip). A Fault is also a context manager:

    with faults.drop(net.pod_ns("default/web"), "tcp", 8080):
        ...  # connections to :8080 in that pod now time out
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
from collections.abc import Callable
from types import TracebackType

from kdiag_lab import netns
from kdiag_lab.topology import BRIDGE_VXLAN, VXLAN_PORT, LabNetwork


class Fault:
    """One injected fault. `undo()` is idempotent."""

    def __init__(self, description: str, undo: Callable[[], None]) -> None:
        self.description = description
        self._undo: Callable[[], None] | None = undo

    @property
    def active(self) -> bool:
        return self._undo is not None

    def undo(self) -> None:
        undo, self._undo = self._undo, None
        if undo is not None:
            undo()

    def __enter__(self) -> Fault:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.undo()

    def __repr__(self) -> str:
        return f"Fault({self.description!r}, active={self.active})"


def _save_routes(ns: str, *selector: str) -> bytes:
    proc = subprocess.run(["ip", "-n", ns, "route", "save", *selector], capture_output=True, check=False)
    if proc.returncode != 0:
        raise netns.NetnsError(f"ip -n {ns} route save {' '.join(selector)}: {proc.stderr.decode().strip()}")
    return proc.stdout


def _restore_routes(ns: str, blob: bytes) -> None:
    # `ip route restore` needs a seekable stdin (it calls ftell), so hand it a file, not a pipe.
    # Routes that already exist (e.g. re-created by the kernel with an address) are reported and
    # skipped by ip itself, so its output is not an error signal.
    with tempfile.TemporaryFile() as f:
        f.write(blob)
        f.seek(0)
        subprocess.run(["ip", "-n", ns, "route", "restore"], stdin=f, capture_output=True, check=False)


_EMPTY_SAVE_LEN = 4  # `ip route save` writes a 4-byte magic header even when nothing matched


def remove_route(ns: str, prefix: str) -> Fault:
    """Delete the route for exactly `prefix` (e.g. a peer podCIDR on a node, or `default` in a pod)."""
    blob = _save_routes(ns, "exact", prefix)
    if len(blob) <= _EMPTY_SAVE_LEN:
        raise ValueError(f"no route for exactly {prefix} in {ns}")
    netns.ip(ns, "route", "del", prefix)
    return Fault(f"[{ns}] removed route {prefix}", lambda: _restore_routes(ns, blob))


def blackhole(ns: str, prefix: str) -> Fault:
    """Route `prefix` into a blackhole (replacing a route for exactly that prefix while active)."""
    blob = _save_routes(ns, "exact", prefix)
    netns.ip(ns, "route", "replace", "blackhole", prefix)

    def undo() -> None:
        netns.ip(ns, "route", "del", "blackhole", prefix, check=False)
        if len(blob) > _EMPTY_SAVE_LEN:
            _restore_routes(ns, blob)

    return Fault(f"[{ns}] blackholed {prefix}", undo)


def _link(ns: str, dev: str) -> dict[str, object]:
    info = json.loads(netns.ip(ns, "-j", "link", "show", "dev", dev).stdout)
    if not info:
        raise ValueError(f"no device {dev} in {ns}")
    entry: dict[str, object] = info[0]
    return entry


def _lab_namespaces(ns: str) -> list[str]:
    """All namespaces of the lab `ns` belongs to (`kdl-<labid>-...`), or just `ns`."""
    parts = ns.split("-", 2)
    if len(parts) == 3 and parts[0] == "kdl":
        return netns.names(f"kdl-{parts[1]}-")
    return [ns]


def set_mtu(ns: str, dev: str, mtu: int) -> Fault:
    """Change a device's MTU (lower it to make large packets fail: the MTU fault of overlays)."""
    old = _link(ns, dev)["mtu"]
    netns.ip(ns, "link", "set", "dev", dev, "mtu", str(mtu))

    def undo() -> None:
        netns.ip(ns, "link", "set", "dev", dev, "mtu", str(old))
        # Senders learned the lower path MTU from ICMP "fragmentation needed" and cache it for
        # 10 minutes; forget it everywhere in the lab, or the fault outlives its undo.
        for other in _lab_namespaces(ns):
            netns.ip(other, "route", "flush", "cache", check=False)

    return Fault(f"[{ns}] {dev} mtu {old} -> {mtu}", undo)


def link_down(ns: str, dev: str) -> Fault:
    """Take a device down. Undo brings it up and restores what the kernel flushed with it:
    routes through it and permanent neighbour entries (flannel.1's VTEP entries, for example)."""
    routes = _save_routes(ns)
    neighbours = json.loads(
        netns.ip(ns, "-j", "neigh", "show", "dev", dev, "nud", "permanent").stdout or "[]"
    )
    netns.ip(ns, "link", "set", "dev", dev, "down")

    def undo() -> None:
        netns.ip(ns, "link", "set", "dev", dev, "up")
        lines = [
            f"neigh replace {n['dst']} lladdr {n['lladdr']} dev {dev} nud permanent"
            for n in neighbours
            if n.get("lladdr")
        ]
        netns.ip_batch(ns, lines)
        _restore_routes(ns, routes)

    return Fault(f"[{ns}] {dev} down", undo)


_PROTOCOLS = ("tcp", "udp", "icmp")


def _table_name() -> str:
    return f"kdiag_fault_{secrets.token_hex(4)}"


def drop(ns: str, protocol: str, port: int | None = None) -> Fault:
    """Drop TCP/UDP traffic to `port` (any port if None) or all ICMP, in and out of namespace `ns`
    and through it when it forwards (a node). Uses its own nftables table, so undo is one delete."""
    if protocol not in _PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(_PROTOCOLS)}")
    if protocol == "icmp":
        if port is not None:
            raise ValueError("icmp has no ports")
        match = "meta l4proto icmp"
    else:
        match = f"meta l4proto {protocol}" + (f" th dport {int(port)}" if port is not None else "")
    table = _table_name()
    chains = "".join(
        f"  chain {hook} {{ type filter hook {hook} priority -10; policy accept; {match} drop; }}\n"
        for hook in ("input", "output", "forward")
    )
    netns.nft(ns, f"table inet {table} {{\n{chains}}}\n")
    what = f"{protocol}" + (f"/{port}" if port is not None else "")

    def undo() -> None:
        netns.nft(ns, f"delete table inet {table}\n")

    return Fault(f"[{ns}] dropping {what}", undo)


def drop_overlay(net: LabNetwork, between: tuple[str, str] | None = None, port: int = VXLAN_PORT) -> Fault:
    """Drop the overlay's UDP port on the underlay switch, between two nodes or between all of them:
    what a cloud security group missing UDP 8472 does to flannel."""
    if net.datapath != BRIDGE_VXLAN:
        raise ValueError(f"datapath {net.datapath} has no overlay")
    match = f"udp dport {int(port)}"
    if between is not None:
        a, b = (net.node(n).underlay_ip for n in between)
        match = f"ip saddr {{ {a}, {b} }} ip daddr {{ {a}, {b} }} " + match
    table = _table_name()
    netns.nft(
        net.switch_ns,
        f"table bridge {table} {{\n  chain forward {{ type filter hook forward priority -10; policy accept;"
        f" {match} drop; }}\n}}\n",
    )
    span = " <-> ".join(between) if between else "all nodes"

    def undo() -> None:
        netns.nft(net.switch_ns, f"delete table bridge {table}\n")

    return Fault(f"[{net.switch_ns}] dropping udp/{port} between {span}", undo)


def replace_route(ns: str, prefix: str, *how: str) -> Fault:
    """Route `prefix` another way (e.g. `via 10.250.0.26`: a detour through another node); undo puts
    the saved route back."""
    blob = _save_routes(ns, "exact", prefix)
    netns.ip(ns, "route", "replace", prefix, *how)

    def undo() -> None:
        netns.ip(ns, "route", "del", prefix, check=False)
        if len(blob) > _EMPTY_SAVE_LEN:
            _restore_routes(ns, blob)

    return Fault(f"[{ns}] {prefix} {' '.join(how)}", undo)


def sysctls(ns: str, values: dict[str, str | int]) -> Fault:
    """Set net.* sysctls in one namespace (ip_forward off, strict rp_filter, proxy_arp off on a
    veth); undo restores the values that were there."""
    keys = list(values)
    out = netns.run_in(ns, ["sysctl", "-n", *keys]).stdout.split("\n")
    old = dict(zip(keys, (line.strip() for line in out), strict=False))
    netns.sysctl(ns, values)
    return Fault(f"[{ns}] {', '.join(f'{k}={v}' for k, v in values.items())}",
                 lambda: netns.sysctl(ns, old))


def reset_forwarded(ns: str, port: int) -> Fault:
    """A node's firewall answering forwarded TCP to `port` with a RST it sends itself (nft `reject with
    tcp reset` in the forward chain): the RST looks like "nothing listens" unless attributed by TTL."""
    table = _table_name()
    netns.nft(ns, f"table inet {table} {{\n  chain forward {{ type filter hook forward priority -10; "
                  f"policy accept; tcp dport {int(port)} reject with tcp reset; }}\n}}\n")
    return Fault(f"[{ns}] tcp/{port} reset while forwarded",
                 lambda: netns.nft(ns, f"delete table inet {table}\n"))
def drop_counted(ns: str, hook: str, match: str) -> Fault:
    """An nftables rule `<match> counter drop` on `hook` (input, output, forward) in namespace `ns`:
    a firewall whose counter shows it dropped something."""
    table = _table_name()
    netns.nft(ns, f"table inet {table} {{\n  chain {hook} {{ type filter hook {hook} priority -10; "
                  f"policy accept; {match} counter drop; }}\n}}\n")
    return Fault(f"[{ns}] {hook}: {match} counter drop",
                 lambda: netns.nft(ns, f"delete table inet {table}\n"))


def remove_fdb(ns: str, dev: str, dst: str) -> Fault:
    """Delete the permanent FDB entries of VXLAN device `dev` that send to underlay address `dst`
    (flannel's per-peer VTEP entry): the tunnel then has nowhere to send that peer's packets."""
    entries = json.loads(subprocess.run(["bridge", "-n", ns, "-j", "fdb", "show", "dev", dev],
                                        capture_output=True, text=True, check=True).stdout or "[]")
    macs = [e["mac"] for e in entries if e.get("dst") == dst]
    if not macs:
        raise ValueError(f"no FDB entry for {dst} on {dev} in {ns}")
    for mac in macs:
        subprocess.run(["bridge", "-n", ns, "fdb", "del", mac, "dev", dev, "dst", dst, "self"], check=True)

    def undo() -> None:
        for mac in macs:
            subprocess.run(["bridge", "-n", ns, "fdb", "append", mac, "dev", dev, "dst", dst, "self",
                            "permanent"], check=False)

    return Fault(f"[{ns}] FDB {dev} -> {dst} removed", undo)
