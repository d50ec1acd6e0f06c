"""`kdiag policy` as kdiag/v1 documents: kind PolicyVerdict (a pair) and PolicyMatrix (every pair).

Schemas: docs/schema/policyverdict.schema.json and policymatrix.schema.json (the tests validate
against them). Fields are only ever added within v1.
"""

from __future__ import annotations

from typing import Any

from kdiag.model.documents import API_VERSION
from kdiag.model.policy.matrix import PolicyMatrix
from kdiag.model.policy.objects import Endpoint, PolicySet
from kdiag.model.policy.result import DirectionVerdict, PolicyVerdict, RuleRef

Document = dict[str, Any]


def _end(end: Endpoint) -> Document:
    pod = end.pod
    return {
        "namespace": pod.namespace if pod else None,
        "name": pod.name if pod else None,
        "address": end.address or None,
        "hostNetwork": pod.host_network if pod else False,
        "labels": dict(pod.labels) if pod else {},
    }


def _rule(rule: RuleRef | None) -> Document | None:
    if rule is None:
        return None
    return {"kind": rule.kind, "namespace": rule.namespace or None, "name": rule.name,
            "direction": rule.direction, "index": rule.index, "action": rule.action,
            "ruleName": rule.rule_name or None, "text": rule.text}


def direction_document(d: DirectionVerdict) -> Document:
    return {
        "direction": d.direction,
        "pod": d.pod or None,
        "verdict": d.verdict,
        "staticVerdict": d.static_verdict or d.verdict,
        "isolated": d.isolated,
        "decidedBy": d.decided_by,
        "selecting": [{"kind": s.kind, "namespace": s.namespace or None, "name": s.name,
                       "priority": s.priority, "effect": s.effect, "rule": _rule(s.rule)}
                      for s in d.selecting],
        "rule": _rule(d.rule),
        "fix": d.fix or None,
        "reasons": list(d.reasons),
        "notes": list(d.notes),
    }


def _seen(policies: PolicySet) -> Document:
    return {
        "networkPolicies": len(policies.network_policies),
        "adminNetworkPolicies": len(policies.admin_policies),
        "baselineAdminNetworkPolicy": policies.baseline is not None,
        "cniPolicies": [{"kind": p.kind, "namespace": p.namespace or None, "name": p.name}
                        for p in policies.cni_policies],
        "unreadable": [{"kind": g.kind, "namespace": g.namespace, "permission": g.permission}
                       for g in policies.gaps],
    }


def policy_verdict_document(verdict: PolicyVerdict, policies: PolicySet,
                            notes: tuple[str, ...] = ()) -> Document:
    flow = verdict.flow
    return {
        "apiVersion": API_VERSION,
        "kind": "PolicyVerdict",
        "source": _end(flow.src),
        "destination": _end(flow.dst),
        "port": flow.port,
        "protocol": flow.protocol,
        "serviceIP": flow.service_ip or None,
        "verdict": verdict.verdict,
        "reasons": list(verdict.reasons),
        "egress": direction_document(verdict.egress),
        "ingress": direction_document(verdict.ingress),
        "policies": _seen(policies),
        "notes": list(notes),
    }


def policy_matrix_document(table: PolicyMatrix, policies: PolicySet) -> Document:
    """allowed[SOURCE][DESTINATION]: true, false or null (cannot tell)."""
    allowed = {src: dict(zip(table.pods, table.row(i), strict=True)) for i, src in enumerate(table.pods)}
    counts = {"allowed": 0, "denied": 0, "unknown": 0}
    everything = (1 << len(table.pods)) - 1
    for i in range(len(table.pods)):
        yes, unknown = table.allowed[i].bit_count(), table.unknown[i].bit_count()
        counts["allowed"] += yes
        counts["unknown"] += unknown
        counts["denied"] += (everything & ~table.allowed[i] & ~table.unknown[i]).bit_count()
    return {
        "apiVersion": API_VERSION,
        "kind": "PolicyMatrix",
        "pods": list(table.pods),
        "port": table.port,
        "protocol": table.protocol,
        "allowed": allowed,
        "summary": counts,
        "reasons": list(table.reasons),
        "policies": _seen(policies),
    }
