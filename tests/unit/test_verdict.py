"""kdiag.model.verdict.judge on hand-written ProbeResult documents, one fault at a time.

Every document is validated against docs/schema/probe-result.schema.json first, so the verdict is tested
against the agent's real field names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kdiag.model.datapath import Datapath, Mode, Overlay, OverlayKind, Relation, Routing
from kdiag.model.findings import Code, Context, Verdict, context_for, node_addresses
from kdiag.model.objects import NodeInfo, PodInfo
from kdiag.model.observations import parse_observations
from kdiag.model.observed import decode_probe_result as observations
from kdiag.model.path import ExpectedPath, expected
from kdiag.model.targets import AddressScope, AddressTarget, PodTarget, address_target
from kdiag.model.verdict import judge as judge_observations

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "schema" / "probe-result.schema.json").read_text())

W24 = NodeInfo("worker24", "True", internal_ips=("10.250.0.24",), pod_cidrs=("10.244.1.0/24",))
W25 = NodeInfo("worker25", "True", internal_ips=("10.250.0.25",), pod_cidrs=("10.244.2.0/24",))
NODES = {"worker24": W24, "worker25": W25}
HELLO1 = PodInfo("default", "hello-app-1", node_name="worker24", pod_ip="10.244.1.6", phase="Running")
HELLO2 = PodInfo("default", "hello-app-2", node_name="worker24", pod_ip="10.244.1.7", phase="Running")
WORDPRESS = PodInfo(
    "default", "helm-wp-wordpress", node_name="worker25", pod_ip="10.244.2.3", phase="Running"
)

FLANNEL = Datapath(
    "flannel",
    Mode.BRIDGE,
    Routing.OVERLAY,
    Overlay(OverlayKind.VXLAN, "flannel.1", 8472, 50, 1),
    bridge="cni0",
)
HOSTGW = Datapath("flannel", Mode.BRIDGE, Routing.HOST_GW, bridge="cni0")
PTP = Datapath("calico", Mode.PTP, Routing.BGP, gateway="169.254.1.1")
CILIUM = Datapath(
    "cilium", Mode.PTP, Routing.OVERLAY, Overlay(OverlayKind.VXLAN, "cilium_vxlan", 8472, 50), generic=True
)
CTX = Context(
    node_addresses(NODES.values()), port=80, dst_name="default/dst", dst_phase="Running", dst_ready=True
)


def path(dp: Datapath = FLANNEL, cross: bool = True) -> ExpectedPath:
    dst = WORDPRESS if cross else HELLO2
    relation = Relation.CROSS_NODE if cross else Relation.SAME_NODE
    return expected(HELLO1, target=PodTarget(dst), relation=relation, datapath=dp, nodes=NODES)


def judge(exp: ExpectedPath, doc: dict[str, Any], ctx: Context) -> Verdict:
    """The verdict on one ProbeResult document, parsed as kdiag trace parses it."""
    seen = parse_observations(doc, source_node=exp.src_node)
    return judge_observations(exp, observations=seen, context=ctx)


# ---- ProbeResult builders (kdiag/agent's shapes) ------------------------------------------


def nm(reason: str, **extra: Any) -> dict[str, Any]:
    return {"measured": False, "reason": reason, **extra}


def local(
    mtu: int = 1450, gateway: str | None = "10.244.1.1", source: str = "10.244.1.6"
) -> dict[str, Any]:
    return {
        "measured": True,
        "method": "procfs",
        "sourceAddress": source,
        "interface": "eth0",
        "mac": "aa:bb:cc:00:01:06",
        "mtu": mtu,
        "addresses": ["10.244.1.6/24"],
        "route": {
            "destination": "0.0.0.0/0" if gateway else "10.244.1.0/24",
            "gateway": gateway,
            "onLink": gateway is None,
        },
        "defaultGateway": "10.244.1.1",
    }


def icmp(
    received: int = 3, ttl: int | None = 62, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "measured": True,
        "method": "icmpRaw",
        "sent": 3,
        "received": received,
        "lossPercent": round(100.0 * (3 - received) / 3, 1),
        "rttMs": {"min": 0.1, "avg": 0.2, "max": 0.3} if received else None,
        "replyTtl": ttl if received else None,
        "replyFrom": "10.244.2.3" if received else None,
        "icmpErrors": errors or [],
    }


def tcp(state: str, error: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "measured": True,
        "method": "synRaw",
        "port": 80,
        "state": state,
        "rttMs": 0.2 if state != "filtered" else None,
        "replyTtl": None,
        "icmpError": error,
    }


def udp(state: str, error: dict[str, Any] | None = None, port: int = 9999) -> dict[str, Any]:
    return {
        "measured": True,
        "method": "udp",
        "port": port,
        "state": state,
        "rttMs": 0.1 if error or state == "open" else None,
        "icmpError": error,
    }


def err(source: str, name: str, type_: int = 3, code: int = 0) -> dict[str, Any]:
    return {"from": source, "type": type_, "code": code, "name": name}


def trace(*hops: str | tuple[str, dict[str, Any]] | None, reached: bool = False) -> dict[str, Any]:
    out = []
    for i, h in enumerate(hops, start=1):
        address, error = h if isinstance(h, tuple) else (h, None)
        out.append({"ttl": i, "address": address, "rttMs": 0.1 if address else None, "icmpError": error})
    return {
        "measured": True,
        "method": "icmpRaw",
        "maxHops": 30,
        "hops": out,
        "reached": reached,
        "reachedAtTtl": len(hops) if reached else None,
    }


def arp(answered: bool) -> dict[str, Any]:
    mac = "aa:bb:cc:00:01:07" if answered else None
    return {
        "measured": True,
        "method": "packetSocket",
        "interface": "eth0",
        "requests": 3,
        "answered": answered,
        "mac": mac,
        "answers": [{"mac": mac, "ethernetSource": mac, "rttMs": 0.05}] if answered else [],
    }


def pmtu(
    path_mtu: int | None, reported: int | None = None, by: str | None = None, method: str = "icmpRaw"
) -> dict[str, Any]:
    return {
        "measured": True,
        "method": method,
        "interfaceMtu": 1450,
        "pathMtu": path_mtu,
        "exact": path_mtu is not None,
        "reportedMtu": reported,
        "reportedBy": by,
        "probes": [{"size": 1450, "outcome": "noAnswer", "rttMs": None}],
    }


def result(engine: str = "raw", **probes: dict[str, Any]) -> dict[str, Any]:
    doc = {
        "apiVersion": "kdiag/v1",
        "kind": "ProbeResult",
        "engine": engine,
        "engineReason": "ok",
        "target": "10.244.2.3",
        "spec": {
            "target": "10.244.2.3",
            "port": 80,
            "probes": list(probes),
            "engine": "auto",
            "count": 3,
            "timeout": 2.0,
            "maxHops": 30,
        },
        "budgetSeconds": 7.0,
        "durationSeconds": 0.4,
        "probes": probes,
    }
    jsonschema.validate(doc, SCHEMA)
    return doc


def codes(verdict: Any) -> list[str]:
    return [f.code.value for f in verdict.findings]


def finding(verdict: Any, code: Code) -> Any:
    return next(f for f in verdict.findings if f.code is code)


# ---- healthy paths ---------------------------------------------------------------------------------


def test_healthy_cross_node_is_routed_as_expected() -> None:
    doc = result(
        local=local(),
        icmp=icmp(ttl=62),
        tcp=tcp("open"),
        traceroute=trace("10.244.1.1", "10.244.2.0", "10.244.2.3", reached=True),
        pmtu=pmtu(1450),
    )
    v = judge(path(), doc, CTX)
    assert (v.status, v.matches_expected) == ("ok", True)
    assert codes(v)[:2] == ["PATH_AS_EXPECTED", "ROUTED_HOPS"]
    hops = finding(v, Code.ROUTED_HOPS).message
    assert "10.244.1.1 (worker24, the source node)" in hops and "10.244.2.0 (worker25" in hops


def test_healthy_same_node_bridge_is_l2() -> None:
    doc = result(
        local=local(gateway=None),
        icmp=icmp(ttl=64),
        arp=arp(True),
        traceroute=trace("10.244.1.7", reached=True),
    )
    v = judge(path(cross=False), doc, CTX)
    assert v.status == "ok" and v.matches_expected and "L2_ADJACENT" in codes(v)
    assert "aa:bb:cc:00:01:07" in finding(v, Code.L2_ADJACENT).message


def test_healthy_same_node_ptp_is_one_routed_hop() -> None:
    v = judge(path(PTP, cross=False), result(icmp=icmp(ttl=63)), CTX)
    assert v.matches_expected and "ROUTED_HOPS" in codes(v)


def test_ttl_from_traceroute_when_no_reply_ttl() -> None:
    doc = result(
        engine="unprivileged",
        icmp=icmp(ttl=None),
        traceroute=trace("10.244.1.1", "10.244.2.0", "10.244.2.3", reached=True),
    )
    assert "ROUTED_HOPS" in codes(judge(path(), doc, CTX))


# ---- the shape differs -----------------------------------------------------------------------------


def test_ttl_mismatch_on_a_bridge() -> None:
    v = judge(path(cross=False), result(icmp=icmp(ttl=63)), CTX)
    f = finding(v, Code.TTL_MISMATCH)
    assert (v.status, v.matches_expected, f.severity) == ("ok", False, "warning")
    assert "1 forwarding hop(s), expected 0" in f.message


def test_ttl_mismatch_on_an_ebpf_datapath_is_only_information() -> None:
    v = judge(path(CILIUM), result(icmp=icmp(ttl=63)), CTX)
    assert finding(v, Code.TTL_MISMATCH).severity == "info" and v.matches_expected


# ---- faults ------------------------------------------------------------------------------------------


def test_overlay_udp_dropped_between_nodes() -> None:
    doc = result(local=local(), icmp=icmp(received=0), tcp=tcp("filtered"), traceroute=trace("10.244.1.1"))
    v = judge(path(), doc, CTX)
    assert v.status == "problem" and not v.matches_expected
    assert codes(v)[:2] == ["OVERLAY_SUSPECT", "NO_REPLY"]
    f = finding(v, Code.OVERLAY_SUSPECT)
    assert "flannel.1" in f.message and "UDP 8472" in f.message and "10.250.0.24 -> 10.250.0.25" in f.message
    assert f.node == "worker24" and "UDP 8472" in f.hint
    assert finding(v, Code.STOPS_AT_HOP).severity == "warning"


def test_route_removed_on_source_node_answers_net_unreachable() -> None:
    unreachable = err("10.244.1.1", "netUnreachable")
    doc = result(icmp=icmp(received=0, errors=[unreachable]), traceroute=trace(("10.244.1.1", unreachable)))
    v = judge(path(), doc, CTX)
    f = finding(v, Code.STOPS_AT_HOP)
    assert (f.severity, f.node) == ("error", "worker24") and "netUnreachable" in f.message
    assert "ip route get 10.244.2.3" in f.hint and "OVERLAY_SUSPECT" not in codes(v)


def test_route_removed_silently_on_a_routed_datapath() -> None:
    v = judge(path(HOSTGW), result(icmp=icmp(received=0), traceroute=trace("10.244.1.1")), CTX)
    f = finding(v, Code.STOPS_AT_HOP)
    assert (f.severity, f.node) == ("error", "worker24") and "the source node" in f.message


def test_stops_at_destination_node() -> None:
    v = judge(path(), result(icmp=icmp(received=0), traceroute=trace("10.244.1.1", "10.244.2.0")), CTX)
    f = finding(v, Code.STOPS_AT_HOP)
    assert f.node == "worker25" and "destination node" in f.message and "OVERLAY_SUSPECT" not in codes(v)


def test_stops_at_an_unknown_router() -> None:
    v = judge(path(HOSTGW), result(icmp=icmp(received=0), traceroute=trace("10.244.1.1", "192.0.2.1")), CTX)
    assert "192.0.2.1 (not a cluster node)" in finding(v, Code.STOPS_AT_HOP).message


def test_nothing_answers_not_even_the_first_hop() -> None:
    v = judge(path(PTP, cross=False), result(icmp=icmp(received=0), traceroute=trace(None)), CTX)
    f = finding(v, Code.STOPS_AT_HOP)
    assert f.severity == "warning" and "169.254.1.1" in f.hint


def test_dst_veth_down_on_a_bridge() -> None:
    doc = result(local=local(gateway=None), icmp=icmp(received=0), arp=arp(False), traceroute=trace())
    v = judge(path(cross=False), doc, CTX)
    f = finding(v, Code.ARP_UNANSWERED)
    assert (v.status, f.node) == ("problem", "worker24") and "cni0" in f.message and "master cni0" in f.hint


def test_arp_answered_but_no_reply_points_inside_the_pod() -> None:
    v = judge(path(cross=False), result(icmp=icmp(received=0), arp=arp(True), traceroute=trace()), CTX)
    assert "ARP is answered" in finding(v, Code.NO_REPLY).message and "ARP_UNANSWERED" not in codes(v)


def test_tcp_port_dropped_in_dst() -> None:
    v = judge(path(), result(icmp=icmp(), tcp=tcp("filtered")), CTX)
    f = finding(v, Code.TCP_FILTERED)
    assert (v.status, f.severity, f.node) == ("problem", "error", "worker25") and "networkpolicy" in f.hint


def test_tcp_rejected_names_who_rejected() -> None:
    v = judge(
        path(), result(icmp=icmp(), tcp=tcp("filtered", err("10.250.0.25", "adminProhibited", 3, 13))), CTX
    )
    assert "adminProhibited from 10.250.0.25 (worker25" in finding(v, Code.TCP_FILTERED).message


def test_nothing_listening() -> None:
    ctx = Context(CTX.node_addresses, 80, "default/dst", "Running", True, dst_ports=(8080,))
    v = judge(path(), result(icmp=icmp(), tcp=tcp("closed")), ctx)
    f = finding(v, Code.TCP_CLOSED)
    assert v.status == "problem" and "RST" in f.message and "8080" in f.hint


def test_icmp_filtered_tcp_ok() -> None:
    # The pmtu probe always runs; with ICMP filtered its echo carrier gets no answer either, so the
    # path MTU is unmeasured (info), not a black hole.
    doc = result(icmp=icmp(received=0), tcp=tcp("open"), traceroute=trace("10.244.1.1"), pmtu=pmtu(None))
    v = judge(path(), doc, CTX)
    assert v.status == "ok" and codes(v)[:2] == ["PATH_AS_EXPECTED", "ICMP_FILTERED_TCP_OK"]
    assert "MTU_BLACKHOLE" not in codes(v)
    f = finding(v, Code.MTU_UNMEASURED)
    assert f.severity == "info" and "ICMP" in f.message


def test_mtu_unmeasured_when_the_udp_carrier_gets_no_answer() -> None:
    doc = result(engine="unprivileged", icmp=nm("ICMP datagram sockets are not permitted"), tcp=tcp("open"),
                 pmtu=pmtu(None, method="udp"))
    v = judge(path(), doc, CTX)
    assert v.status == "ok" and "MTU_BLACKHOLE" not in codes(v) and "MTU_UNMEASURED" in codes(v)


def test_black_hole_still_found_when_the_smallest_df_probe_passed_without_icmp() -> None:
    doc = result(icmp=icmp(received=0), tcp=tcp("open"), pmtu=pmtu(576))
    assert finding(judge(path(), doc, CTX), Code.MTU_BLACKHOLE).severity == "error"


# ---- UDP ----------------------------------------------------------------------------------------------


def test_udp_port_closed_is_a_problem() -> None:
    doc = result(icmp=icmp(), udp=udp("closed", err("10.244.2.3", "portUnreachable", 3, 3)), pmtu=pmtu(1450))
    v = judge(path(), doc, CTX)
    f = finding(v, Code.UDP_CLOSED)
    assert (v.status, v.matches_expected, f.severity, f.node) == ("problem", False, "error", "worker25")
    assert "9999" in f.message and "PATH_AS_EXPECTED" not in codes(v) and codes(v)[0] == "UDP_CLOSED"


def test_udp_port_closed_proves_reachability_even_without_icmp() -> None:
    doc = result(icmp=icmp(received=0), udp=udp("closed", err("10.244.2.3", "portUnreachable", 3, 3)))
    v = judge(path(), doc, CTX)
    assert "UDP_CLOSED" in codes(v) and "NO_REPLY" not in codes(v)


def test_udp_rejected_names_who_rejected() -> None:
    doc = result(icmp=icmp(), udp=udp("filtered", err("10.250.0.25", "adminProhibited", 3, 13)))
    v = judge(path(), doc, CTX)
    f = finding(v, Code.UDP_FILTERED)
    assert v.status == "problem" and "adminProhibited from 10.250.0.25 (worker25" in f.message


def test_udp_silence_is_not_a_problem_but_is_said() -> None:
    v = judge(path(), result(icmp=icmp(), udp=udp("open|filtered"), pmtu=pmtu(1450)), CTX)
    assert (v.status, v.matches_expected) == ("ok", True)
    f = finding(v, Code.UDP_OPEN_FILTERED)
    assert f.severity == "info" and "9999" in f.message
    assert "UDP_OPEN_FILTERED" not in codes(judge(path(), result(icmp=icmp(), udp=udp("open")), CTX))


def test_udp_unanswered_and_nothing_else_is_no_reply() -> None:
    doc = result(icmp=icmp(received=0), udp=udp("open|filtered"), traceroute=trace("10.244.1.1"))
    v = judge(path(), doc, CTX)
    assert "NO_REPLY" in codes(v) and "UDP 9999 open|filtered" in finding(v, Code.NO_REPLY).message


# ---- the probe pod is not SRC -------------------------------------------------------------------------


def test_probe_pod_address_is_named_as_the_sender() -> None:
    doc = result(local=local(source="10.244.1.2"), icmp=icmp(ttl=62), pmtu=pmtu(1450),
                 traceroute=trace("10.244.1.1", "10.244.2.0", "10.244.2.3", reached=True))
    v = judge(path(), doc, CTX)
    for code in (Code.PATH_AS_EXPECTED, Code.ROUTED_HOPS):
        message = finding(v, code).message
        assert "from 10.244.1.2" in message and "not from 10.244.1.6" in message
    same = judge(path(), result(local=local(), icmp=icmp(ttl=62)), CTX)
    assert "not from" not in finding(same, Code.PATH_AS_EXPECTED).message
    assert finding(same, Code.PATH_AS_EXPECTED).message == path().summary


def test_tcp_filtered_from_a_probe_pod_mentions_policies_on_src_labels() -> None:
    v = judge(path(), result(local=local(source="10.244.1.2"), icmp=icmp(), tcp=tcp("filtered")), CTX)
    assert "--mode ephemeral" in finding(v, Code.TCP_FILTERED).hint
    same = judge(path(), result(local=local(), icmp=icmp(), tcp=tcp("filtered")), CTX)
    assert "--mode ephemeral" not in finding(same, Code.TCP_FILTERED).hint


def test_observations_are_public() -> None:
    obs = observations(result(local=local(source="10.244.1.2"), udp=udp("closed"), pmtu=pmtu(None)))
    seen = (obs.valid, obs.source_address, obs.udp_port, obs.udp_state)
    assert seen == (True, "10.244.1.2", 9999, "closed") and obs.probe("tcp") is None
    pmtu_status = obs.probe("pmtu")
    assert pmtu_status is not None and pmtu_status.measured
    assert not observations({"error": "x"}).valid


def test_every_code_is_documented_and_in_the_schema() -> None:
    docs = Path(__file__).parents[2] / "docs"
    text = (docs / "findings.md").read_text()
    schema = json.loads((docs / "schema" / "trace.schema.json").read_text())
    enum = schema["$defs"]["verdict"]["properties"]["findings"]["items"]["properties"]["code"]["enum"]
    for code in Code:
        assert f"## {code.value} (" in text and code.value in enum


def test_mtu_lowered_mid_path_is_a_black_hole() -> None:
    v = judge(path(), result(icmp=icmp(), pmtu=pmtu(1400)), CTX)
    f = finding(v, Code.MTU_BLACKHOLE)
    assert (v.status, f.severity) == ("problem", "error") and "larger than 1400" in f.message
    assert "expected 1450" in f.message and "flannel.1" in f.hint


def test_mtu_lower_but_reported_is_a_warning() -> None:
    v = judge(path(), result(icmp=icmp(), pmtu=pmtu(1400, reported=1400, by="10.250.0.24")), CTX)
    f = finding(v, Code.MTU_BLACKHOLE)
    assert (v.status, v.matches_expected, f.severity) == ("ok", False, "warning")
    assert "worker24" in f.message


def test_no_large_packet_passes() -> None:
    assert (
        finding(judge(path(), result(icmp=icmp(), pmtu=pmtu(None)), CTX), Code.MTU_BLACKHOLE).severity
        == "error"
    )


@pytest.mark.parametrize(
    ("phase", "ready", "text"), [("Pending", None, "is Pending"), ("Running", False, "not Ready")]
)
def test_dst_not_ready(phase: str, ready: bool | None, text: str) -> None:
    dst = PodInfo("default", "dst", node_name="worker25", phase=phase, pod_ip="10.244.2.3")
    ctx = context_for(NODES.values(), target=PodTarget(dst), port=80)
    if ready is False:
        ctx = Context(ctx.node_addresses, 80, "default/dst", phase, False)
    v = judge(path(), result(icmp=icmp(received=0), traceroute=trace("10.244.1.1", "10.244.2.0")), ctx)
    assert text in finding(v, Code.DST_NOT_READY).message


def test_engine_limited_says_what_and_why() -> None:
    doc = result(
        engine="unprivileged", icmp=icmp(), arp=nm("ARP needs a packet socket (CAP_NET_RAW)"), tcp=tcp("open")
    )
    v = judge(path(cross=False), doc, CTX)
    f = finding(v, Code.ENGINE_LIMITED)
    assert "arp: ARP needs a packet socket" in f.message and "unprivileged" in f.message
    not_applicable = result(icmp=icmp(ttl=62), arp=nm("target is not on-link", notApplicable=True))
    assert "ENGINE_LIMITED" not in codes(judge(path(), not_applicable, CTX))


def test_inconclusive_when_nothing_could_be_measured() -> None:
    v = judge(path(), result(engine="unprivileged", icmp=nm("ICMP datagram sockets are not permitted")), CTX)
    assert (v.status, v.matches_expected, codes(v)) == ("inconclusive", False, ["ENGINE_LIMITED"])
    bad = judge(path(), {"error": "agent crashed"}, CTX)
    assert bad.status == "inconclusive" and bad.to_dict()["findings"][0]["code"] == "ENGINE_LIMITED"


def test_context_maps_gateways_and_flannel_addresses_to_nodes() -> None:
    ctx = context_for(NODES.values(), target=AddressTarget("10.244.2.3", AddressScope.POD_RANGE, "worker25"))
    assert ctx.owner("10.244.1.1") == "worker24" and ctx.owner("10.244.2.0") == "worker25"
    assert ctx.owner("10.250.0.25") == "worker25" and ctx.owner("8.8.8.8") == "" and ctx.owner(None) == ""


def test_pod_mtu_below_the_model_is_not_a_black_hole() -> None:
    doc = result(icmp=icmp(), pmtu={**pmtu(1400), "interfaceMtu": 1400})
    assert "MTU_BLACKHOLE" not in codes(judge(path(), doc, CTX))


def test_path_below_model_with_bigger_pod_mtu_reported() -> None:
    doc = result(icmp=icmp(), pmtu={**pmtu(1450, reported=1450, by="10.244.1.1"), "interfaceMtu": 1500})
    f = finding(judge(path(), doc, CTX), Code.MTU_BLACKHOLE)
    assert f.severity == "warning" and "below 1500" in f.message and "worker24" in f.message


def test_destination_given_as_an_ip_has_unknown_readiness() -> None:
    ctx = context_for(NODES.values(), target=address_target("10.244.2.3", nodes=NODES.values()), port=80)
    assert ctx.dst_ready is None
    assert "DST_NOT_READY" not in codes(judge(path(), result(icmp=icmp()), ctx))
