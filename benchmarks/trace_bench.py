"""Benchmark `kdiag trace` on the lab: a healthy same-node pair, command start to verdict.

    python3 benchmarks/trace_bench.py [--runs N] [--lab-dir DIR]

Uses the lab in --lab-dir (or $KDIAG_TEST_LAB_DIR) when one is up there, else brings a
bridge-vxlan lab up in a temporary directory and takes it down afterwards (needs root).

Each run is the real command as a user types it (`python3 -m kdiag trace SRC DST -o json`, interpreter
start-up included); its JSON gives the split between API work (resolve, detect, create/delete),
probe pod start (created -> running) and probing (running -> result read). In the same run,
`kubectl get pod SRC -o wide` is timed as the baseline for the ratio. Targets: median total < 3 s,
and the wall time within 0.2 s of the trace's own Time line (`probe.durations.total`, what the
text view prints as "Time:"): the rest is start-up (interpreter, imports, kubeconfig) and exit.
Exits 1 if the first is missed; the second is reported (start-up is outside the trace's hands).
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

SRC, DST = "hello-app-1-675b9f655c-8r76c", "hello-app-2-787d8656bb-dfl8c"
TARGET_SECONDS = 3.0
TIME_LINE_GAP_SECONDS = 0.2


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    return time.monotonic() - began, proc


def bench(paths: LabPaths, runs: int) -> int:
    kubectl = str(binaries.resolve(build=False).kubectl)
    kubeconfig = f"--kubeconfig={paths.kubeconfig}"
    trace_argv = [sys.executable, "-m", "kdiag", "trace", SRC, DST, "-o", "json", kubeconfig]
    baseline_argv = [kubectl, kubeconfig, "get", "pod", SRC, "-o", "wide"]
    timed(trace_argv)  # warm the page cache and the apiserver's watch cache; not counted
    rows: list[dict[str, Any]] = []
    for _ in range(runs):
        wall, proc = timed(trace_argv)
        if proc.returncode != 0:
            raise SystemExit(f"trace failed (exit {proc.returncode}): {proc.stderr.strip()}")
        durations = json.loads(proc.stdout)["probe"]["durations"]
        base, base_proc = timed(baseline_argv)
        if base_proc.returncode != 0:
            raise SystemExit(f"kubectl failed: {base_proc.stderr.strip()}")
        rows.append({"wall": wall, "kubectl": base, "gap": wall - durations["total"], **durations})

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    wall, base = median("wall"), median("kubectl")
    print(f"kdiag trace {SRC} {DST}  ({runs} runs, medians; lab {paths.root})")
    print(f"  command start -> verdict   {wall:6.3f} s   (wall, incl. interpreter start-up)")
    print(f"    in-process total         {median('total'):6.3f} s")
    print(f"      API work               {median('api'):6.3f} s   (resolve, RBAC check, CNI detection, "
          "create/delete)")
    print(f"      probe pod start        {median('podStart'):6.3f} s   (created -> container running)")
    print(f"      probing                {median('probe'):6.3f} s   (agent run + log read)")
    print(f"  kubectl get pod SRC -o wide {base:5.3f} s   (baseline, same runs)")
    print(f"  ratio trace / kubectl      {wall / base:6.1f}x")
    walls = [r["wall"] for r in rows]
    print(f"  min/max wall               {min(walls):.3f} / {max(walls):.3f} s")
    gap = median("gap")
    gaps = [r["gap"] for r in rows]
    print(f"  wall - Time line           {gap:6.3f} s   (min/max {min(gaps):.3f} / {max(gaps):.3f}; "
          "start-up, exit, anything the Time line leaves out)")
    print(f"  target wall - Time line <= {TIME_LINE_GAP_SECONDS:g} s: "
          f"{'met' if gap <= TIME_LINE_GAP_SECONDS else 'MISSED'}")
    ok = wall < TARGET_SECONDS
    print(f"  target < {TARGET_SECONDS:g} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--lab-dir", default=os.environ.get("KDIAG_TEST_LAB_DIR"))
    args = parser.parse_args()
    return on_lab(args.lab_dir, lambda paths: bench(paths, args.runs), prefix="kdiag-trace-bench-")


if __name__ == "__main__":
    sys.exit(main())
