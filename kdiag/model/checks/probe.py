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
                    "the raw engine measures these: it adds NET_RAW, which only a Pod Security privileged "
                    "namespace admits (baseline and restricted refuse it, so --engine auto falls back "
                    "there): --probe-namespace NS of a privileged namespace, or accept the missing "
                    "measurements")]


CHECK = Check("probe", {Code.ENGINE_LIMITED: ("info", "warning")}, lambda facts: True, _run)
