"""NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy evaluation: pure, no I/O.

`evaluate(flow, policies=...)` judges one flow with the rule that decides; `matrix(pods, ...)` the
truth table for every ordered pod pair, precomputed per selector so 1,000 x 1,000 stays fast.
"""

from kdiag.model.policy.evaluate import evaluate
from kdiag.model.policy.objects import Endpoint, Flow, PolicySet
from kdiag.model.policy.result import ALLOWED, DENIED, UNKNOWN, DirectionVerdict, PolicyVerdict

__all__ = ["ALLOWED", "DENIED", "UNKNOWN", "DirectionVerdict", "Endpoint", "Flow", "PolicySet",
           "PolicyVerdict", "evaluate"]
