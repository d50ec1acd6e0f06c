"""Benchmark `kdiag pods` / `kdiag pairs` against `kubectl get pods -A -o wide` on 10,000 pods.

    python3 benchmarks/pods_bench.py [--pods 10000] [--nodes 100] [--runs 5] [--lab-dir DIR]

Brings a control-plane-only lab up in a temporary directory (or reuses --lab-dir, where the
objects stay for the next run), creates the nodes and pods once (labelled, so a second run
finds them), then times each command --runs times and prints the median wall time, the ratio to
kubectl measured in the same run, and peak RSS. Also times `kdiag --help`.
Targets (issue 3): ratio <= 1.0, peak RSS <= 200 MB, `kdiag --help` < 0.3 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kdiag.cluster.client import Cluster, ClusterOptions
from kdiag.errors import KdiagError
from kdiag_lab import binaries, lifecycle
from kdiag_lab.paths import LabPaths

BENCH_LABEL = "kdiag.dev/bench"
NAMESPACES = 10


def _cidr(node: int) -> str:
    return f"10.{100 + node // 250}.{node % 250}.0/24"


def _node(i: int) -> dict[str, object]:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": f"bench-{i:03d}", "labels": {BENCH_LABEL: "1"}},
        "spec": {"podCIDR": _cidr(i), "podCIDRs": [_cidr(i)]},
    }


def _pod(i: int, nodes: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    node = i % nodes
    ns = f"bench-{i % NAMESPACES}"
    spec = {
        "nodeName": f"bench-{node:03d}",
        "containers": [{"name": "app", "image": "registry.example/app:1.0",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}]}],
    }
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"app-{i:05d}", "labels": {BENCH_LABEL: "1", "app": f"app-{i % 50}"}},
           "spec": spec}
    ip = f"10.{100 + node // 250}.{node % 250}.{2 + (i // nodes) % 250}"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": f"192.0.2.{node % 250}",
        "startTime": now,
        "conditions": [{"type": t, "status": "True"} for t in ("Initialized", "Ready", "ContainersReady",
                                                             "PodScheduled")],
        "containerStatuses": [{"name": "app", "image": "registry.example/app:1.0", "imageID": "",
                               "ready": True, "started": True, "restartCount": 0,
                               "state": {"running": {"startedAt": now}}}],
    }}
    return ns, pod, status


def populate(cluster: Cluster, pods: int, nodes: int) -> None:
    last_ns, last = f"bench-{(pods - 1) % NAMESPACES}", f"app-{pods - 1:05d}"
    try:  # pods are created in order: the last one existing means an earlier run made them all
        cluster.request("GET", f"/api/v1/namespaces/{last_ns}/pods/{last}", what="get pod")
        print(f"reusing the {pods} bench pods made by an earlier run", file=sys.stderr)
        return
    except KdiagError:
        pass
    started = time.monotonic()
    for i in range(NAMESPACES):
        with contextlib.suppress(KdiagError):  # exists from an earlier run
            namespace = {"metadata": {"name": f"bench-{i}"}}
            cluster.request("POST", "/api/v1/namespaces", body=namespace, what="create namespace")
    with ThreadPoolExecutor(8) as pool:
        nodes_made = pool.map(lambda i: cluster.request("POST", "/api/v1/nodes", body=_node(i), what="node"),
                              range(nodes))
        list(nodes_made)

        def create(i: int) -> None:
            ns, pod, status = _pod(i, nodes)
            cluster.request("POST", f"/api/v1/namespaces/{ns}/pods", body=pod, what="create pod")
            name = f"app-{i:05d}"
            cluster.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                            body=status, content_type="application/merge-patch+json", what="pod status")

        for done, _ in enumerate(pool.map(create, range(pods)), 1):
            if done % 1000 == 0:
                print(f"  created {done}/{pods} pods", file=sys.stderr)
    print(f"created {pods} pods on {nodes} nodes in {time.monotonic() - started:.0f}s", file=sys.stderr)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run, output discarded.

    RSS comes from GNU time: a child forked straight from this (large) process would inherit
    this process's high-water mark in its own ru_maxrss.
    """
    started = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, text=True, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr}")
    return elapsed, int(proc.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lab-dir", type=Path)
    args = parser.parse_args()

    temporary = args.lab_dir is None
    paths = LabPaths(args.lab_dir or Path(tempfile.mkdtemp(prefix="kdiag-bench-")) / "lab")
    state = lifecycle.LabState.load(paths)
    if not (state and state.running()):
        lifecycle.up(paths, datapath="", workers=0, emit=lambda m: print(m, file=sys.stderr), dataplane=False)
    try:
        cluster = Cluster(ClusterOptions(kubeconfig=str(paths.kubeconfig)))
        populate(cluster, args.pods, args.nodes)
        env = dict(os.environ, KUBECONFIG=str(paths.kubeconfig))
        kdiag = [sys.executable, "-m", "kdiag"]
        kubectl = str(binaries.resolve(build=False).kubectl)
        commands = {
            "kubectl get pods -A -o wide": [kubectl, "get", "pods", "-A", "-o", "wide"],
            "kdiag pods -A": [*kdiag, "pods", "-A"],
            "kdiag pods -A -o json": [*kdiag, "pods", "-A", "-o", "json"],
            "kdiag pairs -A": [*kdiag, "pairs", "-A"],
            "kdiag --help": [*kdiag, "--help"],
        }
        results: dict[str, tuple[float, int]] = {}
        for name, argv in commands.items():
            timed(argv, env)  # warm-up: page cache, apiserver watch cache
            runs = [timed(argv, env) for _ in range(args.runs)]
            results[name] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs))
        baseline = results["kubectl get pods -A -o wide"][0]
        print(f"\n{args.pods} pods on {args.nodes} nodes, median of {args.runs} runs")
        print(f"{'command':<30} {'median s':>9} {'vs kubectl':>11} {'peak RSS MB':>12}")
        for name, (seconds, rss) in results.items():
            print(f"{name:<30} {seconds:>9.3f} {seconds / baseline:>10.2f}x {rss / 1024:>12.1f}")
    finally:
        if temporary:
            lifecycle.down(paths, emit=lambda _m: None)
            shutil.rmtree(paths.root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
