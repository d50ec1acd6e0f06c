"""How the observer ships and what it costs the rest of kdiag: one stdlib-only source for
Python 3.8+, a spec contract, and scapy kept out of every import path that does not observe."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kdiag.observer import CLIENT_MODULES, MODULES, observer_source
from kdiag.observer.spec import SpecError, parse_spec
from tests.agent.test_runtime import PYTHON38
from tests.prereq import require

REPO = Path(__file__).resolve().parents[2]
OBSERVER_DIR = REPO / "kdiag" / "observer"
SHIPPED_FILES = sorted(path for path in OBSERVER_DIR.glob("*.py") if path.stem not in CLIENT_MODULES)
FLOW = {"protocol": "tcp", "src": "10.98.1.10", "dst": "10.98.2.10", "dstPort": 80}
GOOD = {"flow": FLOW, "interfaces": [{"name": "eth0", "role": "underlay"}]}


def shipped_texts() -> list[tuple[str, str]]:
    files = [(path.name, path.read_text()) for path in SHIPPED_FILES]
    return [*files, ("observer_source()", observer_source())]


def test_observer_source_ships_every_module() -> None:
    shipped = {path.stem for path in SHIPPED_FILES} - {"__init__", "__main__"}
    assert set(MODULES) == shipped
    source = observer_source()
    for name in MODULES:
        assert repr((OBSERVER_DIR / f"{name}.py").read_text()) in source, name
    assert "decode.py" not in source and "scapy" not in source
    assert "kdiag node observer" in source


def test_shipped_modules_import_only_the_standard_library_and_nothing_of_kdiag() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+kdiag", re.MULTILINE)
    assert [label for label, text in shipped_texts() if pattern.search(text)] == []
    outside = {}
    for label, text in shipped_texts():
        tree = ast.parse(text)
        names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        names |= {node.module.split(".")[0] for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        assert names or label == "__main__.py", f"found no imports in {label}; the walk is broken"
        outside[label] = names - set(sys.stdlib_module_names)
    assert {label: names for label, names in outside.items() if names} == {}


def test_shipped_observer_is_python38_compatible(tmp_path: Path) -> None:
    require(shutil.which("vermin") is not None, "needs vermin (pip install vermin)")
    shipped = tmp_path / "observer_source.py"
    shipped.write_text(observer_source())
    argv = ["vermin", "-t=3.8-", "--no-tips", "--violations", "--eval-annotations",
            *map(str, SHIPPED_FILES), str(shipped)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("isolated", [False, True])
def test_bad_spec_exits_2_with_one_line_under_python38(isolated: bool) -> None:
    require(PYTHON38.exists(), f"needs a Python 3.8 interpreter at {PYTHON38}")
    flags = ["-I", "-S"] if isolated else []
    spec = json.dumps(dict(GOOD, colour="blue"))
    proc = subprocess.run([str(PYTHON38), *flags, "-c", observer_source(), spec], capture_output=True,
                          text=True, check=False)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines() == ["kdiag-observer: error: unknown spec key(s): colour"]


def test_defaults_fill_omitted_keys() -> None:
    spec = parse_spec(json.dumps(GOOD))
    assert spec == {"flow": dict(FLOW, srcPort=None, srcPrefix=32), "interfaces": GOOD["interfaces"],
                    "encapsulations": [], "routes": {}, "peers": [], "window": 2.0, "maxPackets": 200,
                    "snapLength": 256, "node": ""}
    vxlan = parse_spec(json.dumps(dict(GOOD, encapsulations=[{"type": "vxlan"}, {"type": "geneve"},
                                                             {"type": "vxlan", "port": 8472}])))
    assert vxlan["encapsulations"] == [{"type": "vxlan", "port": 4789}, {"type": "geneve", "port": 6081},
                                       {"type": "vxlan", "port": 8472}]


@pytest.mark.parametrize(("change", "complaint"), [
    ({"flow": dict(FLOW, protocol="sctp")}, "spec.flow.protocol"),
    ({"flow": dict(FLOW, src="pod-a")}, "spec.flow.src"),
    ({"flow": {"protocol": "icmp", "src": "10.0.0.1", "dst": "10.0.0.2", "dstPort": 1}}, "no ports"),
    ({"flow": dict(FLOW, dstPort=0)}, "spec.flow.dstPort"),
    ({"interfaces": []}, "spec.interfaces"),
    ({"interfaces": [{"name": "a/b"}]}, "spec.interfaces[0].name"),
    ({"interfaces": [{"name": "eth0", "role": "nic"}]}, "spec.interfaces[0].role"),
    ({"interfaces": [{"name": "eth0"}, {"name": "eth0"}]}, "twice"),
    ({"encapsulations": [{"type": "gre"}]}, "spec.encapsulations[0].type"),
    ({"encapsulations": [{"type": "ipip", "port": 1}]}, "no port"),
    ({"routes": {"request": {"iif": "x" * 16}}}, "spec.routes.request.iif"),
    ({"routes": {"sideways": {}}}, "unknown spec.routes key"),
    ({"window": 0}, "spec.window"),
    ({"window": True}, "spec.window"),
    ({"maxPackets": 0}, "spec.maxPackets"),
    ({"peers": ["node-b"]}, "spec.peers[0]"),
])
def test_bad_spec_is_rejected(change: dict[str, object], complaint: str) -> None:
    with pytest.raises(SpecError, match=re.escape(complaint)):
        parse_spec(json.dumps(dict(GOOD, **change)))


def test_cli_and_decode_imports_do_not_import_scapy() -> None:
    """scapy costs ~1 s: only decoding an observation may import it, and only when it runs."""
    code = ("import sys, kdiag.cli.main, kdiag.cli.trace, kdiag.observer, kdiag.observer.decode, "
            "kdiag.trace.run, kdiag.trace.observe, kdiag.cluster.observers, kdiag.model.capture_hops; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scapy'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert proc.stdout.strip() == "[]"
    # ... and the check can fail: decoding does import it.
    header = "45000014000000004001000" + "0" + "0a000001" + "0a000002"  # IPv4, ICMP, 10.0.0.1 -> .2
    code = ("import sys, base64; from kdiag.observer.decode import decode_record; "
            "decode_record({'interface': 'x', 'direction': 'in', 'timestamp': 0, 'length': 20, "
            f"'data': base64.b64encode(bytes.fromhex('{header}')).decode()}}); "
            "print('scapy' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert proc.stdout.strip() == "True"
