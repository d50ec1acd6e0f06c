"""What every check works from, what a check is, and the phrases several checks share. Pure.

A check is a small unit: it says when it applies (`applies`), which finding codes it owns and with
which severities (`owns`), and turns the facts of one trace into findings (`run`). No two checks own
the same code; kdiag.model.verdict only runs the applicable ones in registry order and aggregates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kdiag.model.capture import NodeCapture
from kdiag.model.findings import Code, Context, Finding, Severity
from kdiag.model.hops import Spine
from kdiag.model.observed import Observed
from kdiag.model.path import ExpectedPath
from kdiag.model.policy.trace import TracePolicy
from kdiag.model.senders import Sender, rst_sender
from kdiag.model.service_trace import ServiceTrace

_INITIAL_TTLS = (64, 128, 255)  # Linux, Windows, network gear


@dataclass(frozen=True)
class Facts:
    """One trace as the checks see it: the expected path, what was observed, the cluster context."""

    expected: ExpectedPath
    observed: Observed  # the source-side probe
    context: Context
    spine: Spine  # the hops with what was observed at each
    policy: TracePolicy | None = None  # what the NetworkPolicies say (None: not evaluated)
    service: ServiceTrace | None = None  # a trace through a Service: its DNS -> ClusterIP -> endpoints chain
    captures: Mapping[str, NodeCapture] = field(default_factory=dict)  # --observe: by node name
    probe_address: str = ""  # the probe's own source address (the observers' flow)

    @property
    def ip_ok(self) -> bool:
        """ICMP echo answered, or traceroute reached the destination."""
        obs = self.observed
        return (obs.icmp_measured and obs.icmp_received > 0) or obs.reached

    @property
    def reached(self) -> bool:
        """Anything at all came back from the destination (a RST that a node on the way sent, told
        by its TTL, is not the destination's answer: kdiag.model.senders)."""
        obs = self.observed
        rst = obs.tcp_state == "closed" and self.rst_sender is None
        return self.ip_ok or obs.tcp_state == "open" or rst or obs.udp_state in ("open", "closed")

    @property
    def rst_sender(self) -> Sender | None:
        return rst_sender(self.expected, self.observed, self.context)

    @property
    def measured(self) -> bool:
        """At least one probe that can reach the destination ran."""
        obs = self.observed
        probes = obs.icmp_measured or obs.tcp_measured or obs.trace_measured or obs.udp_state
        return obs.valid and bool(probes)


@dataclass(frozen=True)
class Check:
    name: str
    owns: Mapping[Code, tuple[Severity, ...]]
    applies: Callable[[Facts], bool]
    run: Callable[[Facts], list[Finding]]

    def owns_all(self, findings: list[Finding]) -> bool:
        """Every finding has a code this check owns, at a severity it declares."""
        return all(f.severity in self.owns.get(f.code, ()) for f in findings)


def judged_path(facts: Facts) -> bool:
    """The destination answered: the path's shape, L4 and MTU can be judged."""
    return facts.measured and facts.reached


def decrement(ttl: int | None) -> int | None:
    if ttl is None:
        return None
    return next((init - ttl for init in _INITIAL_TTLS if ttl <= init), None)


def where(ctx: Context, address: str | None, exp: ExpectedPath) -> str:
    node = ctx.owner(address)
    if not node:
        return f"{address} (not a cluster node)"
    role = ("the source node" if node == exp.src_node else "the destination node" if node == exp.dst_node
            else "another node")
    return f"{address} ({node}, {role})"


def sender(exp: ExpectedPath, obs: Observed) -> str:
    """A probe pod has its own IP on SRC's node (and none of SRC's labels): say who really sent."""
    addr = obs.source_address
    if not addr or addr == exp.src_ip:
        return ""
    return f"sent from {addr} (the probe on {exp.src_node or '?'}), not from {exp.src_ip}"


def policy_note(exp: ExpectedPath, obs: Observed) -> str:
    if not sender(exp, obs):
        return ""
    return ("; a policy admitting only the source pod's labels also drops the probe pod (it has none of "
            "them): --mode ephemeral probes from the source pod itself")


def destination(facts: Facts) -> str:
    return facts.context.dst_name or facts.expected.dst_ip
