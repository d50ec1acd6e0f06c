"""kdiag/v1 JSON documents, validated against the published schemas in docs/schema/."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kdiag.model.documents import (
    API_VERSION,
    node_list_document,
    pair_list_document,
    pod_list_document,
    timestamp,
)
from kdiag.model.objects import (
    ContainerPort,
    ContainerState,
    ContainerStatusInfo,
    NodeInfo,
    PodCondition,
    PodInfo,
)
from kdiag.model.pairs import classify, iter_pairs, pods_per_node, summarize

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schema"
T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def roundtrip(document: dict[str, Any]) -> dict[str, Any]:
    # What `-o json` prints is what consumers validate: go through real JSON.
    loaded: dict[str, Any] = json.loads(json.dumps(document))
    return loaded


NODES = {
    "n1": NodeInfo(
        "n1",
        ready="True",
        roles=("control-plane",),
        internal_ips=("192.168.0.1",),
        pod_cidrs=("10.244.1.0/24",),
        created=T0,
        kubelet_version="v1.36.3",
    ),
    "n2": NodeInfo(
        "n2", ready="", unschedulable=True, internal_ips=("192.168.0.2",), pod_cidrs=("10.244.2.0/24",)
    ),
}

WEB = PodInfo(
    "shop",
    "web",
    uid="u1",
    node_name="n1",
    phase="Running",
    pod_ip="10.244.1.5",
    pod_ips=("10.244.1.5", "fd00::5"),
    host_ip="192.168.0.1",
    created=T0,
    containers=("web",),
    container_statuses=(
        ContainerStatusInfo(
            "web",
            True,
            2,
            ContainerState("running"),
            ContainerState("terminated", exit_code=1, finished_at=T0.replace(hour=13)),
        ),
    ),
    conditions=(PodCondition("Ready", "True"), PodCondition("example.com/lb", "False")),
    readiness_gates=("example.com/lb",),
    ports=(ContainerPort("web", 8080, "TCP", "http"), ContainerPort("web", 443)),
    labels={"app": "web"},
)
MISPLACED = PodInfo("shop", "odd", node_name="n2", phase="Running", pod_ip="10.99.0.1", containers=("c",))
PENDING = PodInfo("shop", "waiting", phase="Pending", containers=("c",))
HOST = PodInfo(
    "kube-system",
    "proxy",
    node_name="n2",
    phase="Running",
    pod_ip="192.168.0.2",
    host_network=True,
    deleted=T0,
)


def test_pod_list_document() -> None:
    document = roundtrip(pod_list_document([WEB, MISPLACED, PENDING, HOST], NODES))
    validator("podlist.schema.json").validate(document)
    assert (document["apiVersion"], document["kind"]) == (API_VERSION, "PodList")
    web, odd, waiting, proxy = document["items"]
    assert web == {
        "namespace": "shop",
        "name": "web",
        "uid": "u1",
        "node": "n1",
        "phase": "Running",
        "status": "Running",
        "ready": "1/1",
        "restarts": 2,
        "lastRestartTime": "2026-01-01T13:00:00Z",
        "podIP": "10.244.1.5",
        "podIPs": ["10.244.1.5", "fd00::5"],
        "hostIP": "192.168.0.1",
        "hostNetwork": False,
        "nodeIP": "192.168.0.1",
        "podCIDRs": ["10.244.1.0/24"],
        "outsidePodCIDR": False,
        "ports": [
            {"container": "web", "port": 8080, "protocol": "TCP", "name": "http"},
            {"container": "web", "port": 443, "protocol": "TCP", "name": None},
        ],
        "nominatedNode": None,
        "readinessGates": "0/1",
        "creationTimestamp": "2026-01-01T12:00:00Z",
        "deletionTimestamp": None,
        "labels": {"app": "web"},
    }
    assert (odd["outsidePodCIDR"], odd["podIPs"], odd["nodeIP"]) == (True, ["10.99.0.1"], "192.168.0.2")
    assert (waiting["node"], waiting["podIP"], waiting["podCIDRs"], waiting["status"]) == (
        None,
        None,
        [],
        "Pending",
    )
    assert (proxy["status"], proxy["outsidePodCIDR"], proxy["hostNetwork"]) == ("Terminating", False, True)


def test_pod_on_an_unknown_node_still_documents() -> None:
    pod = PodInfo("ns", "p", node_name="gone", host_ip="10.0.0.9", phase="Running")
    (item,) = roundtrip(pod_list_document([pod], {}))["items"]
    assert (item["node"], item["nodeIP"], item["podCIDRs"]) == ("gone", "10.0.0.9", [])


def test_node_list_document() -> None:
    pods = [WEB, MISPLACED, PENDING, HOST]
    document = roundtrip(node_list_document(NODES.values(), pods_per_node(pods)))
    validator("nodelist.schema.json").validate(document)
    n1, n2 = document["items"]
    assert n1 == {
        "name": "n1",
        "status": "Ready",
        "ready": "True",
        "unschedulable": False,
        "roles": ["control-plane"],
        "internalIP": "192.168.0.1",
        "internalIPs": ["192.168.0.1"],
        "externalIPs": [],
        "podCIDRs": ["10.244.1.0/24"],
        "pods": 1,
        "kubeletVersion": "v1.36.3",
        "creationTimestamp": "2026-01-01T12:00:00Z",
        "labels": {},
    }
    assert (n2["status"], n2["ready"], n2["pods"]) == ("Unknown,SchedulingDisabled", None, 2)


@pytest.mark.parametrize("listed", [False, True])
def test_pair_list_document(listed: bool) -> None:
    rng = random.Random(7)
    pods = [
        PodInfo(
            "ns",
            f"p{i}",
            node_name=rng.choice(["n1", "n2", "n3", ""]),
            phase=rng.choice(["Running", "Running", "Pending"]),
            pod_ip=f"10.0.0.{i}",
            host_network=rng.random() < 0.2,
        )
        for i in range(40)
    ]
    classification = classify(pods)
    summary = summarize(classification)
    pairs = iter_pairs(classification, limit=25) if listed else None
    document = roundtrip(pair_list_document(classification, summary, pairs))
    validator("pairlist.schema.json").validate(document)
    assert document["kind"] == "PairList"
    body = document["summary"]
    assert body["pairs"] == body["sameNode"] + body["crossNode"] + body["hostNetwork"]
    assert sum(body["leftOut"].values()) == len(document["leftOut"]) == len(classification.left_out)
    assert [n["name"] for n in body["nodes"]] == list(summary.nodes)
    if listed:
        assert len(document["items"]) == 25
        assert document["items"][0]["a"]["name"] == classification.eligible[0].name
    else:
        assert "items" not in document


def test_schema_rejects_undocumented_fields() -> None:
    document = roundtrip(pod_list_document([WEB], NODES))
    document["items"][0]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validator("podlist.schema.json").validate(document)


def test_every_schema_field_is_described() -> None:
    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                assert "description" in prop or "$ref" in prop, f"{path}.{name} has no description"
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for value in node:
                walk(value, path)

    for schema in SCHEMAS.glob("*.schema.json"):
        if schema.name == "probe-result.schema.json":
            continue  # the agent's own result, documented field by field in docs/agent.md
        walk(json.loads(schema.read_text()), schema.name)


def test_timestamp_is_utc_seconds() -> None:
    local = datetime(2026, 1, 1, 14, 0, 0, 999, tzinfo=timezone(timedelta(hours=2)))
    assert timestamp(local) == "2026-01-01T12:00:00Z"
    assert timestamp(None) is None
