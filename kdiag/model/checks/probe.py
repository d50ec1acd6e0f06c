"""What the probe itself could do: no ProbeResult at all, or probes its engine could not run."""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts
from kdiag.model.findings import Code, Finding


def _run(facts: Facts) -> list[Finding]:
    obs = facts.observed
    if not obs.valid:
        return [Finding(Code.ENGINE_LIMITED, "warning", "no ProbeResult came back from the probe",
                        "run again with -v to see the agent's log")]
    if not obs.unmeasured:
        return []
    what = "; ".join(f"{name}: {reason}" for name, reason in obs.unmeasured)
    return [Finding(Code.ENGINE_LIMITED, "info", f"not measured with the {obs.engine or '?'} engine: {what}",
                    "run with --engine raw (needs NET_RAW; Pod Security baseline) to measure these")]


CHECK = Check("probe", {Code.ENGINE_LIMITED: ("info", "warning")}, lambda facts: True, _run)
