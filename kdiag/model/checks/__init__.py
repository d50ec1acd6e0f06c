"""The verdict's checks, in the order their findings are listed before ranking (like
kdiag.cluster.cni's detectors: a new fault class is a new check here, not a branch in an old one).

Each check owns its codes and their severities; no two checks own the same code (a unit test holds
that). PATH_AS_EXPECTED is not a check's: kdiag.model.verdict adds it when nothing is wrong.
"""

from __future__ import annotations

from kdiag.model.checks import l4, mtu, probe, reachability, shape, target
from kdiag.model.checks.base import Check, Facts

CHECKS: tuple[Check, ...] = (target.CHECK, probe.CHECK, shape.CHECK, l4.CHECK, mtu.CHECK, reachability.CHECK)

__all__ = ["CHECKS", "Check", "Facts"]
