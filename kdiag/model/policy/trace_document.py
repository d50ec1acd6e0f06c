"""The `policy` section of a `kind: Trace` document (docs/schema/trace.schema.json): the verdict for
SRC -> DST per direction, which identity the probe had, and the probe's own verdict when the
policies judge it differently from SRC. Fields are only ever added within v1."""

from __future__ import annotations

from typing import Any

from kdiag.model.policy.documents import direction_document
from kdiag.model.policy.result import PolicyVerdict
from kdiag.model.policy.trace import TracePolicy


def _verdict(verdict: PolicyVerdict) -> dict[str, Any]:
    return {"verdict": verdict.verdict, "port": verdict.flow.port, "protocol": verdict.flow.protocol,
            "reasons": list(verdict.reasons), "egress": direction_document(verdict.egress),
            "ingress": direction_document(verdict.ingress)}


def trace_policy_document(policy: TracePolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    return {**_verdict(policy.verdict), "probeIdentity": policy.identity,
            "probeIdentityReason": policy.identity_reason or None,
            "judgedAsSource": policy.judged_as_source,
            "probeVerdict": _verdict(policy.probe_verdict) if policy.probe_verdict is not None else None,
            "evaluated": policy.counted}
