"""A second, private lab (ptp, three workers) brought up and down through `lifecycle`: the ptp data
plane end to end, and `down` leaving no namespace, device, process or route behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from kdiag_lab import binaries, lifecycle, netns
from kdiag_lab.kubelet_config import DataplaneConfig, lab_id_for
from kdiag_lab.paths import LabPaths
from tests.lab.topology_helpers import root_snapshot, udp_ttl

pytestmark = pytest.mark.lab


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_ptp_lab_up_works_and_down_removes_everything(lab: Any) -> None:
    # `lab` (the session lab) only guarantees the prerequisites: root and the built binaries.
    before = root_snapshot()
    root = Path(tempfile.mkdtemp(prefix="kdiag-test-ptp-"))
    paths = LabPaths(root / "lab")
    prefix = f"kdl-{lab_id_for(paths)}-"
    kubelet_pid = 0
    try:
        lifecycle.up(paths, datapath="ptp", workers=3, emit=lambda _m: None)
        kubelet_pid = int((paths.dataplane / "kubelet.pid").read_text())
        kubectl = [str(binaries.resolve(build=False).kubectl), f"--kubeconfig={paths.kubeconfig}"]

        def get(*args: str) -> Any:
            out = subprocess.run(
                [*kubectl, "get", *args, "-o", "json"], capture_output=True, text=True, check=True
            )
            return json.loads(out.stdout)

        nodes = get("nodes")["items"]
        assert [n["metadata"]["name"] for n in nodes] == ["worker24", "worker25", "worker26"]
        assert nodes[2]["spec"]["podCIDR"] == "10.244.3.0/24"
        assert nodes[0]["metadata"]["annotations"]["projectcalico.org/IPv4Address"] == "10.250.0.24/24"
        assert get("ds", "calico-node", "-n", "kube-system")["status"]["numberReady"] == 3
        pods = {p["metadata"]["name"]: p for p in get("pods", "-n", "default")["items"]}
        assert all(p["status"]["phase"] == "Running" for p in pods.values()) and len(pods) == 5

        net = DataplaneConfig.load(paths).network()
        hello = net.pod_ns("default/hello-app-1-675b9f655c-8r76c")
        mariadb = net.pod_ns("default/helm-wp-mariadb-0")
        wordpress = net.pod_ns("default/helm-wp-wordpress-57b6df6549-drbbk")
        assert udp_ttl(net, hello, mariadb, "10.244.1.3") == 63  # ptp: one routed hop on the node
        assert udp_ttl(net, hello, wordpress, "10.244.2.3") == 62
        # switch, control plane, nodes, seed pods, CoreDNS
        assert len(netns.names(prefix)) == 1 + 1 + 3 + 5 + 1
        assert _processes_mentioning(str(paths.root))
    finally:
        lifecycle.down(paths, emit=lambda _m: None)
        shutil.rmtree(root, ignore_errors=True)
    assert netns.names(prefix) == []
    assert not (kubelet_pid and os.path.exists(f"/proc/{kubelet_pid}"))
    assert _processes_mentioning(str(paths.root)) == []
    assert root_snapshot() == before
