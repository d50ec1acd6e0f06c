"""Why a direction cannot be decided from v1 and admin policies alone: CNI-specific policy objects
(which can allow as well as deny, so even a v1 denial is not certain) and objects kdiag could not read."""

from __future__ import annotations

from kdiag.model.policy.objects import CniPolicy, PolicySet

# The CNI-specific kinds kdiag looks for, as (kind, API group/version, plural, namespaced).
CNI_KINDS = (
    ("CiliumNetworkPolicy", "cilium.io/v2", "ciliumnetworkpolicies", True),
    ("CiliumClusterwideNetworkPolicy", "cilium.io/v2", "ciliumclusterwidenetworkpolicies", False),
    ("NetworkPolicy.crd.projectcalico.org", "crd.projectcalico.org/v1", "networkpolicies", True),
    ("GlobalNetworkPolicy.crd.projectcalico.org", "crd.projectcalico.org/v1", "globalnetworkpolicies", False),
    ("NetworkPolicy.crd.antrea.io", "crd.antrea.io/v1beta1", "networkpolicies", True),
    ("ClusterNetworkPolicy.crd.antrea.io", "crd.antrea.io/v1beta1", "clusternetworkpolicies", False),
)
NOT_EVALUATED = "kdiag does not evaluate CNI-specific policies, which can allow as well as deny"


def _applies(policy: CniPolicy, namespace: str) -> bool:
    return not policy.namespace or policy.namespace == namespace


def unknown_reasons(policies: PolicySet, namespace: str) -> list[str]:
    """Reasons the verdict for a pod in `namespace` (either direction) is unknown whatever v1 says."""
    reasons: list[str] = []
    gap = policies.gap("NetworkPolicy", namespace)
    if gap is not None:
        reasons.append(f"could not list the NetworkPolicies of namespace {namespace} "
                       f"(needs permission to {gap.permission})")
    for kind in ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy"):
        gap = policies.gap(kind, namespace)
        if gap is not None:
            reasons.append(f"could not list {kind} objects (needs permission to {gap.permission})")
    present = [p for p in policies.cni_policies if _applies(p, namespace)]
    if present:
        shown = ", ".join(f"{p.kind} {p.namespace + '/' if p.namespace else ''}{p.name}" for p in present[:5])
        more = f" and {len(present) - 5} more" if len(present) > 5 else ""
        pods = "pods in every namespace" if not all(p.namespace for p in present) else f"pods in {namespace}"
        reasons.append(f"{shown}{more} may select {pods}: {NOT_EVALUATED}")
    for kind, _group, _plural, _namespaced in CNI_KINDS:
        gap = policies.gap(kind, namespace)
        if gap is not None:
            reasons.append(f"{kind} objects exist as a kind but could not be listed "
                           f"(needs permission to {gap.permission})")
    return reasons

