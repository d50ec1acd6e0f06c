"""Fixtures for the node observer's tests: two namespace "nodes" with pods, a server, and a runner
that starts the observer in a node, waits until it captures, makes traffic, and stops it.

Every ObserverResult a run produces is validated against docs/schema/observer-result.schema.json.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kdiag.observer import observer_source
from kdiag.observer.observer import READY
from tests.observer import topology as topo
from tests.prereq import require_root_netns

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "docs" / "schema" / "observer-result.schema.json").read_text())
SERVER_PORT = 8080  # TCP accepts and closes, UDP echoes, on pb
N1_INTERFACES = [{"name": "vethpa", "role": "podVeth"}, {"name": "cni0", "role": "bridge"},
                 {"name": "flannel.1", "role": "tunnel"}, {"name": "eth0", "role": "underlay"}]
N2_INTERFACES = [{"name": "eth0", "role": "underlay"}, {"name": "flannel.1", "role": "tunnel"},
                 {"name": "cni0", "role": "bridge"}, {"name": "vethpb", "role": "podVeth"}]
VXLAN = [{"type": "vxlan", "port": topo.VXLAN_PORT}]
Result = dict[str, Any]


def validate(result: Result) -> Result:
    jsonschema.Draft202012Validator(SCHEMA).validate(result)
    return result


def spec_for(flow: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"flow": flow, "interfaces": N1_INTERFACES, "encapsulations": VXLAN,
                            "window": 20, "peers": [topo.UNDERLAY["n2"]]}
    spec.update(overrides)
    return spec


def observe(nodes: topo.Nodes, node: str, spec: dict[str, Any], traffic: Callable[[], object], *,
            argv: list[str] | None = None, as_source: bool = False, python: str = sys.executable,
            flags: tuple[str, ...] = ()) -> Result:
    """Run the observer in `node`; once it says it captures, run `traffic`, then end the window
    with SIGTERM (the observer drains what the kernel queued) and return its validated result."""
    entry = ["-c", observer_source()] if as_source else ["-m", "kdiag.observer"]
    command = ["ip", "netns", "exec", nodes.ns(node), *(argv or []), python, *flags, *entry, json.dumps(spec)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=env)
    assert proc.stderr is not None
    try:
        ready = proc.stderr.readline().strip()
        assert ready == READY, f"observer did not start: {ready!r} {proc.stderr.read()}"
        traffic()
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    documents = stdout.splitlines()
    assert len(documents) == 1, f"expected exactly one JSON document on stdout, got {stdout!r}"
    result = validate(json.loads(documents[0]))
    assert result["window"]["endedBy"] in ("signal", "allCapped")
    return result


@pytest.fixture(scope="session")
def nodes() -> Iterator[topo.Nodes]:
    require_root_netns()
    built = topo.Nodes()
    try:
        built.build()
        server = built.serve("pb", SERVER_PORT)
        try:
            yield built
        finally:
            server.kill()
            server.wait()
    finally:
        built.destroy()
