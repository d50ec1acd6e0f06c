"""Which probes a trace runs and on which port: pure planning, no I/O.

The path probes always run (they locate a fault); the L4 check is chosen from --proto, --port and
the ports the destination declares: tcp when a port is known (--port, else DST's first TCP
containerPort), udp on request, none otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kdiag.errors import UsageError
from kdiag.model.path import ExpectedPath
from kdiag.model.targets import Target, target_pod

PATH_PROBES = ("local", "icmp", "traceroute", "arp", "pmtu")
PROTOCOLS = ("icmp", "tcp", "udp")


@dataclass(frozen=True)
class ProbePlan:
    protocol: str  # icmp | tcp | udp: the check the verdict holds the destination to
    port: int | None
    probes: tuple[str, ...]  # what the agent is asked to run, in its order


def _first_port(target: Target, protocol: str) -> int | None:
    pod = target_pod(target)
    for port in pod.ports if pod else ():
        if port.protocol.upper() == protocol.upper():
            return port.port
    return None


def plan_probes(target: Target, *, proto: str | None, port: int | None) -> ProbePlan:
    """The probes for `target`; a tcp/udp check without any port is a usage error (exit 2)."""
    if proto == "icmp":
        return ProbePlan("icmp", None, PATH_PROBES)
    if proto == "udp":
        chosen = port or _first_port(target, "UDP")
        if not chosen:
            raise UsageError("--proto udp needs a port: the destination declares no UDP containerPort",
                             hint="pass --port")
        return ProbePlan("udp", chosen, (*PATH_PROBES, "udp"))
    chosen = port or _first_port(target, "TCP")
    if chosen:
        return ProbePlan("tcp", chosen, (*PATH_PROBES, "tcp"))
    if proto == "tcp":
        raise UsageError("--proto tcp needs a port: the destination declares no TCP containerPort",
                         hint="pass --port")
    return ProbePlan("icmp", None, PATH_PROBES)


def with_waypoints(plan: ProbePlan, path: ExpectedPath) -> ProbePlan:
    """The plan plus the waypoints probe when the expected path passes through addresses worth
    pinging (kdiag.model.waypoints): which of them answer locates a silent drop."""
    if not path.waypoints or "waypoints" in plan.probes:
        return plan
    return replace(plan, probes=(*plan.probes, "waypoints"))
