"""kdiag.render.trace's per-hop table: the expected hop on the left, what was observed there on the right,
never Python's None, and read only through the parsed observations (a ProbeResult field rename breaks in
one place)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kdiag.model.hops import attach
from kdiag.model.observations import parse_observations
from kdiag.model.path import ExpectedPath
from kdiag.render.trace import hop_table
from tests.unit.test_verdict import CTX, arp, err, icmp, local, nm, path, pmtu, result, tcp, trace, udp


def text(doc: Any, exp: ExpectedPath | None = None) -> str:
    exp = exp or path()
    seen = parse_observations(doc, source_node=exp.src_node)
    spine = attach(exp, observations=seen, context=CTX)
    return "\n".join("".join(t for t, _ in line) for line in hop_table(exp, spine, seen))


HEAD = "Expected path  (routed, TTL -2, MTU 1450, via flannel.1 VXLAN UDP 8472)  Observed  (engine {})"
HOPS = """\
  #     NODE       EXPECTED                                              OBSERVED
  0     worker24   hello-app-1 eth0 [10.244.1.6]                         {0}
  1     worker24   veth (node end)
  2     worker24   bridge cni0 [10.244.1.1]
  3     worker24   worker24 forwards (overlay) [10.244.1.1]              {3}
  4     worker24   flannel.1 VXLAN UDP 8472 10.250.0.24 -> 10.250.0.25   {4}
  5     worker24   underlay 10.250.0.24 -> 10.250.0.25
  6     worker25   underlay arrives at 10.250.0.25
  7     worker25   flannel.1 decapsulates [10.250.0.25]                  {7}
  8     worker25   worker25 forwards to the pod [10.244.2.1]
  9     worker25   bridge cni0 [10.244.2.1]
  10    worker25   veth (node end)
  11    worker25   helm-wp-wordpress eth0 [10.244.2.3]                   {11}"""


def hops(**cells: str) -> str:
    filled = HOPS.format(*(cells.get(f"h{i}", "") for i in range(12)))
    return "\n".join(line.rstrip() for line in filled.splitlines())


def test_healthy_probes_sit_at_their_hops() -> None:
    doc = result(
        local=local(), icmp=icmp(ttl=62), tcp={**tcp("open"), "replyTtl": 62},
        udp={**udp("closed", err("10.244.2.3", "portUnreachable", 3, 3)), "rttMs": 0.122},
        traceroute=trace("10.244.1.1", None, "10.244.2.3", reached=True), arp=arp(True),
        pmtu=pmtu(1400, reported=1400, by="10.250.0.24"),
    )
    assert text(doc) == "\n".join([HEAD.format("raw, 0.4s"), hops(
        h0="local: eth0 10.244.1.6/24 mtu 1450, via 10.244.1.1",
        h3="traceroute TTL 1 answered by 10.244.1.1",
        h4="pmtu: reports MTU 1400",
        h11="traceroute reached at TTL 3; icmp: 3/3 replies, TTL 62, rtt 0.2 ms; tcp: port 80 open (0.2 ms), "
            "TTL 62; udp: port 9999 closed (0.122 ms); portUnreachable from 10.244.2.3; "
            "arp: answered by aa:bb:cc:00:01:07"),
        "  pmtu: path MTU 1400, interface 1450, 10.250.0.24 reports 1400"])


def test_errors_sit_at_the_hop_that_sent_them_and_a_missing_path_mtu_is_not_none() -> None:
    doc = result(
        engine="unprivileged", local=local(gateway=None),
        icmp=icmp(received=0, errors=[err("10.244.1.1", "hostUnreachable")]),
        tcp=tcp("filtered", err("10.250.0.25", "adminProhibited", 3, 13)), traceroute=trace(), arp=arp(False),
        pmtu=pmtu(None),
    )
    assert text(doc) == "\n".join([HEAD.format("unprivileged, 0.4s"), hops(
        h0="local: eth0 10.244.1.6/24 mtu 1450, on-link",
        h3="icmp: hostUnreachable from 10.244.1.1",
        h7="tcp: adminProhibited from 10.250.0.25",
        h11="icmp: 0/3 replies; tcp: port 80 filtered; arp: no answer to 3 requests"),
        "  pmtu: no DF probe answered, interface 1450",
        "  traceroute: not reached"])


def test_an_answer_off_the_expected_path_is_said_below_the_table() -> None:
    doc = result(icmp=icmp(received=0), traceroute=trace("10.244.1.1", "192.0.2.1"))
    lines = text(doc).splitlines()
    assert lines[-2:] == ["  traceroute TTL 2 answered by 192.0.2.1 (off the expected path)",
                          "  traceroute: not reached: 10.244.1.1 192.0.2.1"]


def test_unmeasured_and_missing_results() -> None:
    doc = result(engine="unprivileged", icmp=nm("ICMP datagram sockets are not permitted"),
                 arp=nm("target is not on-link", notApplicable=True))
    same_node = path(cross=False)
    assert text(doc, same_node) == """\
Expected path  (L2, no router in between, TTL unchanged, MTU 1450)  Observed  (engine unprivileged, 0.4s)
  #     NODE       EXPECTED                        OBSERVED
  0     worker24   hello-app-1 eth0 [10.244.1.6]
  1     worker24   veth (node end)
  2     worker24   bridge cni0 [10.244.1.1]
  3     worker24   veth (node end)
  4     worker24   hello-app-2 eth0 [10.244.1.7]
  icmp: not measured: ICMP datagram sockets are not permitted
  arp: n/a: target is not on-link"""
    assert text({"error": "agent crashed"}, same_node).splitlines()[0].endswith("Observed  (engine ?)")
    assert text({"error": "agent crashed"}, same_node).splitlines()[-1] == "  no probe result"


def test_nulls_the_agent_may_send_never_print_none() -> None:
    no_route = {**local(), "interface": None, "mtu": None, "route": None, "addresses": []}
    doc = result(local=no_route, icmp=icmp(ttl=None), udp=udp("open|filtered"),
                 traceroute=trace(None, None), arp={**arp(False), "requests": 3}, pmtu=pmtu(None))
    assert "None" not in text(doc), text(doc)


def test_the_renderer_reads_no_probe_result_field_itself() -> None:
    source = (Path(__file__).parents[2] / "kdiag" / "render" / "trace.py").read_text()
    raw = re.findall(r"""\.get\(["'](\w+)["']|\[["'](\w+)["']\]""", source)
    assert not [name for pair in raw for name in pair if name], raw
