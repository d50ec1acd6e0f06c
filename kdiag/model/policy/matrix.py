"""The allowed/denied truth table for every ordered pod pair, as bit masks over the pods.

The same semantics as `evaluate` (a unit test holds the two to agree cell by cell), computed so
1,000 x 1,000 pods stays well under ten seconds: selectors, ipBlocks and named ports become masks
once (`masks.MaskIndex`); a rule is the AND of its peer and port masks, a pod's NetworkPolicy tier
the OR of its selecting policies' rules, and the admin tiers walk a mask of peers not yet decided.
A cell needs SRC's egress bit and DST's ingress bit, so the ingress masks are transposed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kdiag.model.objects import PodInfo
from kdiag.model.policy.admin import admin_selects
from kdiag.model.policy.cni import unknown_reasons
from kdiag.model.policy.masks import MaskIndex, Masks
from kdiag.model.policy.matching import selects
from kdiag.model.policy.objects import EGRESS, INGRESS, AdminNetworkPolicy, NetworkPolicy, PolicySet


@dataclass(frozen=True)
class PolicyMatrix:
    pods: tuple[str, ...]  # ns/name, the order of rows and columns
    port: int
    protocol: str
    allowed: tuple[int, ...]  # allowed[s] bit d: SRC s may reach DST d
    unknown: tuple[int, ...]  # unknown[s] bit d: cannot tell (null in JSON)
    reasons: tuple[str, ...] = ()

    def cell(self, src: int, dst: int) -> bool | None:
        if self.unknown[src] >> dst & 1:
            return None
        return bool(self.allowed[src] >> dst & 1)

    def row(self, src: int) -> list[bool | None]:
        bits = format(self.allowed[src], f"0{len(self.pods)}b")[::-1] if self.pods else ""
        unknown = format(self.unknown[src], f"0{len(self.pods)}b")[::-1] if self.pods else ""
        return [None if u == "1" else a == "1" for a, u in zip(bits, unknown, strict=True)]


def _transpose(rows: Sequence[int], n: int) -> list[int]:
    if n == 0:
        return []
    strings = [format(r, f"0{n}b")[::-1] for r in rows]  # character j is bit j
    return [int("".join(column)[::-1], 2) for column in zip(*strings, strict=True)]


class _Engine:
    def __init__(self, pods: Sequence[PodInfo], policies: PolicySet, port: int, protocol: str) -> None:
        self.ix = MaskIndex(pods, policies, port, protocol)
        self.pods, self.policies = pods, policies
        self.admins = sorted(policies.admin_policies, key=lambda p: (p.priority, p.name))
        self.by_namespace: dict[str, list[NetworkPolicy]] = {}
        for policy in policies.network_policies:
            self.by_namespace.setdefault(policy.namespace, []).append(policy)
        self.host_on_node: dict[str, int] = {}
        for i, pod in enumerate(pods):
            if pod.host_network and pod.node_name:
                self.host_on_node[pod.node_name] = self.host_on_node.get(pod.node_name, 0) | 1 << i
        self.reasons: dict[str, None] = {}
        self._unknown_ns: dict[str, bool] = {}

    def _namespace_unknown(self, namespace: str) -> bool:
        if namespace not in self._unknown_ns:
            reasons = unknown_reasons(self.policies, namespace)
            self.reasons.update(dict.fromkeys(reasons))
            self._unknown_ns[namespace] = bool(reasons)
        return self._unknown_ns[namespace]

    def _for_subject(self, masks: tuple[Masks, int], direction: str, i: int) -> Masks:
        (sure, unsure), ports = masks
        if direction == EGRESS:
            return sure & ports, unsure & ports
        return (sure, unsure) if ports >> i & 1 else (0, 0)

    def _admin_walk(self, tier: Sequence[AdminNetworkPolicy], pod: PodInfo, i: int, direction: str,
                    remaining: int, acc: list[int]) -> tuple[int, bool]:
        """Walk admin policies over `remaining`; acc = [allow, deny, passed, unknown]. Returns
        (still remaining, whether any policy selected the pod)."""
        consulted = False
        for policy in tier:
            rules = policy.rules(direction)
            if not rules or not remaining:
                continue
            chosen = admin_selects(policy.subject, pod, self.policies)
            if chosen is False:
                continue
            consulted = True
            if chosen is None:
                acc[3] |= remaining
                self.reasons[f"cannot tell whether {policy.kind} {policy.name} selects pods in namespace "
                             f"{pod.namespace}: its labels could not be read"] = None
                return 0, consulted
            for rule in rules:
                sure, unsure = self._for_subject((self.ix.admin_rule(rule)), direction, i)
                hit_unsure = unsure & remaining
                acc[3] |= hit_unsure
                hit = sure & remaining
                remaining &= ~(hit | hit_unsure)
                passes = rule.action == "Pass" and not policy.baseline
                slot = 0 if rule.action == "Allow" else 2 if passes else 1
                acc[slot] |= hit
        return remaining, consulted

    def direction(self, i: int, direction: str) -> Masks:
        """(allowed, unknown) masks over the peers of pod i in `direction`."""
        pod, ix = self.pods[i], self.ix
        always = 1 << i | self.host_on_node.get(pod.node_name, 0) if pod.node_name else 1 << i
        if self._namespace_unknown(pod.namespace):
            return always, ix.all & ~always
        acc = [0, 0, 0, 0]  # allow, deny, passed, unknown
        remaining, consulted = ix.all, False
        if not pod.host_network:
            remaining, consulted = self._admin_walk(self.admins, pod, i, direction, remaining, acc)
        to_np = remaining | acc[2]
        chosen = [p for p in self.by_namespace.get(pod.namespace, ())
                  if direction in p.types and selects(p.pod_selector, pod.labels)]
        if chosen:
            if pod.host_network:
                return always, ix.all & ~always
            consulted = True
            sure = unsure = 0
            for policy in chosen:
                for index, rule in enumerate(policy.rules(direction)):
                    key = (id(policy), direction, index)
                    s, u = self._for_subject(ix.rule(key, rule, policy.namespace), direction, i)
                    sure, unsure = sure | s, unsure | u
            acc[0] |= to_np & sure
            acc[3] |= to_np & unsure & ~sure
        elif self.policies.baseline is not None and not pod.host_network:
            left, selected = self._admin_walk([self.policies.baseline], pod, i, direction, to_np, acc)
            consulted = consulted or selected
            acc[0] |= left
        else:
            acc[0] |= to_np
        unknown = acc[3]
        if consulted and ix.host_network:
            unknown |= ix.host_network
        allowed = (acc[0] & ~unknown) | always
        return allowed, unknown & ~always


def matrix(pods: Sequence[PodInfo], *, port: int, protocol: str, policies: PolicySet) -> PolicyMatrix:
    """allowed[SRC][DST] for every ordered pair of `pods` (the diagonal too: always allowed)."""
    protocol = protocol.upper()
    engine = _Engine(pods, policies, port, protocol)
    n, everything = len(pods), engine.ix.all
    egress = [engine.direction(i, EGRESS) for i in range(n)]
    ingress = [engine.direction(i, INGRESS) for i in range(n)]
    in_allowed = _transpose([a for a, _u in ingress], n)
    in_denied = _transpose([everything & ~a & ~u for a, u in ingress], n)
    allowed_rows, unknown_rows = [], []
    for s in range(n):
        e_allowed, e_unknown = egress[s]
        denied = (everything & ~e_allowed & ~e_unknown) | in_denied[s]
        allowed = e_allowed & in_allowed[s] & ~denied
        allowed_rows.append(allowed)
        unknown_rows.append(everything & ~denied & ~allowed)
    if engine.ix.host_network:
        note = "host-network pods: whether pod selectors match their traffic is up to the plugin"
        engine.reasons[note] = None
    return PolicyMatrix(tuple(p.key for p in pods), port, protocol, tuple(allowed_rows), tuple(unknown_rows),
                        tuple(engine.reasons))
