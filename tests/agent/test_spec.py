"""The spec contract and the shipping constraints; no privileges or namespaces needed."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys

import pytest

from kdiag.agent import agent_source
from kdiag.agent.agent import DEFAULTS, SpecError, budget_seconds, checksum, parse_spec
from tests.agent.conftest import AGENT_PATH, run_agent
from tests.prereq import require


def test_defaults_fill_omitted_keys() -> None:
    spec = parse_spec('{"target": "10.99.0.1"}')
    assert spec == {"target": "10.99.0.1", "port": 80, "probes": list(DEFAULTS["probes"]), "engine": "auto",
                    "count": 3, "timeout": 2.0, "maxHops": 30}
    assert spec["probes"] == ["local", "icmp", "tcp", "udp", "traceroute", "arp", "pmtu"]
    assert budget_seconds(spec) == 7.0


def test_repeated_probe_names_run_once() -> None:
    spec = parse_spec('{"target": "10.99.0.1", "probes": ["icmp", "tcp", "icmp"]}')
    assert spec["probes"] == ["icmp", "tcp"]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('{"target": "10.99.0.1", "colour": "blue"}', "unknown spec key(s): colour"),
        ('{"target": "10.99.0.1", "port": 0}', "spec.port"),
        ('{"target": "10.99.0.1", "port": true}', "spec.port"),
        ('{"target": "10.99.0.1", "count": 2.5}', "spec.count"),
        ('{"target": "10.99.0.1", "timeout": 0}', "spec.timeout"),
        ('{"target": "10.99.0.1", "engine": "fast"}', "spec.engine"),
        ('{"target": "10.99.0.1", "probes": ["dns"]}', "spec.probes"),
        ('{"target": "pod-a"}', "spec.target"),
        ('{"port": 80}', "spec.target"),
        ('["10.99.0.1"]', "JSON object"),
        ("{target: 1}", "not valid JSON"),
    ],
)
def test_bad_spec_is_rejected(text: str, complaint: str) -> None:
    with pytest.raises(SpecError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(text)


@pytest.mark.parametrize("spec", ['{"target": "10.99.0.1", "colour": "blue"}', "not json"])
def test_bad_spec_exits_2_with_one_line_and_no_document(spec: str) -> None:
    run = run_agent(spec)
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.splitlines()) == 1
    assert run.stderr.startswith("kdiag-agent: error: ")


def test_missing_spec_argument_exits_2() -> None:
    proc = subprocess.run([sys.executable, "-c", AGENT_PATH.read_text()], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "usage" in proc.stderr


def test_checksum_matches_rfc1071_example() -> None:
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_agent_source_is_the_module_text() -> None:
    assert agent_source() == AGENT_PATH.read_text()


def test_agent_imports_only_the_standard_library() -> None:
    tree = ast.parse(AGENT_PATH.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported, "found no imports at all; the walk is broken"
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_agent_is_python38_compatible() -> None:
    require(shutil.which("vermin") is not None, "needs vermin (pip install vermin)")
    argv = ["vermin", "-t=3.8-", "--no-tips", "--violations", "--eval-annotations", str(AGENT_PATH)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
