"""Benchmark `kdiag trace --observe` on the lab: a healthy cross-node pair, command start to verdict.

    python3 benchmarks/observe_bench.py [--runs N] [--lab-dir DIR]

Uses the lab in --lab-dir (or $KDIAG_TEST_LAB_DIR) when one is up there, else brings a
bridge-vxlan lab up in a temporary directory and takes it down afterwards (needs root).

Each run is the real command (`python3 -m kdiag trace SRC DST --observe -o json`, interpreter
start-up included): two observer pods (one per node) started and capturing before the probe pod,
stopped and read after it, and the captures decoded with scapy. Its JSON splits the time into API
work, observers (start until capturing + stop and read), probe pod start and probing. In the same
run, `kubectl get pod SRC -o wide` is timed as the baseline for the ratio, and the same trace
without --observe for what observing adds. Target: median wall < 3 s (exit 1 if missed).
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

from benchmarks.lab_session import on_lab  # noqa: E402
from kdiag_lab import binaries  # noqa: E402  (needs the repo root on sys.path)
from kdiag_lab.paths import LabPaths  # noqa: E402

SRC, DST = "hello-app-1-675b9f655c-8r76c", "helm-wp-wordpress-57b6df6549-drbbk"  # worker24 -> worker25
TARGET_SECONDS = 3.0


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    return time.monotonic() - began, proc


def bench(paths: LabPaths, runs: int) -> int:
    kubectl = str(binaries.resolve(build=False).kubectl)
    kubeconfig = f"--kubeconfig={paths.kubeconfig}"
    plain_argv = [sys.executable, "-m", "kdiag", "trace", SRC, DST, "-o", "json", kubeconfig]
    observed_argv = [*plain_argv, "--observe"]
    baseline_argv = [kubectl, kubeconfig, "get", "pod", SRC, "-o", "wide"]
    timed(observed_argv)  # warm the page cache and the apiserver's watch cache; not counted
    rows: list[dict[str, Any]] = []
    for _ in range(runs):
        wall, proc = timed(observed_argv)
        if proc.returncode != 0:
            raise SystemExit(f"observed trace failed (exit {proc.returncode}): {proc.stderr.strip()}")
        doc = json.loads(proc.stdout)
        if doc["verdict"]["dropPoint"] is not None:
            raise SystemExit(f"healthy pair with a drop point: {doc['verdict']['dropPoint']}")
        plain, plain_proc = timed(plain_argv)
        base, base_proc = timed(baseline_argv)
        if plain_proc.returncode != 0 or base_proc.returncode != 0:
            raise SystemExit(f"baseline failed: {plain_proc.stderr.strip()} {base_proc.stderr.strip()}")
        rows.append({"wall": wall, "plain": plain, "kubectl": base, **doc["probe"]["durations"]})

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    wall, base = median("wall"), median("kubectl")
    print(f"kdiag trace {SRC} {DST} --observe  ({runs} runs, medians; lab {paths.root})")
    print(f"  command start -> verdict   {wall:6.3f} s   (wall, incl. interpreter start-up and scapy)")
    print(f"    in-process total         {median('total'):6.3f} s")
    print(f"      API work               {median('api'):6.3f} s   (resolve, RBAC, CNI detection, deletes)")
    print(f"      observers              {median('observers'):6.3f} s   (create -> capturing, stop -> read)")
    print(f"      probe pod start        {median('podStart'):6.3f} s")
    print(f"      probing                {median('probe'):6.3f} s")
    print(f"  same trace, no --observe   {median('plain'):6.3f} s")
    print(f"  kubectl get pod SRC -o wide {base:5.3f} s   (baseline, same runs)")
    print(f"  ratio observed / kubectl   {wall / base:6.1f}x")
    walls = [r["wall"] for r in rows]
    print(f"  min/max wall               {min(walls):.3f} / {max(walls):.3f} s")
    ok = wall < TARGET_SECONDS
    print(f"  target < {TARGET_SECONDS:g} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--lab-dir", default=os.environ.get("KDIAG_TEST_LAB_DIR"))
    args = parser.parse_args()
    return on_lab(args.lab_dir, lambda paths: bench(paths, args.runs), prefix="kdiag-observe-bench-")


if __name__ == "__main__":
    sys.exit(main())
