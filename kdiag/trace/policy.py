"""The trace's policy step: read the policies for SRC -> DST once, choose the probe's identity, and
after probing, the TracePolicy the checks judge with (kdiag.model.policy.trace).

`--mode auto` (the default) probes from inside SRC (an ephemeral container) exactly when the
policies would judge a probe pod differently from SRC, and from a probe pod otherwise; when the user
may not add ephemeral containers, it keeps the probe pod and says the verdict is the probe's own.
docs/trace.md explains the choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kdiag.cluster.client import Cluster
from kdiag.cluster.permissions import check_permissions
from kdiag.cluster.policies import read_policies
from kdiag.errors import CannotProbeError
from kdiag.model.objects import PodInfo
from kdiag.model.plan import ProbePlan
from kdiag.model.policy import Endpoint, Flow, PolicySet
from kdiag.model.policy.trace import (
    HOST,
    PROBE_POD,
    SOURCE,
    TracePolicy,
    flow_protocol,
    identity_matters,
    trace_policy,
)
from kdiag.model.targets import AddressTarget, PodTarget, Target
from kdiag.trace.request import TraceRequest

Say = Callable[[str], None]


@dataclass(frozen=True)
class PolicyStep:
    """What was read before probing, and the probe mode chosen from it."""

    flow: Flow | None  # None: the destination is no pod or address the policies can judge
    policies: PolicySet | None
    mode: str  # pod | ephemeral (auto resolved)
    reason: str  # why the probe has the identity it has

    def judged(self, *, source: PodInfo, probe_namespace: str, probe_address: str) -> TracePolicy | None:
        if self.flow is None or self.policies is None:
            return None
        identity = HOST if source.host_network else SOURCE if self.mode == "ephemeral" else PROBE_POD
        return trace_policy(self.flow, policies=self.policies, identity=identity,
                            probe_namespace=probe_namespace, probe_address=probe_address, reason=self.reason)


def _destination(target: Target) -> Endpoint | None:
    if isinstance(target, PodTarget):
        return Endpoint.of(target.pod)
    if isinstance(target, AddressTarget):
        return Endpoint(target.ip)
    return None  # Services and DNS names: their backends are judged once they are translated


def read_for_trace(cluster: Cluster, request: TraceRequest, *, source: PodInfo, target: Target,
                   plan: ProbePlan, warn: Say) -> tuple[Flow | None, PolicySet | None]:
    destination = _destination(target)
    if destination is None:
        return None, None
    flow = Flow(Endpoint.of(source), destination, plan.port or 0, flow_protocol(plan.protocol))
    namespaces = {source.namespace, request.probe_namespace or source.namespace}
    if destination.pod is not None:
        namespaces.add(destination.pod.namespace)
    try:
        return flow, read_policies(cluster, namespaces=namespaces)
    except CannotProbeError as exc:
        # Policies are context, not the probe: a failed read leaves the trace without its Policy
        # section instead of ending it.
        warn(f"could not read the NetworkPolicies ({exc.message}): the trace has no Policy section")
        return flow, None


def choose_mode(cluster: Cluster, request: TraceRequest, *, source: PodInfo, flow: Flow | None,
                policies: PolicySet | None, warn: Say) -> PolicyStep:
    """Resolve --mode auto, and check the permissions of the mode that will run."""
    mode, reason = request.mode, f"--mode {request.mode}"
    if mode == "auto":
        matters = (flow is not None and policies is not None and not source.host_network
                   and identity_matters(flow, policies=policies, probe_namespace=source.namespace))
        mode, reason = "pod", "chosen automatically: the policies judge a probe pod as they judge the source"
        if matters and request.probe_namespace:
            reason = "--probe-namespace given, so a probe pod, though the policies judge it differently"
        elif matters:
            mode = "ephemeral"
            reason = ("chosen automatically: the policies would judge a probe pod differently from the "
                      "source (its labels, namespace or IP)")
            try:
                check_permissions(cluster, namespace=source.namespace, mode=mode)
            except CannotProbeError as exc:
                warn(f"the policies would judge a probe pod differently from {source.key}, but "
                     f"{exc.message}: probing from a probe pod, and the verdict is the probe's own")
                mode, reason = "pod", f"not the source: {exc.message}"
    if source.host_network:
        reason = "host network: the probe has the node's address, as the source"
    namespace = source.namespace if mode == "ephemeral" else request.probe_namespace or source.namespace
    check_permissions(cluster, namespace=namespace, mode=mode)
    return PolicyStep(flow, policies, mode, reason)
