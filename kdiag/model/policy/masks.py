"""Masks over a list of pods: bit i stands for pod i. Every selector, ipBlock and named port is
matched once per pod (or once per namespace), cached by value, so the matrix costs bit operations."""

from __future__ import annotations

from collections.abc import Sequence

from kdiag.model.objects import PodInfo
from kdiag.model.policy.matching import in_cidr, in_ip_block, named_port, selects, selects_namespace
from kdiag.model.policy.objects import (
    AdminPeer,
    AdminRule,
    IPBlock,
    LabelSelector,
    NamespacedPods,
    Peer,
    PolicyPort,
    PolicyRule,
    PolicySet,
)

Masks = tuple[int, int]  # (sure, unsure): bits that certainly match, bits that may


class MaskIndex:
    """Masks over `pods`, cached by the (hashable) selector, block or port they come from."""

    def __init__(self, pods: Sequence[PodInfo], policies: PolicySet, port: int, protocol: str) -> None:
        self.pods, self.policies, self.port, self.protocol = pods, policies, port, protocol
        self.all = (1 << len(pods)) - 1
        self.namespace: dict[str, int] = {}
        self.host_network = 0
        for i, pod in enumerate(pods):
            self.namespace[pod.namespace] = self.namespace.get(pod.namespace, 0) | 1 << i
            if pod.host_network:
                self.host_network |= 1 << i
        self._labels: dict[LabelSelector, int] = {}
        self._namespaces: dict[LabelSelector, Masks] = {}
        self._blocks: dict[IPBlock, int] = {}
        self._named: dict[str, int] = {}
        self.rules: dict[tuple[int, str, int], tuple[Masks, int]] = {}

    def by_labels(self, selector: LabelSelector) -> int:
        if selector not in self._labels:
            self._labels[selector] = sum(1 << i for i, p in enumerate(self.pods)
                                         if selects(selector, p.labels))
        return self._labels[selector]

    def by_namespace(self, selector: LabelSelector) -> Masks:
        if selector not in self._namespaces:
            sure = unsure = 0
            for name, mask in self.namespace.items():
                hit = selects_namespace(selector, self.policies, name)
                sure |= mask if hit else 0
                unsure |= mask if hit is None else 0
            self._namespaces[selector] = (sure, unsure)
        return self._namespaces[selector]

    def by_block(self, block: IPBlock) -> int:
        if block not in self._blocks:
            self._blocks[block] = sum(1 << i for i, p in enumerate(self.pods)
                                      if p.pod_ip and in_ip_block(p.pod_ip, block))
        return self._blocks[block]

    def by_port_name(self, name: str) -> int:
        if name not in self._named:
            self._named[name] = sum(1 << i for i, p in enumerate(self.pods)
                                    if named_port(p, name, self.protocol) == self.port)
        return self._named[name]

    # -- NetworkPolicy ------------------------------------------------------------------------------

    def peer(self, peer: Peer, policy_namespace: str) -> Masks:
        if peer.ip_block is not None:
            return self.by_block(peer.ip_block), 0
        pods = self.by_labels(peer.pod_selector) if peer.pod_selector is not None else self.all
        if peer.namespace_selector is not None:
            sure, unsure = self.by_namespace(peer.namespace_selector)
            return sure & pods, unsure & pods
        if peer.pod_selector is not None:
            return pods & self.namespace.get(policy_namespace, 0), 0
        return 0, 0

    def port_mask(self, ports: tuple[PolicyPort, ...]) -> int:
        """Destinations on which `ports` admit the flow's port and protocol."""
        if not ports:
            return self.all
        mask = 0
        for p in ports:
            if p.protocol.upper() != self.protocol:
                continue
            if p.port is None:
                return self.all
            if isinstance(p.port, str):
                mask |= self.by_port_name(p.port)
            elif (p.port <= self.port <= p.end_port) if p.end_port is not None else p.port == self.port:
                return self.all
        return mask

    def rule(self, key: tuple[int, str, int], rule: PolicyRule, policy_namespace: str) -> tuple[Masks, int]:
        if key not in self.rules:
            sure = unsure = 0
            if not rule.peers:
                sure = self.all
            for peer in rule.peers:
                s, u = self.peer(peer, policy_namespace)
                sure, unsure = sure | s, unsure | u
            self.rules[key] = ((sure, unsure & ~sure), self.port_mask(rule.ports))
        return self.rules[key]

    # -- admin policies -----------------------------------------------------------------------------

    def _namespaced(self, pods: NamespacedPods) -> Masks:
        labels = self.by_labels(pods.pod_selector)
        sure, unsure = self.by_namespace(pods.namespace_selector)
        return sure & labels, unsure & labels

    def admin_peer(self, peer: AdminPeer, action: str) -> Masks:
        if peer.unknown_kind:
            return (0, 0) if action == "Allow" else (self.all, 0)
        if peer.networks:
            return sum(1 << i for i, p in enumerate(self.pods)
                       if p.pod_ip and any(in_cidr(p.pod_ip, c) for c in peer.networks)), 0
        if peer.nodes is not None:
            return 0, self.host_network
        not_host = self.all & ~self.host_network
        if peer.namespaces is not None:
            sure, unsure = self.by_namespace(peer.namespaces)
            return sure & not_host, unsure & not_host
        if peer.pods is not None:
            sure, unsure = self._namespaced(peer.pods)
            return sure & not_host, unsure & not_host
        return 0, 0

    def admin_rule(self, rule: AdminRule) -> tuple[Masks, int]:
        sure = unsure = 0
        for peer in rule.peers:
            s, u = self.admin_peer(peer, rule.action)
            sure, unsure = sure | s, unsure | u
        ports = self.all
        if rule.ports is not None:
            ports = 0
            for p in rule.ports:
                if p.name:
                    ports |= self.by_port_name(p.name)
                elif p.protocol.upper() == self.protocol and p.port is not None and (
                        p.port <= self.port <= p.end if p.end is not None else p.port == self.port):
                    ports = self.all
        return (sure, unsure & ~sure), ports
