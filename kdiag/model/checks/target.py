"""The destination's own state: a pod that is not Running or not Ready."""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts
from kdiag.model.findings import Code, Finding


def _run(facts: Facts) -> list[Finding]:
    ctx = facts.context
    if ctx.dst_phase and ctx.dst_phase != "Running":
        why = f"is {ctx.dst_phase}"
    elif ctx.dst_ready is False:
        why = "is Running but not Ready"
    else:
        return []
    return [Finding(Code.DST_NOT_READY, "warning", f"destination {ctx.dst_name or '?'} {why}",
                    "kubectl describe pod: readiness probe, restarts, events; an unready pod may not "
                    "listen yet even though its network works")]


CHECK = Check("target", {Code.DST_NOT_READY: ("warning",)}, lambda facts: facts.observed.valid, _run)
