"""kdiag.render.trace's observed table: what each probe shows, never Python's None, and read only
through kdiag.model.observed's parsed observations (a ProbeResult field rename breaks in one place)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kdiag.render.trace import observed_table
from tests.unit.test_verdict import arp, err, icmp, local, nm, pmtu, result, tcp, trace, udp


def text(doc: Any) -> str:
    return "\n".join("".join(t for t, _ in line) for line in observed_table(doc))


def test_healthy_probes_read_as_before() -> None:
    doc = result(
        local=local(), icmp=icmp(ttl=62), tcp={**tcp("open"), "replyTtl": 62},
        udp={**udp("closed", err("10.244.2.3", "portUnreachable", 3, 3)), "rttMs": 0.122},
        traceroute=trace("10.244.1.1", None, "10.244.2.3", reached=True), arp=arp(True),
        pmtu=pmtu(1400, reported=1400, by="10.250.0.24"),
    )
    assert text(doc) == """\
Observed  (engine raw, 0.4s)
  PROBE        RESULT
  LOCAL        eth0 10.244.1.6/24 mtu 1450, via 10.244.1.1
  ICMP         3/3 replies, TTL 62, rtt 0.2 ms
  TCP          port 80 open (0.2 ms), TTL 62
  UDP          port 9999 closed (0.122 ms); portUnreachable from 10.244.2.3
  TRACEROUTE   reached at TTL 3: 10.244.1.1 * 10.244.2.3
  ARP          answered by aa:bb:cc:00:01:07
  PMTU         path MTU 1400, interface 1450, 10.250.0.24 reports 1400"""


def test_failed_probes_read_as_before_and_a_missing_path_mtu_is_not_none() -> None:
    doc = result(
        engine="unprivileged", local=local(gateway=None),
        icmp=icmp(received=0, errors=[err("10.244.1.1", "hostUnreachable")]),
        tcp=tcp("filtered", err("10.250.0.25", "adminProhibited", 3, 13)), traceroute=trace(), arp=arp(False),
        pmtu=pmtu(None),
    )
    assert text(doc) == """\
Observed  (engine unprivileged, 0.4s)
  PROBE        RESULT
  LOCAL        eth0 10.244.1.6/24 mtu 1450, on-link
  ICMP         0/3 replies; hostUnreachable from 10.244.1.1
  TCP          port 80 filtered; adminProhibited from 10.250.0.25
  TRACEROUTE   not reached
  ARP          no answer to 3 requests
  PMTU         no DF probe answered, interface 1450"""


def test_unmeasured_and_missing_results() -> None:
    doc = result(engine="unprivileged", icmp=nm("ICMP datagram sockets are not permitted"),
                 arp=nm("target is not on-link", notApplicable=True))
    assert text(doc) == """\
Observed  (engine unprivileged, 0.4s)
  PROBE   RESULT
  ICMP    not measured: ICMP datagram sockets are not permitted
  ARP     n/a: target is not on-link"""
    assert text({"error": "agent crashed"}) == "Observed  (engine ?)\n  no probe result"


def test_nulls_the_agent_may_send_never_print_none() -> None:
    no_route = {**local(), "interface": None, "mtu": None, "route": None, "addresses": []}
    doc = result(local=no_route, icmp=icmp(ttl=None), udp=udp("open|filtered"),
                 traceroute=trace(None, None), arp={**arp(False), "requests": 3}, pmtu=pmtu(None))
    assert "None" not in text(doc), text(doc)


def test_the_renderer_reads_no_probe_result_field_itself() -> None:
    source = (Path(__file__).parents[2] / "kdiag" / "render" / "trace.py").read_text()
    raw = re.findall(r"""\.get\(["'](\w+)["']|\[["'](\w+)["']\]""", source)
    assert not [name for pair in raw for name in pair if name], raw
