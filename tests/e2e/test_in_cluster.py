"""In-cluster configuration: inside a pod with no kubeconfig, kdiag uses the mounted service
account (token, CA, namespace) and the KUBERNETES_SERVICE_HOST/PORT environment, as kubectl does."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdiag.cluster.client import Cluster, ClusterOptions
from kdiag.cluster.inventory import PodQuery, list_pods
from kdiag.errors import ConfigError
from tests.conftest import Lab


def _mount(lab: Lab, into: Path, namespace: str) -> Path:
    """What the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount."""
    into.mkdir()
    (into / "token").write_text(lab.paths.admin_token_file.read_text())
    (into / "ca.crt").write_bytes(lab.paths.ca_cert.read_bytes())
    (into / "namespace").write_text(namespace)
    return into


def test_in_cluster_config_is_used_without_a_kubeconfig(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = lab.server.removeprefix("https://").rsplit(":", 1)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    account = _mount(lab, tmp_path / "serviceaccount", "kube-flannel")
    cluster = Cluster(ClusterOptions(service_account_dir=account))
    assert cluster.namespace == "kube-flannel"  # the pod's own namespace, from the mount
    pods = list_pods(cluster, PodQuery(cluster.namespace))
    assert pods and all(p.namespace == "kube-flannel" for p in pods)


def test_a_half_mounted_service_account_is_a_clear_error(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    account = _mount(lab, tmp_path / "serviceaccount", "default")
    with pytest.raises(ConfigError, match="in-cluster"):
        Cluster(ClusterOptions(service_account_dir=account))
