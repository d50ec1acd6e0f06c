"""Everything a trace observed, parsed once and keyed by where it was seen. Pure: no I/O.

An `ObservationPoint` is (node, device, direction, by): the source-side probe agent sends from the
source's eth0 on its node (by "probe"); the node observers of the observation issue will add points
on the nodes' devices (by "observer"). The raw documents are parsed here and nowhere else; what
travels on is `Observations`, never a dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kdiag.model.capture import NodeCapture
from kdiag.model.observed import Observed, decode_probe_result

PointDirection = Literal["egress", "ingress"]
PROBE = "probe"  # `by` of the source-side agent (a probe pod on SRC's node, or inside SRC)


@dataclass(frozen=True)
class ObservationPoint:
    node: str  # "" when not known
    device: str  # eth0, veth..., cni0, flannel.1, the node NIC
    direction: PointDirection  # which way the packets of interest cross the device
    by: str  # probe | observer

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node or None, "device": self.device, "direction": self.direction, "by": self.by}


@dataclass(frozen=True)
class Observation:
    point: ObservationPoint
    probe: Observed  # what the agent measured there (the node observers will add a capture variant)


@dataclass(frozen=True)
class Observations:
    items: tuple[Observation, ...] = ()
    captures: tuple[NodeCapture, ...] = ()  # --observe: one per node observer

    def captured(self) -> dict[str, NodeCapture]:
        return {c.node: c for c in self.captures}

    def at(self, point: ObservationPoint) -> Observation | None:
        return next((o for o in self.items if o.point == point), None)

    @property
    def source(self) -> Observed:
        """What the source-side probe saw; `valid=False` when no ProbeResult came back."""
        return next((o.probe for o in self.items if o.point.by == PROBE), Observed(valid=False))

    @property
    def source_point(self) -> ObservationPoint | None:
        return next((o.point for o in self.items if o.point.by == PROBE), None)


def parse_observations(probe_result: Mapping[str, Any], *, source_node: str,
                       captures: tuple[NodeCapture, ...] = ()) -> Observations:
    """The source-side ProbeResult, placed at the source's sending device on its node (and what the
    node observers captured, with --observe)."""
    probe = decode_probe_result(probe_result)
    point = ObservationPoint(source_node, probe.local_interface or "eth0", "egress", PROBE)
    return Observations((Observation(point, probe),), captures)
