"""The path MTU: DF packets the pods may send that vanish without "fragmentation needed"."""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts, judged_path, where
from kdiag.model.findings import Code, Finding
from kdiag.model.observed import Observed


def _carrier_answered(obs: Observed) -> bool:
    """Whether what the pmtu probe sends (ICMP echo, or UDP to a closed port) is answered at all: only
    then does silence at every DF size mean a black hole rather than filtering."""
    if obs.path_mtu is not None:
        return True
    if obs.pmtu_method.startswith("icmp") and obs.icmp_received > 0:
        return True
    return obs.reached and obs.trace_method == obs.pmtu_method


def _run(facts: Facts) -> list[Finding]:
    exp, obs, ctx = facts.expected, facts.observed, facts.context
    if not obs.pmtu_measured:
        return []
    sends = obs.interface_mtu or exp.expected_mtu
    if sends is None:
        return []
    model = f" (expected {exp.expected_mtu} on {exp.datapath.summary()})" if exp.expected_mtu else ""
    nodes = " and ".join(dict.fromkeys(n for n in (exp.src_node, exp.dst_node) if n)) or "both nodes"
    hint = (f"a link on the path carries less than the pods send: compare `ip link` MTUs of eth0 and "
            f"{exp.datapath.overlay.device or 'the node NICs'} on {nodes} and the underlay; lower the "
            "CNI's MTU or raise the link's; make sure ICMP fragmentation-needed is not filtered")
    got = obs.path_mtu
    if got is None and not _carrier_answered(obs):
        carrier = "ICMP echo" if obs.pmtu_method.startswith("icmp") else "UDP"
        return [Finding(Code.MTU_UNMEASURED, "info", f"path MTU not measured: the pmtu probe's {carrier} "
                        "got no answer even at its smallest size, so a black hole cannot be told from "
                        "filtering", "if large transfers hang after the handshake, allow ICMP to the "
                        "destination and trace again; compare `ip link` MTUs on the path")]
    if got is None:
        return [Finding(Code.MTU_BLACKHOLE, "error", "small packets get through but no DF probe of 576 "
                        f"bytes or more does{model}", hint)]
    if got < sends and obs.reported_mtu is None:
        return [Finding(Code.MTU_BLACKHOLE, "error", f"DF packets larger than {got} bytes vanish without "
                        f"ICMP fragmentation-needed while the pod sends up to {sends}{model}", hint)]
    # A pod whose own MTU is below the model's cannot send more: that is configuration, not a hole.
    below_model = exp.expected_mtu is not None and got < exp.expected_mtu and not (
        obs.interface_mtu and obs.interface_mtu < exp.expected_mtu)
    if got < sends or below_model:
        by = f"{where(ctx, obs.reported_by, exp)} reports MTU {obs.reported_mtu}" if obs.reported_mtu else ""
        limit = sends if got < sends else exp.expected_mtu
        return [Finding(Code.MTU_BLACKHOLE, "warning", f"path MTU {got} is below {limit}{model}"
                        + (f"; {by} (path MTU discovery works)" if by else ""), hint)]
    return []


CHECK = Check("mtu", {Code.MTU_BLACKHOLE: ("error", "warning"), Code.MTU_UNMEASURED: ("info",)},
              judged_path, _run)
