"""The workload runner (kdiag.cluster.workloads) on the session lab: several workloads launched
together with an ExitStack, awaited, read, and deleted on the way out, also when something fails."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from kdiag.cluster.client import Cluster, ClusterOptions
from kdiag.cluster.workloads import Workload, deleting_in_background, launched
from kdiag.defaults import PROBE_IMAGE
from tests.conftest import Lab

pytestmark = pytest.mark.lab


def _pod(namespace: str, name: str, node: str, words: str) -> Workload:
    manifest: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "main", "image": PROBE_IMAGE,
                                 "command": ["python3", "-c", f"print({words!r})"]}]}}
    return Workload(namespace=namespace, pod=name, container="main", node=node, image=PROBE_IMAGE,
                    timeout=30, manifest=manifest, noun="test pod")


def _names(lab: Lab, namespace: str) -> list[str]:
    return lab.kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.split()


def _quiet(_message: str) -> None:
    return None


def test_two_workloads_on_two_nodes_run_together_and_are_deleted(lab: Lab, namespace: str) -> None:
    cluster = Cluster(ClusterOptions(kubeconfig=str(lab.kubeconfig)))
    pods = [_pod(namespace, "on-24", "worker24", "hello from 24"),
            _pod(namespace, "on-25", "worker25", "and 25")]
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(launched(cluster, w, say=_quiet, warn=_quiet)) for w in pods]
        assert sorted(_names(lab, namespace)) == ["pod/on-24", "pod/on-25"]  # both exist at once
        finished = [h.finish(say=_quiet) for h in handles]
    assert [f.log.strip() for f in finished] == ["hello from 24", "and 25"]
    assert [f.exit_code for f in finished] == [0, 0]
    assert _names(lab, namespace) == []


def test_a_failure_after_launching_still_deletes_every_workload(lab: Lab, namespace: str) -> None:
    cluster = Cluster(ClusterOptions(kubeconfig=str(lab.kubeconfig)))
    with pytest.raises(RuntimeError, match="reading the first went wrong"), contextlib.ExitStack() as stack:
        for node in ("worker24", "worker25"):
            stack.enter_context(launched(cluster, _pod(namespace, f"on-{node[-2:]}", node, "x"),
                                         say=_quiet, warn=_quiet))
        raise RuntimeError("reading the first went wrong")
    assert _names(lab, namespace) == []


def test_background_deletions_are_answered_before_the_block_ends(lab: Lab, namespace: str) -> None:
    cluster = Cluster(ClusterOptions(kubeconfig=str(lab.kubeconfig)))
    workload = _pod(namespace, "bg", "worker24", "y")
    with deleting_in_background() as deletions, \
            launched(cluster, workload, say=_quiet, warn=_quiet, deletions=deletions) as handle:
        assert handle.finish(say=_quiet).log.strip() == "y"
    assert _names(lab, namespace) == []
