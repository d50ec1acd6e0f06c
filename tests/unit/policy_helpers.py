"""Builders for the policy unit tests: pods, manifests as the API returns them, and flows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kdiag.cluster.policy_parse import parse_admin_policy, parse_network_policy
from kdiag.model.objects import ContainerPort, PodInfo
from kdiag.model.policy import Endpoint, Flow, PolicySet, PolicyVerdict, evaluate
from kdiag.model.policy.objects import METADATA_NAME, CniPolicy, Gap

NK8S = "https://kubernetes.io/docs/concepts/services-networking/network-policies/"
NPAPI = "https://network-policy-api.sigs.k8s.io/api-overview/"


def pod(
    ref: str,
    ip: str,
    labels: Mapping[str, str] | None = None,
    *,
    node: str = "n1",
    ports: Iterable[tuple[str, int, str]] = (),
    host_network: bool = False,
) -> PodInfo:
    namespace, name = ref.split("/")
    return PodInfo(
        namespace,
        name,
        node_name=node,
        phase="Running",
        pod_ip=ip,
        pod_ips=(ip,),
        host_network=host_network,
        labels=dict(labels or {}),
        ports=tuple(ContainerPort("c", number, protocol, port_name) for port_name, number, protocol in ports),
    )


def netpol(ref: str, spec: Mapping[str, Any]) -> Any:
    namespace, name = ref.split("/")
    return parse_network_policy({"metadata": {"namespace": namespace, "name": name}, "spec": spec})


def anp(name: str, priority: int, spec: Mapping[str, Any]) -> Any:
    return parse_admin_policy({"metadata": {"name": name}, "spec": {"priority": priority, **spec}})


def banp(spec: Mapping[str, Any]) -> Any:
    return parse_admin_policy({"metadata": {"name": "default"}, "spec": spec}, baseline=True)


def namespaces(
    *names: str, labels: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, dict[str, str]]:
    """Readable namespaces with the apiserver's name label, plus any extra labels."""
    extra = labels or {}
    return {n: {METADATA_NAME: n, **extra.get(n, {})} for n in names}


def policies(
    *objects: Any,
    ns: Mapping[str, Mapping[str, str]] | None = None,
    cni: Iterable[CniPolicy] = (),
    gaps: Iterable[Gap] = (),
) -> PolicySet:
    from kdiag.model.policy.objects import AdminNetworkPolicy, NetworkPolicy

    return PolicySet(
        network_policies=tuple(o for o in objects if isinstance(o, NetworkPolicy)),
        admin_policies=tuple(o for o in objects if isinstance(o, AdminNetworkPolicy) and not o.baseline),
        baseline=next((o for o in objects if isinstance(o, AdminNetworkPolicy) and o.baseline), None),
        namespaces=ns if ns is not None else namespaces("shop", "web", "other", "ops"),
        cni_policies=tuple(cni),
        gaps=tuple(gaps),
    )


def judge(
    src: PodInfo | str,
    dst: PodInfo | str,
    port: int,
    policy_set: PolicySet,
    *,
    protocol: str = "TCP",
    service_ip: str = "",
) -> PolicyVerdict:
    def end(x: PodInfo | str) -> Endpoint:
        return Endpoint(x) if isinstance(x, str) else Endpoint.of(x)

    return evaluate(Flow(end(src), end(dst), port, protocol, service_ip), policies=policy_set)


def labels(**pairs: str) -> dict[str, Any]:
    return {"matchLabels": pairs}
