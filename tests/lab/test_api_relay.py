"""The API at the control-plane node's underlay address, from lab nodes and pods (session `lab`)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from kdiag_lab import dataplane, netns
from kdiag_lab.kubelet_config import DataplaneConfig
from kdiag_lab.seed import SEED_PODS
from kdiag_lab.topology import CONTROL_PLANE_IP

pytestmark = pytest.mark.lab

# Verifies the serving certificate against the lab CA *for the address dialled*: the relay passes
# TLS through, so this also proves the apiserver's certificate carries the advertise address.
READYZ = """
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1])
print(urllib.request.urlopen(sys.argv[2] + "/readyz", context=ctx, timeout=10).read().decode())
"""


def _readyz_from(ns: str, lab: Any) -> str:
    url = f"https://{CONTROL_PLANE_IP}:{dataplane.api_port(lab.paths)}"
    result = netns.run_in(ns, [sys.executable, "-c", READYZ, str(lab.paths.ca_cert), url], check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_nodes_reach_the_api_through_the_relay(lab: Any) -> None:
    net = DataplaneConfig.load(lab.paths).network()
    for node in net.nodes:
        assert _readyz_from(net.node_ns(node.name), lab) == "ok", node.name


def test_pods_reach_the_api_through_the_relay(lab: Any) -> None:
    net = DataplaneConfig.load(lab.paths).network()
    # One pod per node: the reply from the control plane is routed back to each podCIDR.
    by_node = {seed.node: seed for seed in SEED_PODS}
    assert len(by_node) == len(net.nodes)
    for seed in by_node.values():
        assert _readyz_from(net.pod_ns(f"default/{seed.name}"), lab) == "ok", seed.name


def test_the_relay_adds_no_listener_to_the_root_namespace(lab: Any) -> None:
    port = dataplane.api_port(lab.paths)
    listeners = subprocess.run(
        ["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    # Only the apiserver's own loopback socket; the relay's lives in the control-plane namespace.
    assert [word for word in listeners if word.endswith(f":{port}")] == [f"127.0.0.1:{port}"]
    net = DataplaneConfig.load(lab.paths).network()
    inside = netns.run_in(net.control_plane_ns, ["ss", "-Htln", f"sport = :{port}"]).stdout
    assert f"{CONTROL_PLANE_IP}:{port}" in inside


def test_lab_status_checks_the_relay_where_in_lab_clients_dial_it(lab: Any) -> None:
    from kdiag_lab import lifecycle

    relay = [d for d in lifecycle.status(lab.paths)["daemons"] if d["name"] == "api-relay"]
    assert len(relay) == 1
    assert relay[0]["check"] == "relay-readyz" and relay[0]["healthy"], relay[0]
    assert relay[0]["port"] == dataplane.api_port(lab.paths)
