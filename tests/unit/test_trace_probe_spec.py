"""Pure parts of `kdiag trace`: the probe pod's manifest, which checks run, how a pod's status reads
while waiting, and the text view's plain/colour modes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kdiag.cluster.probepods import (
    AgentSpec,
    Lifecycle,
    Placement,
    ProbeSpec,
    ephemeral_container,
    pod_manifest,
    workload,
)
from kdiag.cluster.probewatch import assess
from kdiag.errors import UsageError
from kdiag.model.objects import ContainerPort, PodInfo
from kdiag.model.plan import PATH_PROBES, plan_probes
from kdiag.model.targets import AddressScope, AddressTarget, PodTarget


def spec(engine: str, *, agent_engine: str = "auto", **placement: Any) -> ProbeSpec:
    return ProbeSpec(
        agent=AgentSpec(target="10.244.2.3", probes=("local", "icmp", "tcp"), engine=agent_engine, port=80),
        placement=Placement(namespace="team", node="worker24", **placement), privilege=engine,
        lifecycle=Lifecycle(run_id="abcd1234"))


def test_raw_probe_pod_has_only_net_raw_and_is_bound_to_the_node() -> None:
    pod = pod_manifest(spec("raw"))
    meta, body = pod["metadata"], pod["spec"]
    assert meta["name"] == "kdiag-probe-abcd1234" and meta["namespace"] == "team"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "kdiag"
    assert meta["labels"]["kdiag.dev/run-id"] == "abcd1234"
    assert body["nodeName"] == "worker24" and body["restartPolicy"] == "Never"
    assert body["automountServiceAccountToken"] is False and body["hostNetwork"] is False
    assert body["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = body["containers"]
    sc = container["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert container["resources"]["limits"] and container["resources"]["requests"]
    assert container["image"] == "nicolaka/netshoot:v0.13"
    assert container["command"][:2] == ["python3", "-c"] and "kdiag probe agent" in container["command"][2]
    assert json.loads(container["command"][3]) == {
        "target": "10.244.2.3", "probes": ["local", "icmp", "tcp"], "engine": "auto", "count": 3,
        "timeout": 2.0, "port": 80}


def test_unprivileged_probe_pod_meets_pod_security_restricted() -> None:
    pod = pod_manifest(spec("unprivileged", agent_engine="unprivileged"))
    body = pod["spec"]
    (container,) = body["containers"]
    sc = container["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"]}  # restricted: drop ALL, add nothing
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65534 and sc["allowPrivilegeEscalation"] is False
    assert body["securityContext"]["runAsNonRoot"] is True
    assert body["securityContext"]["sysctls"] == [{"name": "net.ipv4.ping_group_range",
                                                    "value": "0 2147483647"}]
    assert json.loads(container["command"][3])["engine"] == "unprivileged"


def test_host_network_probe_sets_no_namespaced_sysctl() -> None:
    pod = pod_manifest(spec("unprivileged", host_network=True))
    assert pod["spec"]["hostNetwork"] is True and "sysctls" not in pod["spec"]["securityContext"]


def test_ephemeral_container_has_no_resources() -> None:
    container = ephemeral_container(spec("raw", mode="ephemeral", source_pod="web"))
    assert container["name"] == "kdiag-probe-abcd1234" and "resources" not in container


def _dst(*ports: tuple[int, str]) -> PodTarget:
    return PodTarget(PodInfo("ns", "dst", ports=tuple(ContainerPort("c", p, proto) for p, proto in ports)))


@pytest.mark.parametrize(("proto", "port", "dst", "want"), [
    (None, None, _dst((8080, "TCP")), ("tcp", 8080, (*PATH_PROBES, "tcp"))),
    (None, None, _dst(), ("icmp", None, PATH_PROBES)),
    (None, 9999, _dst((8080, "TCP")), ("tcp", 9999, (*PATH_PROBES, "tcp"))),
    ("icmp", None, _dst((8080, "TCP")), ("icmp", None, PATH_PROBES)),
    ("udp", None, _dst((8080, "TCP"), (53, "UDP")), ("udp", 53, (*PATH_PROBES, "udp"))),
])
def test_which_checks_run(proto: str | None, port: int | None, dst: PodTarget,
                          want: tuple[str, int | None, tuple[str, ...]]) -> None:
    plan = plan_probes(dst, proto=proto, port=port)
    assert (plan.protocol, plan.port, plan.probes) == want


def test_tcp_without_any_port_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="needs a port"):
        plan_probes(_dst(), proto="tcp", port=None)
    # An address declares no ports: without --port it is probed with ICMP only.
    address = AddressTarget("10.244.2.200", AddressScope.POD_RANGE, "worker25")
    assert plan_probes(address, proto=None, port=None).protocol == "icmp"
    with pytest.raises(UsageError, match="needs a port"):
        plan_probes(address, proto="udp", port=None)


def _status(**status: Any) -> dict[str, Any]:
    return {"status": status}


def _probe(state: dict[str, Any], phase: str = "Pending") -> dict[str, Any]:
    return _status(phase=phase, containerStatuses=[{"name": "probe", "state": state}])


@pytest.mark.parametrize(("pod", "phase", "reason"), [
    (_status(phase="Pending"), "waiting", ""),
    (_probe({"waiting": {"reason": "ContainerCreating"}}), "waiting", "ContainerCreating"),
    (_probe({"waiting": {"reason": "ImagePullBackOff", "message": "x"}}), "stuck", "ImagePullBackOff"),
    (_probe({"running": {}}, "Running"), "running", ""),
    (_probe({"terminated": {"exitCode": 0, "reason": "Completed"}}, "Succeeded"), "done", "Completed"),
    (_status(phase="Failed", reason="OutOfcpu", message="no cpu"), "stuck", "OutOfcpu"),
    (_status(phase="Pending", conditions=[{"type": "PodScheduled", "status": "False",
                                           "reason": "Unschedulable"}]), "stuck", "Unschedulable"),
])
def test_assess_reads_the_probe_container(pod: dict[str, Any], phase: str, reason: str) -> None:
    state = assess(pod, workload(spec("raw")))
    assert (state.phase, state.reason) == (phase, reason)
