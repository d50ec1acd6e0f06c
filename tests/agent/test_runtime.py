"""How the agent behaves as shipped: bounded against unreachable targets, stdlib-only, Python 3.8."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agent import topology as topo
from tests.agent.conftest import (
    SYSTEM_PYTHON,
    Prober,
    require_unprivileged_runner,
    run_agent,
)
from tests.prereq import require

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]
PYTHON38 = Path.home() / ".pyenv" / "versions" / "3.8.18" / "bin" / "python3.8"
INTERPRETER_SLACK = 1.5  # seconds a fresh interpreter may need around the agent's own budget


def test_unreachable_target_finishes_within_budget(probe: Prober) -> None:
    """Nobody answers ARP for ABSENT: every probe waits, none may overrun, and the exit is still 0."""
    began = time.monotonic()
    result = probe("client", target=topo.ABSENT, timeout=0.5)
    wall = time.monotonic() - began
    assert result["budgetSeconds"] == 2.5
    assert result["durationSeconds"] <= result["budgetSeconds"]
    assert wall <= result["budgetSeconds"] + INTERPRETER_SLACK
    probes = result["probes"]
    assert probes["icmp"]["received"] == 0
    assert probes["icmp"]["lossPercent"] == 100.0
    assert probes["traceroute"]["reached"] is False
    assert probes["tcp"]["state"] == "filtered"
    assert probes["udp"]["state"] == "open|filtered"
    assert probes["pmtu"]["pathMtu"] is None
    if probe.engine == "raw":
        assert probes["arp"]["answered"] is False
        assert probes["arp"]["requests"] == 3


def test_source_runs_with_scapy_hidden(topology: topo.Topology) -> None:
    """`python3 -I -S -c <source>`: no site-packages, so no scapy; the raw engine still works."""
    hidden = subprocess.run([sys.executable, "-I", "-S", "-c", "import scapy"], capture_output=True,
                            check=False)
    assert hidden.returncode != 0, "scapy is importable without site-packages; this test would prove nothing"
    result = run_agent({"target": topo.T2, "engine": "raw"}, netns=topology.ns("client"),
                       flags=["-I", "-S"], as_source=True).result()
    assert result["probes"]["icmp"]["replyTtl"] == 62
    assert result["probes"]["arp"]["measured"] is False


def test_source_runs_on_python38(topology: topo.Topology) -> None:
    require(PYTHON38.exists(), f"needs a Python 3.8 interpreter at {PYTHON38}")
    result = run_agent({"target": topo.T2}, netns=topology.ns("client"), python=str(PYTHON38),
                       flags=["-I", "-S"], as_source=True).result()
    assert result["engine"] == "raw"
    assert result["probes"]["icmp"]["replyTtl"] == 62
    assert [hop["address"] for hop in result["probes"]["traceroute"]["hops"]] == [
        topo.R1_LAN, topo.R2_CORE, topo.T2]
    assert result["probes"]["pmtu"]["pathMtu"] == topo.CORE_MTU


def test_raw_engine_without_raw_sockets_explains_itself(topology: topo.Topology) -> None:
    require_unprivileged_runner()
    result = run_agent({"target": topo.T0, "engine": "raw"}, netns=topology.ns("client"), as_nobody=True,
                       python=SYSTEM_PYTHON, flags=["-I"], as_source=True).result()
    probes = result["probes"]
    assert result["engine"] == "raw"
    for name in ("icmp", "tcp", "traceroute", "arp", "pmtu"):
        assert probes[name]["measured"] is False
        assert "CAP_NET_RAW" in probes[name]["reason"]
    assert probes["local"]["measured"] is True
    assert probes["udp"]["state"] == "closed"  # UDP needs no privilege
