"""The Policy section of `kdiag trace`'s text view: the verdict for SRC -> DST per direction (as
`kdiag policy` words it), and which identity the probe had."""

from __future__ import annotations

from kdiag.model.policy.trace import HOST, PROBE_POD, SOURCE, TracePolicy
from kdiag.render.policy import direction_lines

Line = list[tuple[str, str]]
VERDICT_STYLE = {"allowed": "green", "denied": "red", "unknown": "yellow"}
_IDENTITY = {SOURCE: "the source itself (ephemeral container: its IP, labels and namespace)",
             PROBE_POD: "a probe pod of its own (its own IP, kdiag's labels)",
             HOST: "the node's address (host network, as the source)"}


def identity_text(policy: TracePolicy) -> str:
    text = _IDENTITY.get(policy.identity, policy.identity)
    if policy.identity_reason:
        text += f"; {policy.identity_reason}"
    if policy.judged_as_source:
        return text + "; the policies judge its packets as the source's"
    assert policy.probe_verdict is not None
    return (text + f"; the policies judge it differently: {policy.probe_verdict.verdict} for the probe, "
            f"{policy.verdict.verdict} for the source")


def policy_lines(policy: TracePolicy | None) -> list[Line]:
    if policy is None:
        return []
    verdict = policy.verdict
    flow = verdict.flow
    what = "ICMP" if flow.protocol == "ICMP" else f"{flow.port}/{flow.protocol}"
    lines: list[Line] = [[("Policy:    ", "bold"), (verdict.verdict.upper(), VERDICT_STYLE[verdict.verdict]),
                          (f" {what} ({policy.counted} read)", "")],
                         [("  probe:   ", "dim"), (identity_text(policy), "")]]
    for direction in (verdict.egress, verdict.ingress):
        lines += [[("  ", ""), (text, "")] for text in direction_lines(direction)]
    return lines
