"""What the evaluation says about a flow: per direction, who selects the pod and which rule decides."""

from __future__ import annotations

from dataclasses import dataclass

from kdiag.model.policy.objects import Flow

ALLOWED = "allowed"
DENIED = "denied"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class RuleRef:
    """A rule of a policy: `index` counts from 1 in the policy's ingress or egress list."""

    kind: str  # NetworkPolicy | AdminNetworkPolicy | BaselineAdminNetworkPolicy
    namespace: str  # "" for cluster-scoped kinds
    name: str
    direction: str  # Ingress | Egress
    index: int
    action: str  # Allow (every NetworkPolicy rule) | Deny | Pass
    rule_name: str = ""
    text: str = ""  # the rule in words


@dataclass(frozen=True)
class Selecting:
    """A policy that selects the pod for this direction, and what it did with the flow."""

    kind: str
    namespace: str
    name: str
    priority: int | None = None  # AdminNetworkPolicy only
    effect: str = ""  # allows | denies | passes | no rule matches | may match (cannot tell) | not reached
    rule: RuleRef | None = None


@dataclass(frozen=True)
class DirectionVerdict:
    direction: str  # Egress (from SRC) | Ingress (to DST)
    pod: str  # ns/name of the pod this direction's policies select; "" when that end is no pod
    verdict: str  # allowed | denied | unknown
    isolated: bool  # some NetworkPolicy selecting the pod has this policyType
    decided_by: str  # AdminNetworkPolicy | NetworkPolicy | BaselineAdminNetworkPolicy | default | not a pod
    selecting: tuple[Selecting, ...] = ()
    rule: RuleRef | None = None  # the rule that allows (or, from an admin policy, denies)
    # What the readable v1 and admin objects say before the reasons for `unknown` are weighed
    # (equal to `verdict` unless reasons exist).
    static_verdict: str = ""
    reasons: tuple[str, ...] = ()  # why the verdict is unknown
    fix: str = ""  # for a denial: the smallest change that would allow it, in words
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyVerdict:
    flow: Flow
    verdict: str
    egress: DirectionVerdict
    ingress: DirectionVerdict

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.egress.reasons + self.ingress.reasons))


def combine(*verdicts: str) -> str:
    """A flow needs both directions: one certain denial decides; else one unknown leaves it open."""
    if DENIED in verdicts:
        return DENIED
    if UNKNOWN in verdicts:
        return UNKNOWN
    return ALLOWED
