"""Verdict correctness (issue 10): faults injected by hand into the lab, each giving the right culprit.

A 3-node ptp lab (module scope, its own temp dir) for the detour through a third node, the firewall's
RST, the source pod's own link and the node that does not forward; the session lab (bridge-vxlan) for
the destination-node faults behind a tunnel, node addresses as destinations, the ordering and wording,
and Pod Security. Every fault is made with kdiag_lab.faults inside the lab's own namespaces.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kdiag_lab import binaries, faults, lifecycle, netns
from kdiag_lab.kubelet_config import DataplaneConfig
from kdiag_lab.paths import LabPaths
from kdiag_lab.topology import LabNetwork, host_veth_name
from tests.conftest import Lab
from tests.e2e.test_trace_probe import pod, running
from tests.e2e.trace_helpers import HELLO_1, HELLO_2, WORDPRESS, codes, finding, probe_pods, trace

pytestmark = pytest.mark.lab

SRC, DST, THIRD = "worker24", "worker25", "worker26"
DST_CIDR, SRC_CIDR = "10.244.2.0/24", "10.244.1.0/24"


class PtpLab:
    def __init__(self, lab: Lab, net: LabNetwork) -> None:
        self.lab, self.net = lab, net

    def node(self, name: str) -> str:
        return self.net.node_ns(name)


@pytest.fixture(scope="module")
def ptp() -> Iterator[PtpLab]:
    root = Path(tempfile.mkdtemp(prefix="kdiag-test-verdicts-ptp-"))
    paths = LabPaths(root / "lab")
    try:
        state = lifecycle.up(paths, datapath="ptp", workers=3, emit=lambda _m: None)
        lab = Lab(paths, state.server, binaries.resolve(build=False).kubectl)
        yield PtpLab(lab, DataplaneConfig.load(paths).network())
        assert probe_pods(lab) == []
    finally:
        lifecycle.down(paths, emit=lambda _m: None)
        shutil.rmtree(root, ignore_errors=True)


def _vxlan(lab: Lab) -> LabNetwork:
    return DataplaneConfig.load(lab.paths).network()


def _healthy(result: Any, doc: dict[str, Any]) -> None:
    assert result.exit_code == 0, result.stderr
    assert doc["verdict"]["status"] == "ok" and doc["verdict"]["matchesExpected"], doc["verdict"]


# ---- 1. the forward and the reverse path are separate facts ------------------------------------


@pytest.mark.parametrize("mode", ["pod", "ephemeral"])
@pytest.mark.parametrize("stateful", [False, True], ids=["detour", "detour-ct-invalid-drop"])
def test_detour_through_a_third_node_is_not_ok(ptp: PtpLab, mode: str, stateful: bool) -> None:
    with contextlib.ExitStack() as faulted:
        via_third = faults.replace_route(ptp.node(SRC), DST_CIDR, "via", "10.250.0.26", "dev", "eth0")
        faulted.enter_context(via_third)
        if stateful:
            # The third node sees only the requests: a real client's connection hangs after its
            # SYN, since the data that follows is "invalid" there. The probe's facts are the same.
            faulted.enter_context(faults.drop_counted(ptp.node(THIRD), "forward", "ct state invalid"))
        result, doc = trace(ptp.lab, HELLO_1, WORDPRESS, "--mode", mode)
    assert doc["probe"]["mode"] == mode
    assert doc["observed"]["probes"]["traceroute"]["reachedAtTtl"] == 4  # 3 forwarding hops out
    assert doc["observed"]["probes"]["icmp"]["replyTtl"] == 62  # 2 on the way back
    assert result.exit_code == 1, result.stderr
    assert doc["verdict"]["status"] == "problem" and not doc["verdict"]["matchesExpected"]
    detour = finding(doc, "PATH_DETOUR")
    assert detour["node"] == THIRD and detour["severity"] == "error"
    assert THIRD in detour["message"] and "asymmetric" in detour["message"]
    assert codes(doc)[0] == "PATH_DETOUR" and "PATH_AS_EXPECTED" not in codes(doc)
    # The reverse path alone matched: ROUTED_HOPS must not claim the forward hops were as expected.
    assert all(THIRD not in f["message"] for f in doc["verdict"]["findings"] if f["code"] == "ROUTED_HOPS")
    _healthy(*trace(ptp.lab, HELLO_1, WORDPRESS, "--mode", mode))


# ---- 2. a RST is attributed, by its TTL, to whoever sent it -------------------------------------


def test_rst_from_a_node_firewall_is_not_nothing_listens(ptp: PtpLab) -> None:
    with faults.reset_forwarded(ptp.node(DST), 80):
        result, doc = trace(ptp.lab, HELLO_1, WORDPRESS)
    assert doc["observed"]["probes"]["tcp"]["replyTtl"] == 63  # one hop nearer than the pod (62)
    assert result.exit_code == 1
    assert "TCP_CLOSED" not in codes(doc)
    reset = finding(doc, "TCP_RESET_IN_PATH")
    assert reset["node"] == DST and codes(doc)[0] == "TCP_RESET_IN_PATH"
    assert "TTL 63" in reset["message"] and "62" in reset["message"]
    # Nothing listening in the pod itself is still TCP_CLOSED: the RST then has the pod's TTL.
    result, doc = trace(ptp.lab, HELLO_1, WORDPRESS, "--port", "9999")
    assert codes(doc)[0] == "TCP_CLOSED" and "TCP_RESET_IN_PATH" not in codes(doc)


# ---- 3. which address of the expected path answered ---------------------------------------------


def test_ptp_destination_node_not_forwarding(ptp: PtpLab) -> None:
    # No address of worker25 lies on the pods' route (no tunnel, no bridge): its node address answering
    # proves it up and its way back, not that the traffic reached it. Both suspects are named.
    with faults.sysctls(ptp.node(DST), {"net.ipv4.ip_forward": 0}):
        result, doc = trace(ptp.lab, HELLO_1, WORDPRESS)
    assert result.exit_code == 1
    stop = finding(doc, "STOPS_AT_HOP")
    assert codes(doc)[0] == "STOPS_AT_HOP" and "OVERLAY_SUSPECT" not in codes(doc)
    assert "10.250.0.25" in stop["hint"] and f"{DST} does not forward it" in stop["hint"]
    assert "ip_forward" in stop["hint"]


def test_vxlan_destination_node_not_forwarding_does_not_blame_the_tunnel(lab: Lab) -> None:
    net = _vxlan(lab)
    with faults.sysctls(net.node_ns(DST), {"net.ipv4.ip_forward": 0}):
        result, doc = trace(lab, HELLO_1, WORDPRESS)
    assert result.exit_code == 1
    assert "OVERLAY_SUSPECT" not in codes(doc)
    culprit = finding(doc, "NODE_NOT_FORWARDING")
    assert culprit["node"] == DST and codes(doc)[0] == "NODE_NOT_FORWARDING"
    assert "10.244.2.0" in culprit["message"] or "10.244.2.1" in culprit["message"]
    assert "tunnel works" in culprit["message"]


def test_vxlan_destination_return_route_blackholed_names_it_with_the_tunnel(lab: Lab) -> None:
    net = _vxlan(lab)
    with faults.blackhole(net.node_ns(DST), SRC_CIDR):
        result, doc = trace(lab, HELLO_1, WORDPRESS)
    assert result.exit_code == 1
    suspect = finding(doc, "OVERLAY_SUSPECT")
    assert codes(doc)[0] == "OVERLAY_SUSPECT"
    assert f"{DST}'s route back to 10.244.1.6" in suspect["message"]


def test_vxlan_strict_rp_filter_with_the_return_route_via_eth0(lab: Lab) -> None:
    net = _vxlan(lab)
    strict = {"net.ipv4.conf.all.rp_filter": 1, "net.ipv4.conf.flannel/1.rp_filter": 1}
    with faults.replace_route(net.node_ns(DST), SRC_CIDR, "via", "10.250.0.24", "dev", "eth0"), \
            faults.sysctls(net.node_ns(DST), strict):
        result, doc = trace(lab, HELLO_1, WORDPRESS)
    assert result.exit_code == 1
    assert "OVERLAY_SUSPECT" not in codes(doc)
    culprit = finding(doc, "RETURN_PATH_SUSPECT")
    assert culprit["node"] == DST and "rp_filter" in culprit["hint"]
    assert codes(doc)[0] == "RETURN_PATH_SUSPECT"


# ---- 4. destinations that are not pods ------------------------------------------------------------


def test_outside_address_is_its_own_relation(lab: Lab) -> None:
    _result, doc = trace(lab, HELLO_1, "192.0.2.1", "--timeout", "20s")
    assert doc["relation"] == "external"
    assert all(a for hop in doc["expected"]["hops"] for a in hop["addresses"])
    assert "OVERLAY_SUSPECT" not in codes(doc)
    assert any("default route" in hop["label"] for hop in doc["expected"]["hops"])
    assert not doc["expected"]["encapsulated"]


def test_node_addresses_are_pod_to_node(lab: Lab) -> None:
    result, doc = trace(lab, HELLO_1, "10.250.0.25")
    assert doc["relation"] == "pod-to-node"
    _healthy(result, doc)
    # worker25's cni0 address is worker25 itself, not a pod on it (no false TTL_MISMATCH).
    result, doc = trace(lab, HELLO_1, "10.244.2.1")
    assert doc["relation"] == "pod-to-node" and doc["destination"]["node"] == DST
    _healthy(result, doc)
    assert "TTL_MISMATCH" not in codes(doc)


# ---- 5. special addresses -------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.1", "169.254.1.1"])
def test_special_addresses_are_usage_errors(lab: Lab, address: str) -> None:
    result = lab.kdiag("trace", HELLO_1, address)
    assert result.exit_code == 2, result.stdout
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) <= 2
    assert address in result.stderr and "Traceback" not in result.stderr
    assert probe_pods(lab) == []


# ---- 6. pod mode does not test the source pod's own link ------------------------------------------


def test_pod_mode_says_it_did_not_test_the_source_link(ptp: PtpLab) -> None:
    veth = host_veth_name("ptp", f"default/{HELLO_1}")
    with faults.sysctls(ptp.node(SRC), {f"net.ipv4.conf.{veth}.proxy_arp": 0}):
        # The pod's cached gateway entry (from an earlier trace run inside it) would still carry
        # its packets: forget it, so the pod must ask, as it would after a reboot or a timeout.
        netns.ip(ptp.net.pod_ns(f"default/{HELLO_1}"), "neigh", "flush", "all")
        result, doc = trace(ptp.lab, HELLO_1, HELLO_2)
        note = finding(doc, "SOURCE_NOT_PROBED")
        assert note["severity"] == "info" and "--mode ephemeral" in note["hint"]
        text = ptp.lab.kdiag("trace", HELLO_1, HELLO_2)
        assert "--mode ephemeral" in text.stdout
        result, doc = trace(ptp.lab, HELLO_1, HELLO_2, "--mode", "ephemeral")
    assert result.exit_code == 1 and doc["verdict"]["status"] == "problem"
    assert "SOURCE_NOT_PROBED" not in codes(doc)


# ---- 7. ordering and wording ------------------------------------------------------------------------


def test_the_locating_finding_comes_before_no_reply(lab: Lab) -> None:
    result, doc = trace(lab, HELLO_1, "10.244.2.200", "--timeout", "20s")  # worker25's podCIDR, no pod
    assert result.exit_code == 1
    assert codes(doc)[0] == "STOPS_AT_HOP" and "NO_REPLY" in codes(doc)
    assert "the other findings" not in finding(doc, "NO_REPLY")["hint"]


def test_status_says_what_matched_and_what_did_not(lab: Lab) -> None:
    text = lab.kdiag("trace", HELLO_1, WORDPRESS, "--port", "9999")
    assert text.exit_code == 1
    verdict = next(line for line in text.stdout.splitlines() if line.startswith("Verdict:"))
    assert "does not match the expected path" not in verdict
    assert "path as expected" in verdict and "TCP_CLOSED" in verdict


def test_tcp_filtered_hint_names_the_namespace(lab: Lab) -> None:
    with faults.drop(_vxlan(lab).pod_ns(f"default/{WORDPRESS}"), "tcp", 80):
        _result, doc = trace(lab, HELLO_1, WORDPRESS)
    hint = finding(doc, "TCP_FILTERED")["hint"]
    assert "<dst namespace>" not in hint and "-n default" in hint


def test_source_node_not_forwarding_says_forwarding(lab: Lab) -> None:
    with faults.sysctls(_vxlan(lab).node_ns(SRC), {"net.ipv4.ip_forward": 0}):
        result, doc = trace(lab, HELLO_1, WORDPRESS)
    assert result.exit_code == 1
    culprit = finding(doc, "NODE_NOT_FORWARDING")
    assert culprit["node"] == SRC and codes(doc)[0] == "NODE_NOT_FORWARDING"
    assert "ip_forward" in culprit["hint"]
    assert all("forward" in f["hint"] for f in doc["verdict"]["findings"] if f["code"] == "STOPS_AT_HOP")


# ---- 8. NET_RAW is not allowed by Pod Security baseline -------------------------------------------


def test_baseline_namespace_refuses_net_raw_and_auto_falls_back(lab: Lab, namespace: str) -> None:
    lab.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=baseline")
    src = running(lab, namespace, pod("web"))
    result, doc = trace(lab, f"{namespace}/{src}", f"default/{WORDPRESS}")
    assert result.exit_code == 0, result.stderr
    assert doc["probe"]["fallback"] is True and doc["probe"]["engine"] == "unprivileged"
    assert "NET_RAW" in doc["probe"]["fallbackReason"] and "baseline" in doc["probe"]["fallbackReason"]
    limited = finding(doc, "ENGINE_LIMITED")  # what --engine raw needs, said truly
    assert "only a Pod Security privileged namespace admits" in limited["hint"]
    assert "baseline and restricted refuse it" in limited["hint"]
    help_text = lab.kdiag("trace", "--help").stdout
    assert "NET_RAW (Pod Security baseline)" not in help_text
    assert probe_pods(lab) == []
