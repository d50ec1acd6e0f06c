"""The policy view of one trace: what the policies say about SRC -> DST, and about the probe that
actually sent the packets. Pure: no I/O.

A probe pod is not SRC: NetworkPolicies select by labels, namespace and IP, and a probe pod has its
own labels and its own IP. When the policies judge a stand-in for that probe pod differently from
SRC, the probe must be SRC itself (an ephemeral container in SRC: same IP, labels, namespace), or
what it sees says nothing about SRC's traffic. `identity_matters` decides; `TracePolicy` records
which identity the probe had and whether the verdict the checks use is SRC's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kdiag.model.objects import PodInfo
from kdiag.model.policy.evaluate import evaluate
from kdiag.model.policy.matching import selects
from kdiag.model.policy.objects import INGRESS, Endpoint, Flow, PolicySet
from kdiag.model.policy.result import DirectionVerdict, PolicyVerdict

SOURCE = "source"  # the probe ran inside SRC (ephemeral container): judged exactly as SRC
PROBE_POD = "probe-pod"  # a probe pod of its own: its own IP and kdiag's labels
HOST = "host"  # a host-network SRC: its probe shares the node's address, as SRC does
# Labels every probe pod carries besides its run id (kdiag.cluster.probepods.labels).
PROBE_LABELS = {"app.kubernetes.io/managed-by": "kdiag"}
# NetworkPolicy has no ICMP; a rule with ports never matches it, a rule without ports does (what
# iptables-based enforcers such as kube-router do with it).
ICMP = "ICMP"


def flow_protocol(protocol: str) -> str:
    """The trace's L4 check (icmp | tcp | udp) as the policy evaluation names it."""
    return ICMP if protocol == "icmp" else protocol.upper()


def probe_stand_in(source: PodInfo, *, namespace: str, address: str = "") -> Endpoint:
    """The probe pod as policies see it: kdiag's labels, SRC's node, and its address once known
    (before it exists, none: no ipBlock can be assumed to admit it)."""
    pod = PodInfo(namespace=namespace, name="kdiag-probe", node_name=source.node_name, phase="Running",
                  pod_ip=address, host_network=source.host_network, labels=dict(PROBE_LABELS))
    return Endpoint(address, pod)


def _as_probe(flow: Flow, *, policies: PolicySet, probe_namespace: str,
              address: str = "") -> PolicyVerdict | None:
    """The probe pod's verdict when it differs from SRC's (None: judged alike, or SRC is no pod)."""
    src = flow.src.pod
    if src is None or src.host_network:
        return None  # NetworkPolicies do not select host-network pods; a host probe is SRC's address
    stand_in = replace(flow, src=probe_stand_in(src, namespace=probe_namespace, address=address))
    as_source, as_probe = evaluate(flow, policies=policies), evaluate(stand_in, policies=policies)
    return None if _judged_alike(as_source, as_probe) else as_probe


def _judged_alike(a: PolicyVerdict, b: PolicyVerdict) -> bool:
    """Same verdict, isolation and deciding rule in both directions: an egress policy isolating SRC
    alone, or an ingress rule admitting SRC by its labels or IP, makes a probe pod's packets say
    nothing about SRC's, even when both happen to be allowed."""
    def key(d: DirectionVerdict) -> tuple[object, ...]:
        return d.verdict, d.isolated, d.rule
    return (a.verdict, key(a.egress), key(a.ingress)) == (b.verdict, key(b.egress), key(b.ingress))


def _ingress_ip_blocks(flow: Flow, policies: PolicySet) -> bool:
    """An ingress ipBlock of a policy selecting DST judges the sender by its address: a probe pod's
    is another pod IP on SRC's node, unknown until it runs, so it may fall on either side of the
    block (or of an `except`) where SRC's does not."""
    dst = flow.dst.pod
    if dst is None:
        return False
    return any(peer.ip_block is not None
               for p in policies.in_namespace(dst.namespace)
               if INGRESS in p.types and selects(p.pod_selector, dst.labels) is not False
               for rule in p.ingress for peer in rule.peers)


def identity_matters(flow: Flow, *, policies: PolicySet, probe_namespace: str) -> bool:
    """Would the policies judge a probe pod (in `probe_namespace`) differently from SRC?"""
    src = flow.src.pod
    if src is None or src.host_network:
        return False
    return (_ingress_ip_blocks(flow, policies)
            or _as_probe(flow, policies=policies, probe_namespace=probe_namespace) is not None)


@dataclass(frozen=True)
class TracePolicy:
    """What the policies say about the trace's flow, and about the probe that sent its packets.

    `verdict` is SRC -> DST. `probe_verdict` is the probe pod's own flow when the probe was not SRC
    and the policies judge it differently (None otherwise): the checks compare what was seen with
    `effective`, the verdict for the identity that really sent the packets.
    """

    verdict: PolicyVerdict
    identity: str  # SOURCE | PROBE_POD | HOST
    probe_verdict: PolicyVerdict | None = None
    identity_reason: str = ""  # why the probe had this identity (chosen automatically, --mode, ...)
    counted: str = ""  # what was read, e.g. "3 NetworkPolicies"

    @property
    def judged_as_source(self) -> bool:
        """The policies judge the probe's packets as they would judge SRC's."""
        return self.probe_verdict is None

    @property
    def effective(self) -> PolicyVerdict:
        return self.probe_verdict if self.probe_verdict is not None else self.verdict


def trace_policy(flow: Flow, *, policies: PolicySet, identity: str, probe_namespace: str,
                 probe_address: str = "", reason: str = "") -> TracePolicy:
    """The TracePolicy of a trace whose probe had `identity` (and ran in `probe_namespace` from
    `probe_address`, when it was a probe pod)."""
    verdict = evaluate(flow, policies=policies)
    probe_verdict = None
    if identity == PROBE_POD:
        probe_verdict = _as_probe(flow, policies=policies, probe_namespace=probe_namespace,
                                  address=probe_address)
    counted = f"{len(policies.network_policies)} NetworkPolicies"
    if policies.admin_policies or policies.baseline:
        counted += f", {len(policies.admin_policies)} AdminNetworkPolicies"
        counted += ", a BaselineAdminNetworkPolicy" if policies.baseline else ""
    return TracePolicy(verdict, identity, probe_verdict, reason, counted)
