"""Raw API JSON to PodInfo/NodeInfo."""

from __future__ import annotations

import gc
from datetime import datetime, timezone
from typing import Any

import pytest

from kdiag.cluster.parse import parse_node, parse_nodes, parse_pod, parse_pods, parse_time
from kdiag.model.objects import ContainerPort, ContainerState

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)),
        ("2024-05-01T10:00:00.123456Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T10:00:00.123456789Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T10:00:00.5Z", datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-01T12:30:00+02:30", datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)),
        ("2024-05-01T08:00:00-02:00", datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_parse_time(text: str | None, expected: datetime | None) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timezone.utc.utcoffset(None)


def test_parse_time_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time("yesterday")


def pod_json() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "uid": "u-1",
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "deletionTimestamp": "2024-05-02T10:00:00Z",
            "labels": {"app": "web"},
        },
        "spec": {
            "nodeName": "node-1",
            "hostNetwork": True,
            "containers": [
                {"name": "web", "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}]},
                {"name": "dns", "ports": [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 443}]},
            ],
            "initContainers": [
                {"name": "setup", "ports": [{"containerPort": 1}]},
                {"name": "proxy", "restartPolicy": "Always", "ports": [{"containerPort": 15001}]},
            ],
            "readinessGates": [{"conditionType": "example.com/lb"}],
        },
        "status": {
            "phase": "Running",
            "reason": "NodeLost",
            "podIP": "10.244.1.5",
            "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00::5"}],
            "hostIP": "192.168.0.10",
            "nominatedNodeName": "node-2",
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
            "initContainerStatuses": [
                {
                    "name": "setup",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed", "signal": 0}},
                },
                {
                    "name": "proxy",
                    "ready": True,
                    "restartCount": 1,
                    "started": True,
                    "state": {"running": {}},
                },
            ],
            "containerStatuses": [
                {
                    "name": "web",
                    "ready": True,
                    "restartCount": 2,
                    "image": "nginx",
                    "state": {"running": {"startedAt": "2024-05-01T10:00:05Z"}},
                    "lastState": {
                        "terminated": {"exitCode": 137, "signal": 9, "finishedAt": "2024-05-01T10:00:04Z"}
                    },
                },
                {
                    "name": "dns",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                },
            ],
        },
    }


def test_parse_pod_reads_every_field() -> None:
    raw = pod_json()
    pod = parse_pod(raw)
    assert (pod.namespace, pod.name, pod.uid, pod.node_name) == ("shop", "web-1", "u-1", "node-1")
    assert (pod.phase, pod.status_reason, pod.host_network) == ("Running", "NodeLost", True)
    assert pod.pod_ip == "10.244.1.5"
    assert pod.pod_ips == ("10.244.1.5", "fd00::5")
    assert (pod.host_ip, pod.nominated_node_name) == ("192.168.0.10", "node-2")
    assert pod.created == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert pod.deleted == datetime(2024, 5, 2, 10, tzinfo=UTC)
    assert pod.containers == ("web", "dns")
    assert pod.init_containers == (("setup", False), ("proxy", True))
    assert pod.readiness_gates == ("example.com/lb",)
    assert pod.ready
    # Main containers' ports and the sidecar's; a run-to-completion init container serves nothing.
    assert pod.ports == (
        ContainerPort("web", 8080, "TCP", "http"),
        ContainerPort("dns", 53, "UDP"),
        ContainerPort("dns", 443, "TCP"),
        ContainerPort("proxy", 15001, "TCP"),
    )
    web, dns = pod.container_statuses
    assert (web.name, web.ready, web.restart_count, web.image) == ("web", True, 2, "nginx")
    assert web.state == ContainerState("running", started_at=datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC))
    assert web.last_state.kind == "terminated"
    assert (web.last_state.exit_code, web.last_state.signal) == (137, 9)
    assert web.last_state.finished_at == datetime(2024, 5, 1, 10, 0, 4, tzinfo=UTC)
    assert dns.state == ContainerState("waiting", reason="CrashLoopBackOff")
    assert dns.last_state.kind == ""
    setup, proxy = pod.init_container_statuses
    assert (setup.state.kind, setup.state.reason, setup.started) == ("terminated", "Completed", None)
    assert (proxy.started, proxy.state.kind) == (True, "running")
    # Shared, not copied: the decoded dict is only read.
    assert pod.labels is raw["metadata"]["labels"]


def test_parse_pod_with_only_pod_ip() -> None:
    pod = parse_pod({"metadata": {"name": "old"}, "status": {"podIP": "10.0.0.1"}})
    assert (pod.pod_ip, pod.pod_ips) == ("10.0.0.1", ("10.0.0.1",))


def test_parse_pod_of_a_bare_object_gives_zero_values() -> None:
    pod = parse_pod({})
    assert (pod.name, pod.node_name, pod.pod_ips, pod.created, pod.host_network) == ("", "", (), None, False)
    assert pod.container_statuses == () and pod.conditions == () and dict(pod.labels) == {}


def node_json(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "node-1",
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "infra"},
            "annotations": {"flannel.alpha.coreos.com/backend-type": "vxlan"},
        },
        "spec": {
            "podCIDR": "10.244.1.0/24",
            "podCIDRs": ["10.244.1.0/24", "fd00:1::/64"],
            "unschedulable": True,
        },
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "node-1"},
                {"type": "InternalIP", "address": "192.168.0.10"},
                {"type": "ExternalIP", "address": "203.0.113.7"},
                {"type": "InternalIP", "address": "fd00::10"},
            ],
            "nodeInfo": {"kubeletVersion": "v1.36.3"},
            **status,
        },
    }


def test_parse_node() -> None:
    node = parse_node(
        node_json(conditions=[{"type": "Ready", "status": "False"}, {"type": "Ready", "status": "True"}])
    )
    assert node.name == "node-1"
    assert node.ready == "True"  # the last Ready condition wins, as in printNode
    assert node.unschedulable
    assert node.roles == ("control-plane", "infra")
    assert node.internal_ips == ("192.168.0.10", "fd00::10") and node.internal_ip == "192.168.0.10"
    assert node.external_ips == ("203.0.113.7",)
    assert node.pod_cidrs == ("10.244.1.0/24", "fd00:1::/64")
    assert node.created == datetime(2024, 1, 1, tzinfo=UTC)
    assert node.kubelet_version == "v1.36.3"
    assert node.annotations["flannel.alpha.coreos.com/backend-type"] == "vxlan"


def test_parse_node_without_ready_condition() -> None:
    assert parse_node(node_json(conditions=[{"type": "MemoryPressure", "status": "False"}])).ready == ""
    assert parse_node({"metadata": {"name": "bare"}}).ready == ""


def test_parse_node_with_only_pod_cidr() -> None:
    assert parse_node({"spec": {"podCIDR": "10.244.0.0/24"}}).pod_cidrs == ("10.244.0.0/24",)


def test_list_parsers_restore_the_collector() -> None:
    assert gc.isenabled()
    assert [p.name for p in parse_pods([{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}])] == [
        "a",
        "b",
    ]
    assert [n.name for n in parse_nodes([node_json()])] == ["node-1"]
    assert gc.isenabled()
    gc.disable()
    try:
        parse_pods([])
        assert not gc.isenabled()
    finally:
        gc.enable()
