"""Fixtures for the probe agent's tests: a namespace topology, its services, and agent runners.

Every result an agent run produces is validated against docs/schema/probe-result.schema.json here, so
each test that runs the agent also checks the schema.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kdiag.agent import agent_source
from tests.agent import topology as topo
from tests.prereq import require, require_root_netns

REPO = Path(__file__).resolve().parents[2]
AGENT_DIR = REPO / "kdiag" / "agent"
# Every module of the agent package, the shipped bootstrap (__init__) and `-m` entry included.
AGENT_FILES = sorted(AGENT_DIR.glob("*.py"))
SCHEMA = json.loads((REPO / "docs" / "schema" / "probe-result.schema.json").read_text())
SYSTEM_PYTHON, NOBODY = topo.SYSTEM_PYTHON, topo.NOBODY
# Port plan on t1: 8080 open, 8081 closed (RST), 8082 dropped, 8083 rejected with ICMP;
# UDP 9 closed (port unreachable), 5353 dropped.
T1_RULESET = """
table inet kdt_agent {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp dport 8082 drop
        tcp dport 8083 reject with icmpx type admin-prohibited
        udp dport 5353 drop
    }
}
"""

Result = dict[str, Any]


def validate(result: Result) -> Result:
    jsonschema.Draft202012Validator(SCHEMA).validate(result)
    return result


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def result(self) -> Result:
        assert self.returncode == 0, self.stderr
        documents = self.stdout.splitlines()
        assert len(documents) == 1, f"expected exactly one JSON document on stdout, got {self.stdout!r}"
        return validate(json.loads(documents[0]))


def run_agent(
    spec: dict[str, Any] | str,
    *,
    netns: str | None = None,
    as_nobody: bool = False,
    python: str = sys.executable,
    flags: Sequence[str] = (),
    as_source: bool = False,
    timeout: float = 60,
) -> Run:
    """Run the agent as `python -m kdiag.agent` or, with `as_source`, as `python -c <source>`."""
    text = spec if isinstance(spec, str) else json.dumps(spec)
    entry = ["-c", agent_source()] if as_source else ["-m", "kdiag.agent"]
    argv = [python, *flags, *entry, text]
    if as_nobody:
        argv = NOBODY + argv
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env,
                          check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def topology() -> Iterator[topo.Topology]:
    require_root_netns()
    built = topo.Topology()
    try:
        # t2 keeps the default ICMP rate limit: the UDP-fallback test proves one run fits in it.
        built.build(rate_limited=["t2"])
        yield built
    finally:
        built.destroy()


@pytest.fixture(scope="session")
def services(topology: topo.Topology) -> Iterator[topo.Topology]:
    """t1 listens on TCP 8080 and filters some ports with nftables."""
    require(shutil.which("nft") is not None, "needs nftables (`nft`) to filter ports in the target namespace")
    topology.nft("t1", T1_RULESET)
    listener = topology.serve_tcp("t1", 8080)
    try:
        yield topology
    finally:
        listener.kill()
        listener.wait()


@dataclass
class Prober:
    """Runs the agent in a topology role with one engine.

    raw: root, `python3 -m kdiag.agent`, engine "raw". unprivileged: uid/gid 65534 with no
    capabilities, the shipped form `python3 -I -c <source>`, engine "auto" (which must pick
    unprivileged, proving the run had no raw sockets).
    """

    engine: str
    topology: topo.Topology

    def __call__(self, role: str, **spec: Any) -> Result:
        spec.setdefault("timeout", 1.0)
        netns = self.topology.ns(role)
        if self.engine == "raw":
            run = run_agent(dict(spec, engine="raw"), netns=netns)
        else:
            run = run_agent(dict(spec, engine="auto"), netns=netns, as_nobody=True,
                            python=SYSTEM_PYTHON, flags=["-I"], as_source=True)
        result = run.result()
        assert result["engine"] == self.engine, result["engineReason"]
        return result


def require_unprivileged_runner() -> None:
    require(shutil.which("setpriv") is not None, "needs setpriv (util-linux) to drop privileges")
    require(os.access(SYSTEM_PYTHON, os.X_OK), f"needs {SYSTEM_PYTHON} for the unprivileged user")


@pytest.fixture(params=["raw", "unprivileged"])
def probe(request: pytest.FixtureRequest, topology: topo.Topology) -> Prober:
    if request.param == "unprivileged":
        require_unprivileged_runner()
    return Prober(request.param, topology)
