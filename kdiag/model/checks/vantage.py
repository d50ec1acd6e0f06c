"""Where the probe stood: in pod mode it runs in its own pod on the source's node, so the source
pod's own link (its eth0 and veth, its routes, the NetworkPolicies selecting it) is not on the path
it tested; only --mode ephemeral probes from inside the source pod."""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts
from kdiag.model.findings import Code, Finding


def _run(facts: Facts) -> list[Finding]:
    exp, obs = facts.expected, facts.observed
    if not obs.source_address or obs.source_address == exp.src_ip:
        return []
    src = exp.hops[0].label.removesuffix(" eth0") if exp.hops else exp.src_ip
    return [Finding(Code.SOURCE_NOT_PROBED, "info",
                    f"probed from {obs.source_address} (a probe pod on {exp.src_node or '?'}), not from "
                    f"{src} {exp.src_ip}: {src}'s own eth0 and veth, its routes and the NetworkPolicies "
                    "selecting it were not on the tested path",
                    f"--mode ephemeral probes from inside {src} itself, its own link and policies included")]


CHECK = Check("vantage", {Code.SOURCE_NOT_PROBED: ("info",)}, lambda facts: facts.observed.valid, _run)
