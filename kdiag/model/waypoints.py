"""The addresses the expected path passes through, which the probe also pings. Pure: no I/O.

When the destination does not answer, which of these did tells the faults of a node apart from
the source side alone: a node answers on its own addresses without forwarding anything (so its own
address answering while the pod behind it does not points at its forwarding, not at the wire), and
the far end of a tunnel answering proves the tunnel carries packets both ways. Each waypoint is
tied to the hop it stands for; kdiag.model.checks.waypoints reasons from the answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from kdiag.model.objects import NodeInfo

# src-node: the source node's own address (answers without forwarding: the node's stack is up);
# tunnel: the destination node's overlay device (answered only through the tunnel, both ways);
# bridge: the destination node's bridge / gateway address (behind the tunnel, before forwarding);
# dst-node: the destination node's own address, reached directly on the underlay, not encapsulated.
Role = Literal["src-node", "tunnel", "bridge", "dst-node"]
ROLES: tuple[Role, ...] = ("src-node", "tunnel", "bridge", "dst-node")


@dataclass(frozen=True)
class Waypoint:
    address: str
    role: Role
    node: str

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "role": self.role, "node": self.node}


def tunnel_address(node: NodeInfo | None, *, annotations: tuple[str, ...], at_network_address: bool,
                   network_address: str) -> str:
    """The overlay device's own address on `node`: a node annotation, else the podCIDR's .0."""
    values = node.annotations if node is not None else {}
    found = next((values[key].split("/")[0] for key in annotations if values.get(key)), "")
    return found or (network_address if at_network_address else "")


def waypoints(candidates: Iterable[tuple[str, Role, str]], *, exclude: Iterable[str]) -> tuple[Waypoint, ...]:
    """Each address once, in path order, leaving out the trace's own ends."""
    skip, out, seen = set(exclude), [], set()
    for address, role, node in candidates:
        if address and address not in skip and address not in seen:
            seen.add(address)
            out.append(Waypoint(address, role, node))
    return tuple(out)
