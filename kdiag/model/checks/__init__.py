"""The verdict's checks, in the order their findings are listed before ranking (like
kdiag.cluster.cni's detectors: a new fault class is a new check here, not a branch in an old one).

Each check owns its codes and their severities; no two checks own the same code (a unit test holds
that). PATH_AS_EXPECTED is not a check's: kdiag.model.verdict adds it when nothing is wrong.
"""

from __future__ import annotations

from kdiag.model.checks import (
    attribution,
    detour,
    dns,
    l4,
    mtu,
    observation,
    policy,
    probe,
    reachability,
    service,
    shape,
    target,
    vantage,
    waypoints,
)
from kdiag.model.checks.base import Check, Facts

# A Service trace's chain (dns, service) comes before its path; policy before the path checks: a
# denial it names explains the silence they see. detour, attribution, waypoints, vantage (issue 10):
# the way out against the way back, who sent a reply, which address of the path answered, where the
# probe stood; placed so that causes precede the symptoms they explain (NO_REPLY is reachability's,
# after waypoints). observation (--observe) last in the list, first after ranking: what the node
# observers saw stop is the cause the source-side symptoms point at.
CHECKS: tuple[Check, ...] = (dns.CHECK, service.CHECK, target.CHECK, probe.CHECK, policy.CHECK, shape.CHECK,
                             detour.CHECK, l4.CHECK, attribution.CHECK, mtu.CHECK, waypoints.CHECK,
                             reachability.CHECK, vantage.CHECK, observation.CHECK)

__all__ = ["CHECKS", "Check", "Facts"]
