"""Benchmark the probe agent: a full probe set against a healthy and an unreachable target.

    python3 benchmarks/agent_bench.py [--runs N]

Builds the agent tests' namespace topology (tests/agent/topology.py; needs root and iproute2),
serves TCP 8080 on t2 (two routers away, across a 1400-byte link), then runs the shipped form of
the agent (`python3 -I -c <source> <spec>`) N times per engine:

- raw: as root;
- unprivileged: uid/gid 65534 without capabilities (setpriv), ICMP datagram sockets allowed.

Wall time includes interpreter start-up, as in a probe pod. Targets: healthy median < 1 s;
unreachable (nobody answers ARP, default 2 s timeout) median within the spec's budget. Exits 1
if a target is missed. Nothing is added to the root namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kdiag.agent import agent_source  # noqa: E402  (needs the repo root on sys.path)
from tests.agent import topology as topo  # noqa: E402

SOURCE = agent_source()  # exactly what kdiag ships into probe pods
HEALTHY_TARGET_SECONDS = 1.0


def run_once(topology: topo.Topology, engine: str, spec: dict[str, object]) -> tuple[float, dict[str, Any]]:
    if engine == "raw":
        argv = [sys.executable, "-I", "-c", SOURCE, json.dumps(dict(spec, engine="raw"))]
    else:
        spec = dict(spec, engine="unprivileged")
        argv = [*topo.NOBODY, topo.SYSTEM_PYTHON, "-I", "-c", SOURCE, json.dumps(spec)]
    began = time.monotonic()
    proc = subprocess.run(["ip", "netns", "exec", topology.ns("client"), *argv],
                          capture_output=True, text=True, check=False, timeout=120)
    wall = time.monotonic() - began
    if proc.returncode != 0:
        raise SystemExit(f"agent failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return wall, json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per engine and target (default 7)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root to build network namespaces")
    topology = topo.Topology().build()
    server = None
    try:
        server = topology.serve_tcp("t2", 8080)
        cases = [("healthy", {"target": topo.T2, "port": 8080}),
                 ("unreachable", {"target": topo.ABSENT, "port": 8080})]
        missed = False
        print(f"{'engine':<13}{'target':<13}{'wall median':>12}{'agent median':>14}{'budget':>8}  verdict")
        for engine in ("raw", "unprivileged"):
            for name, spec in cases:
                runs = [run_once(topology, engine, spec) for _ in range(args.runs)]
                wall = statistics.median(w for w, _ in runs)
                agent = statistics.median(r["durationSeconds"] for _, r in runs)
                budget = runs[0][1]["budgetSeconds"]
                limit = HEALTHY_TARGET_SECONDS if name == "healthy" else budget
                ok = wall < limit
                missed |= not ok
                print(f"{engine:<13}{name:<13}{wall:>11.3f}s{agent:>13.3f}s{budget:>7.1f}s  "
                      f"{'ok' if ok else 'MISSED'} (target < {limit:.1f}s)")
        return 1 if missed else 0
    finally:
        if server is not None:
            server.kill()
            server.wait()
        topology.destroy()


if __name__ == "__main__":
    sys.exit(main())
