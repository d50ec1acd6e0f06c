"""Policy objects as kdiag's own frozen dataclasses, parsed from raw API JSON by `kdiag.cluster`.

NetworkPolicy (networking.k8s.io/v1), AdminNetworkPolicy and BaselineAdminNetworkPolicy
(policy.networking.k8s.io/v1alpha1), the namespaces' labels, the CNI-specific policy objects kdiag
does not evaluate but must know about, and what could not be read (`Gap`). Only the fields the
evaluation uses are kept. All hashable, so the matrix can cache selector matches by value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kdiag.model.objects import PodInfo

INGRESS = "Ingress"
EGRESS = "Egress"
METADATA_NAME = "kubernetes.io/metadata.name"  # set by the apiserver on every namespace


@dataclass(frozen=True)
class Requirement:
    """One matchExpressions entry: operator In | NotIn | Exists | DoesNotExist."""

    key: str
    operator: str
    values: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LabelSelector:
    """metav1.LabelSelector: matchLabels and matchExpressions, ANDed. Empty selects everything."""

    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.expressions


EVERYTHING = LabelSelector()


@dataclass(frozen=True)
class IPBlock:
    cidr: str
    except_: tuple[str, ...] = ()


@dataclass(frozen=True)
class Peer:
    """NetworkPolicyPeer. podSelector alone: pods in the policy's namespace; namespaceSelector alone:
    every pod in the selected namespaces; both in one peer: the selected pods in the selected
    namespaces (AND); ipBlock: addresses."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True)
class PolicyPort:
    """NetworkPolicyPort: port None matches every port of the protocol; a str is a named port."""

    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None


@dataclass(frozen=True)
class PolicyRule:
    """An ingress (from) or egress (to) rule. Empty peers: every peer; empty ports: every port."""

    peers: tuple[Peer, ...] = ()
    ports: tuple[PolicyPort, ...] = ()


@dataclass(frozen=True)
class NetworkPolicy:
    namespace: str
    name: str
    pod_selector: LabelSelector = EVERYTHING
    ingress: tuple[PolicyRule, ...] = ()
    egress: tuple[PolicyRule, ...] = ()
    policy_types: tuple[str, ...] = ()  # as declared; () when omitted

    @property
    def types(self) -> tuple[str, ...]:
        """policyTypes with the API's default: Ingress always, Egress when egress rules exist."""
        if self.policy_types:
            return self.policy_types
        return (INGRESS, EGRESS) if self.egress else (INGRESS,)

    def rules(self, direction: str) -> tuple[PolicyRule, ...]:
        return self.ingress if direction == INGRESS else self.egress


@dataclass(frozen=True)
class NamespacedPods:
    """The ANP `pods` peer / subject: pods matching podSelector in namespaces matching namespaceSelector."""

    namespace_selector: LabelSelector = EVERYTHING
    pod_selector: LabelSelector = EVERYTHING


@dataclass(frozen=True)
class AdminSubject:
    namespaces: LabelSelector | None = None
    pods: NamespacedPods | None = None


@dataclass(frozen=True)
class AdminPeer:
    """Exactly one field is set in a valid object; none set means a peer kind newer than kdiag knows
    (the API says: fail closed)."""

    namespaces: LabelSelector | None = None
    pods: NamespacedPods | None = None
    networks: tuple[str, ...] = ()
    nodes: LabelSelector | None = None
    domain_names: tuple[str, ...] = ()

    @property
    def unknown_kind(self) -> bool:
        return (self.namespaces is None and self.pods is None and not self.networks and self.nodes is None
                and not self.domain_names)


@dataclass(frozen=True)
class AdminPort:
    """portNumber (port), portRange (port..end) or namedPort (name)."""

    protocol: str = "TCP"
    port: int | None = None
    end: int | None = None
    name: str = ""


@dataclass(frozen=True)
class AdminRule:
    name: str
    action: str  # Allow | Deny | Pass (Pass only in an AdminNetworkPolicy)
    peers: tuple[AdminPeer, ...]
    ports: tuple[AdminPort, ...] | None = None  # None: every port


@dataclass(frozen=True)
class AdminNetworkPolicy:
    """An AdminNetworkPolicy, or with `baseline` the BaselineAdminNetworkPolicy (named default)."""

    name: str
    subject: AdminSubject
    priority: int = 0
    ingress: tuple[AdminRule, ...] = ()
    egress: tuple[AdminRule, ...] = ()
    baseline: bool = False

    @property
    def kind(self) -> str:
        return "BaselineAdminNetworkPolicy" if self.baseline else "AdminNetworkPolicy"

    def rules(self, direction: str) -> tuple[AdminRule, ...]:
        return self.ingress if direction == INGRESS else self.egress


@dataclass(frozen=True)
class CniPolicy:
    """A CNI-specific policy object (Cilium, Calico, Antrea): present, not evaluated."""

    kind: str
    namespace: str  # "" for cluster-wide kinds
    name: str


@dataclass(frozen=True)
class Gap:
    """Something kdiag could not read, and the permission that would let it."""

    kind: str  # NetworkPolicy | Namespace | AdminNetworkPolicy | ... | CiliumNetworkPolicy ...
    namespace: str | None  # None: cluster-wide (every namespace is affected)
    permission: str  # e.g. "list networking.k8s.io/networkpolicies in namespace shop"

    def covers(self, namespace: str) -> bool:
        return self.namespace is None or self.namespace == namespace


CLUSTER_WIDE_KINDS = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy")


@dataclass(frozen=True)
class PolicySet:
    """Everything the evaluation reads, from one API read per kind."""

    network_policies: tuple[NetworkPolicy, ...] = ()
    admin_policies: tuple[AdminNetworkPolicy, ...] = ()
    baseline: AdminNetworkPolicy | None = None
    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # name -> labels (readable)
    cni_policies: tuple[CniPolicy, ...] = ()
    gaps: tuple[Gap, ...] = ()

    def gap(self, kind: str, namespace: str) -> Gap | None:
        return next((g for g in self.gaps if g.kind == kind and g.covers(namespace)), None)

    def in_namespace(self, namespace: str) -> list[NetworkPolicy]:
        return [p for p in self.network_policies if p.namespace == namespace]


@dataclass(frozen=True)
class Endpoint:
    """One end of a flow: a pod, or an address that belongs to no pod kdiag knows."""

    address: str
    pod: PodInfo | None = None

    @property
    def key(self) -> str:
        return self.pod.key if self.pod else self.address

    @staticmethod
    def of(pod: PodInfo) -> Endpoint:
        return Endpoint(pod.pod_ip, pod)


@dataclass(frozen=True)
class Flow:
    """SRC -> DST on port/protocol. `service_ip`: the ClusterIP the traffic was addressed to, when
    DST is a Service's backend (whether ipBlock peers see the ClusterIP or the pod IP is up to the
    plugin)."""

    src: Endpoint
    dst: Endpoint
    port: int
    protocol: str = "TCP"
    service_ip: str = ""
