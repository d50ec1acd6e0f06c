"""The spec contract and the shipping constraints; no privileges or namespaces needed."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kdiag.agent import MODULES, agent_source
from kdiag.agent.packets import checksum
from kdiag.agent.spec import DEFAULTS, SpecError, budget_seconds, parse_spec
from tests.agent.conftest import AGENT_DIR, AGENT_FILES, run_agent
from tests.prereq import require


def test_defaults_fill_omitted_keys() -> None:
    spec = parse_spec('{"target": "10.99.0.1"}')
    assert spec == {"target": "10.99.0.1", "port": 80, "probes": list(DEFAULTS["probes"]), "engine": "auto",
                    "count": 3, "timeout": 2.0, "maxHops": 30}
    assert spec["probes"] == ["local", "icmp", "tcp", "udp", "traceroute", "arp", "pmtu"]
    assert budget_seconds(spec) == 7.0


def test_dns_and_targets_settings_get_their_defaults() -> None:
    spec = parse_spec('{"target": "10.99.0.1", "probes": ["dns", "targets"], '
                      '"dns": {"server": "10.96.0.10", "names": ["web."]}, '
                      '"targets": [{"target": "10.96.0.20", "port": 80}]}')
    assert spec["dns"] == {"server": "10.96.0.10", "names": ["web."], "port": 53, "type": "A"}
    assert spec["targets"] == [{"target": "10.96.0.20", "port": 80, "protocol": "tcp"}]
    assert "dns" not in parse_spec('{"target": "10.99.0.1"}')  # only when given: old specs unchanged


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
        ('{"target": "10.99.0.1", "probes": ["dns"]}', "spec.probes includes dns but spec.dns is missing"),
        ('{"target": "10.99.0.1", "probes": ["targets"]}', "spec.targets is missing"),
        ('{"target": "10.99.0.1", "dns": {"names": ["a."]}}', "spec.dns.server"),
        ('{"target": "10.99.0.1", "dns": {"server": "10.0.0.1", "names": []}}', "spec.dns.names"),
        ('{"target": "10.99.0.1", "dns": {"server": "10.0.0.1", "names": ["."]}}', "spec.dns.names"),
        ('{"target": "10.99.0.1", "dns": {"server": "10.0.0.1", "names": ["a..b."]}}', "spec.dns.names"),
        ('{"target": "10.99.0.1", "dns": {"server": "10.0.0.1", "names": ["%s.x."]}}' % ("a" * 64),
         "spec.dns.names"),
        ('{"target": "10.99.0.1", "dns": {"server": "10.0.0.1", "names": ["a."], "type": "MX"}}',
         "spec.dns.type"),
        ('{"target": "10.99.0.1", "dns": {"server": "10.0.0.1", "names": ["a."], "port": 0}}',
         "spec.dns.port"),
        ('{"target": "10.99.0.1", "dns": {"server": "10.0.0.1", "names": ["a."], "x": 1}}', "spec.dns must"),
        ('{"target": "10.99.0.1", "targets": []}', "spec.targets must"),
        ('{"target": "10.99.0.1", "targets": [{"target": "x", "port": 1}]}', "spec.targets.0..target"),
        ('{"target": "10.99.0.1", "targets": [{"target": "10.0.0.1"}]}', "spec.targets.0..port"),
        ('{"target": "10.99.0.1", "targets": [{"target": "10.0.0.1", "port": 1, "protocol": "sctp"}]}',
         "protocol must be tcp or udp"),
        ('{"target": "10.99.0.1", "probes": ["waypoints"]}', "spec.waypoints is missing"),
        ('{"target": "10.99.0.1", "waypoints": []}', "spec.waypoints must"),
        ('{"target": "10.99.0.1", "waypoints": ["10.0.0.1", "node"]}', "spec.waypoints.1."),
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
    proc = subprocess.run([sys.executable, "-c", agent_source()], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "usage" in proc.stderr


def test_dns_messages_round_trip_and_malformed_replies_are_refused() -> None:
    import struct

    from kdiag.agent.dns import DnsFormatError, build_query, parse_reply, read_name

    query = build_query("web.default.svc.cluster.local.", 1, 0x1234)
    assert read_name(query, 12) == ("web.default.svc.cluster.local.", 12 + 31)
    # a reply: the question, then an answer whose owner is a compression pointer to it
    reply = (struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0) + query[12:]
             + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + bytes([10, 96, 0, 20]))
    parsed = parse_reply(reply, 0x1234)
    assert parsed["rcode"] == "NOERROR" and parsed["answers"][0]["data"] == "10.96.0.20"
    with pytest.raises(DnsFormatError):
        parse_reply(reply, 0x4321)  # another query's reply
    loop = struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0) + b"\xc0\x0c"
    with pytest.raises(DnsFormatError):
        parse_reply(loop, 1)  # a pointer to itself


def test_checksum_matches_rfc1071_example() -> None:
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_agent_source_ships_every_module() -> None:
    """A module added to kdiag/agent/ but not to MODULES would be missing in the probe pod."""
    shipped = {path.stem for path in AGENT_FILES} - {"__init__", "__main__"}
    assert set(MODULES) == shipped
    source = agent_source()
    for name in MODULES:
        assert repr((AGENT_DIR / f"{name}.py").read_text()) in source, name
    assert "kdiag probe agent" in source  # what the cluster tests look for in the pod's command


def shipped_texts() -> list[tuple[str, str]]:
    """(label, text) of every agent module and of the one source that is shipped."""
    return [(path.name, path.read_text()) for path in AGENT_FILES] + [("agent_source()", agent_source())]


def test_agent_imports_nothing_of_kdiag() -> None:
    """The house check: relative imports inside the package, never `import kdiag...`."""
    pattern = re.compile(r"^\s*(import|from)\s+kdiag", re.MULTILINE)
    offenders = [label for label, text in shipped_texts() if pattern.search(text)]
    assert offenders == []


def test_agent_imports_only_the_standard_library() -> None:
    """Absolute imports only; relative ones (`from .spec import ...`) stay inside the package."""
    imported = {}
    for label, text in shipped_texts():
        tree = ast.parse(text)
        names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        names |= {node.module.split(".")[0] for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        imported[label] = names - set(sys.stdlib_module_names)
        assert names or label == "__main__.py", f"found no imports in {label}; the walk is broken"
    assert {label: names for label, names in imported.items() if names} == {}


def test_agent_is_python38_compatible(tmp_path: Path) -> None:
    """Every module, and the shipped source (bootstrap included) as one file."""
    require(shutil.which("vermin") is not None, "needs vermin (pip install vermin)")
    shipped = tmp_path / "agent_source.py"
    shipped.write_text(agent_source())
    paths = [str(path) for path in AGENT_FILES] + [str(shipped)]
    argv = ["vermin", "-t=3.8-", "--no-tips", "--violations", "--eval-annotations", *paths]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
