"""`kdiag trace --observe` on the lab: real observer pods on the lab nodes (host network: the lab
kubelet runs them in the node's namespace), real packets. Healthy pairs are seen both ways at every
hop on all three datapaths; each injected fault gives its code, node, interface and direction; no
observer or probe pod outlives a trace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kdiag_lab import faults
from kdiag_lab.topology import host_veth_name
from tests.conftest import Lab
from tests.e2e import test_trace_datapaths as datapaths
from tests.e2e.test_trace_datapaths import ALL, DatapathLab
from tests.e2e.trace_helpers import HELLO_1, HELLO_2, WORDPRESS, codes, probe_pods, trace

pytestmark = pytest.mark.lab
SRC_NODE, DST_NODE = "worker24", "worker25"
dlab = datapaths.dlab  # the per-datapath lab fixture
FAST = ("--count", "1", "--timeout", "20s")


def observed(lab: Lab, src: str, dst: str, *extra: str) -> tuple[Any, dict[str, Any]]:
    return trace(lab, src, dst, "--observe", *FAST, *extra)


def captured(doc: dict[str, Any]) -> list[tuple[int, str]]:
    """(hop index, `request R; reply R`) as the observers reported each hop."""
    return [(h["index"], next(s["outcome"] for s in h["observed"] if s["probe"] == "capture"))
            for h in doc["hops"]]


@pytest.mark.parametrize("dlab", ALL, indirect=True)
@pytest.mark.parametrize("dst", [HELLO_2, WORDPRESS], ids=["same-node", "cross-node"])
def test_healthy_pairs_are_seen_both_ways_at_every_hop(dlab: DatapathLab, dst: str) -> None:
    result, doc = observed(dlab.lab, HELLO_1, dst)
    assert result.exit_code == 0, result.stderr
    assert captured(doc) == [(h["index"], "request seen; reply seen") for h in doc["hops"]], result.stdout
    assert doc["verdict"]["dropPoint"] is None and doc["verdict"]["status"] == "ok"
    assert probe_pods(dlab.lab) == []


def _pod_ns(net: Any, name: str) -> str:
    return net.pod_ns(f"default/{name}")


# fault name -> (inject(net) -> list of faults, (code, node, interface or None for the pod's veth, direction))
Inject = Callable[[Any], list[faults.Fault]]
VXLAN_FAULTS: dict[str, tuple[Inject, tuple[str, str, str | None, str]]] = {
    "route to the peer podCIDR removed on the source node": (
        lambda net: [faults.remove_route(net.node_ns(SRC_NODE), "10.244.2.0/24")],
        ("NO_ROUTE", SRC_NODE, "cni0", "request")),
    "route back to the source podCIDR removed on the destination node": (
        lambda net: [faults.remove_route(net.node_ns(DST_NODE), "10.244.1.0/24")],
        ("RETURN_PATH_BROKEN", DST_NODE, "cni0", "reply")),
    "ip_forward off on the destination node": (
        lambda net: [faults.sysctls(net.node_ns(DST_NODE), {"net.ipv4.ip_forward": 0})],
        ("FORWARDING_DISABLED", DST_NODE, "flannel.1", "request")),
    "ip_forward off on the source node": (
        lambda net: [faults.sysctls(net.node_ns(SRC_NODE), {"net.ipv4.ip_forward": 0})],
        ("FORWARDING_DISABLED", SRC_NODE, "cni0", "request")),
    "strict rp_filter on flannel.1, route back through eth0": (
        lambda net: [faults.remove_route(net.node_ns(DST_NODE), "10.244.1.0/24"),
                     faults.sysctls(net.node_ns(DST_NODE), {"net.ipv4.conf.all.rp_filter": 1,
                                                               "net.ipv4.conf.flannel/1.rp_filter": 1})],
        ("RP_FILTER_DROP", DST_NODE, "flannel.1", "request")),
    "an nftables drop rule with a counter in the destination node's forward chain": (
        lambda net: [faults.drop_counted(net.node_ns(DST_NODE), "forward",
                                         "ip saddr 10.244.1.0/24 ip daddr 10.244.2.3")],
        ("FIREWALL_DROP", DST_NODE, "flannel.1", "request")),
    "the source node's FDB entry for the peer VTEP removed": (
        lambda net: [faults.remove_fdb(net.node_ns(SRC_NODE), "flannel.1", "10.250.0.25")],
        ("TUNNEL_NOT_SENT", SRC_NODE, "eth0", "request")),
    "the underlay drops UDP 8472 between the nodes": (
        lambda net: [faults.drop_overlay(net, between=(SRC_NODE, DST_NODE))],
        ("TUNNEL_NOT_RECEIVED", DST_NODE, "eth0", "request")),
    "the destination pod drops ICMP itself": (
        lambda net: [faults.drop(_pod_ns(net, WORDPRESS), "icmp")],
        ("DELIVERED_NO_ANSWER", DST_NODE, None, "reply")),
}


@pytest.fixture
def injected(request: pytest.FixtureRequest, dlab: DatapathLab) -> Iterator[list[faults.Fault]]:
    made = VXLAN_FAULTS[request.param][0](dlab.net)
    try:
        yield made
    finally:
        for fault in reversed(made):
            fault.undo()


@pytest.mark.parametrize("dlab", ["bridge-vxlan"], indirect=True)
@pytest.mark.parametrize("injected", list(VXLAN_FAULTS), indirect=True)
def test_each_fault_gives_its_code_node_interface_and_direction(
        dlab: DatapathLab, injected: list[faults.Fault], request: pytest.FixtureRequest) -> None:
    code, node, interface, direction = VXLAN_FAULTS[request.node.callspec.params["injected"]][1]
    result, doc = observed(dlab.lab, HELLO_1, WORDPRESS, "--proto", "icmp")
    assert result.exit_code == 1, result.stderr
    drop = doc["verdict"]["dropPoint"]
    wanted = interface or host_veth_name(dlab.datapath, f"default/{WORDPRESS}")
    assert codes(doc)[0] == code, (codes(doc), doc["verdict"])
    assert (drop["node"], drop["interface"], drop["direction"]) == (node, wanted, direction), doc["verdict"]
    assert doc["verdict"]["findings"][0]["node"] == node
    assert "OVERLAY_SUSPECT" not in codes(doc)
    assert probe_pods(dlab.lab) == []


@pytest.mark.parametrize("dlab", ["ptp"], indirect=True)
def test_point_to_point_route_to_the_peer_removed_is_no_route(dlab: DatapathLab) -> None:
    with faults.remove_route(dlab.net.node_ns(SRC_NODE), "10.244.2.0/24"):
        result, doc = observed(dlab.lab, HELLO_1, WORDPRESS, "--proto", "icmp")
    assert result.exit_code == 1, result.stderr
    # It leaves worker24's eth0 for the default gateway and never reaches worker25: the drop point
    # is worker25's underlay ingress, the cause worker24's route.
    assert codes(doc)[0] == "NO_ROUTE" and doc["verdict"]["findings"][0]["node"] == SRC_NODE, doc["verdict"]
    drop = doc["verdict"]["dropPoint"]
    assert (drop["node"], drop["interface"], drop["direction"]) == (DST_NODE, "eth0", "request")


@pytest.mark.parametrize("dlab", ["bridge-vxlan"], indirect=True)
def test_no_observer_or_probe_pod_is_left_after_20_observed_traces(dlab: DatapathLab) -> None:
    for i in range(20):
        result, _doc = observed(dlab.lab, HELLO_1, WORDPRESS if i % 2 else HELLO_2)
        assert result.exit_code == 0, result.stderr
    assert probe_pods(dlab.lab) == []


@pytest.mark.parametrize("dlab", ["bridge-vxlan"], indirect=True)
def test_ctrl_c_while_observing_leaves_nothing(dlab: DatapathLab) -> None:
    lab = dlab.lab
    proc = subprocess.Popen(
        [sys.executable, "-m", "kdiag", "trace", HELLO_1, WORDPRESS, "--observe", "--timeout", "60s",
         f"--kubeconfig={lab.kubeconfig}", "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, NO_COLOR="1"))
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # interrupt once the observers capture: the probe is about to start
        if "kdiag-probe" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted: observer pod" in err
    assert probe_pods(lab) == []


def test_a_namespace_that_forbids_privileged_pods_is_one_line_naming_the_label(lab: Lab,
                                                                              namespace: str) -> None:
    lab.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=baseline")
    result = lab.kdiag("trace", HELLO_1, HELLO_2, "-n", "default", "--observe",
                       "--observer-namespace", namespace)
    assert result.exit_code == 3
    first = result.stderr.strip().splitlines()[0]
    assert f"namespace {namespace} (pod-security.kubernetes.io/enforce=baseline)" in first, result.stderr
    assert "Traceback" not in result.stderr
    assert probe_pods(lab) == []


@pytest.mark.parametrize("observe", [False, True])
def test_only_an_observed_trace_imports_scapy(lab: Lab, observe: bool) -> None:
    """scapy (~1 s) is for decoding captures: a trace without --observe never imports it."""
    args = [HELLO_1, HELLO_2, "-n", "default", f"--kubeconfig={lab.kubeconfig}", *FAST,
            *(["--observe"] if observe else [])]
    code = ("import sys; from kdiag.cli.main import main; code = main(['trace', *sys.argv[1:]]); "
            "print(code, 'scapy' in sys.modules, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert proc.stderr.strip().splitlines()[-1] == f"0 {observe}", proc.stderr


@pytest.mark.parametrize("dlab", ["bridge-vxlan"], indirect=True)
def test_kdiag_cleanup_removes_observer_pods_a_killed_trace_left(dlab: DatapathLab, namespace: str) -> None:
    """kdiag killed with -9 while observing: its observer pods stay; `kdiag cleanup --all` removes them."""
    lab = dlab.lab
    proc = subprocess.Popen(
        [sys.executable, "-m", "kdiag", "trace", HELLO_1, WORDPRESS, "-n", "default", "--observe",
         "--observer-namespace", namespace, f"--kubeconfig={lab.kubeconfig}", "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, NO_COLOR="1"))
    assert proc.stderr is not None
    for line in proc.stderr:
        if "waiting for the observer" in line:
            break
    proc.kill()
    proc.communicate(timeout=30)
    left = lab.kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.split()
    assert len(left) == 2 and all("kdiag-observer-" in name for name in left), left
    result = lab.kdiag("cleanup", "-n", namespace, "--all")
    assert result.exit_code == 0, result.stderr
    assert lab.kubectl("get", "pods", "-n", namespace, "-l", "app.kubernetes.io/managed-by=kdiag",
                       "-o", "name").stdout.split() == []
